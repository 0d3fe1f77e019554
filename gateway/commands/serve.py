"""``imip-gateway serve``: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio

from gateway.logs import configure
from gateway.service import Service
from gateway.settings_file import load_for_cli


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the SMTP listener, pipeline, delivery and HTTP side")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_for_cli(args.config)
    configure(settings.gateway.log_format, settings.gateway.log_level)
    asyncio.run(Service(settings).run_until_signal())
    return 0
