"""The ``imip-gateway`` command line: global options and subcommand dispatch.

Exit status: 0 on success, 1 on a failure the message explains, 2 on a usage
error (argparse's own convention for a malformed argument).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.errors import GatewayError

# Command modules under gateway.commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "serve",
    "check_config",
    "keys",
    "upn",
    "queue",
    "quarantine",
    "smtp_user",
    "sweep",
    "inspect",
    "otp",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imip-gateway",
        description="iMIP gateway that invites attendees without an account "
        "and gives them a dynamic UPN (draft-royer-calsch-dynamic-upn-02).",
    )
    parser.add_argument(
        "-c",
        "--config",
        default="gateway.ini",
        help="settings file (default: ./gateway.ini; a missing default file means built-in defaults)",
    )
    parser.add_argument("--version", action="version", version=f"imip-gateway {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"gateway.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except GatewayError as error:
        print(f"imip-gateway: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
