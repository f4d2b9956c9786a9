"""Figures as a person reads them, shared by the research page and the commands (no heavy imports here)."""

from __future__ import annotations


def shown(x: float, spec: str) -> str:
    """format(x, spec), a -0.0 (a small negative rounded away) shown as +0.0 (0.0 without '+' in spec)."""
    text = format(x, spec)
    if text.lstrip().startswith("-") and not any(c in "123456789" for c in text):
        text = text.replace("-", "+" if "+" in spec else "", 1)
    return text
