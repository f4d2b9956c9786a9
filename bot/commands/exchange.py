"""`pairbot exchange serve ...`: the local Alpaca-compatible paper exchange as a standalone server."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve"], help="serve: run the exchange until interrupted")
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="[--port N] [--host 127.0.0.1] [--state FILE] [--prices DIR|synthetic] "
                             "[--clock MODE] [--schema today|legacy|drift] [--faults FILE] [--cash N] [--reset]")


def run(args: argparse.Namespace) -> int:
    from bot.adapters.exchange.serve import serve_main

    return serve_main(list(args.options))
