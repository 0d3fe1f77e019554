"""``imip-gateway check-config``: validate settings, print them, warn about insecure ones."""

from __future__ import annotations

import argparse
import sys

from gateway.config_warnings import insecure_combinations
from gateway.errors import ConfigError
from gateway.settings import effective_items
from gateway.settings_file import load_for_cli


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="validate gateway.ini, print the effective settings and warn about insecure ones",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_for_cli(args.config)
    except ConfigError as error:
        print(f"imip-gateway: {error}", file=sys.stderr)
        return 1

    print(f"# effective settings from {settings.source}")
    section = None
    for name, key, value in effective_items(settings):
        if name != section:
            print(f"\n[{name}]")
            section = name
        print(f"{key} = {value}")

    for warning in insecure_combinations(settings):
        print(f"warning: {warning}", file=sys.stderr)
    return 0
