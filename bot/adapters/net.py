"""Network address and key checks shared by the mode guard, the price sources and the local exchange."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1; nothing that resolves elsewhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_problem(name: str, value: str) -> str | None:
    """Why an API key or secret cannot go into an HTTP header (a space or newline pasted with it), or None. Never
    quotes the value: it may be a secret."""
    if all(33 <= ord(ch) <= 126 for ch in value):
        return None
    where = next(i for i, ch in enumerate(value) if not 33 <= ord(ch) <= 126) + 1
    return (f"{name} contains whitespace, a control character or a non-ASCII character (at character {where}; "
            "pasted with a space or a newline?); nothing was sent")
