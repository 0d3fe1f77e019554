"""``imip-gateway sweep``: revoke dynamic UPNs that have been idle for longer than ``[lifecycle] grace``."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from gateway.commands.common import open_cli_store, print_json
from gateway.lifecycle import SweepAction, sweep
from gateway.logs import configure


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="revoke dynamic UPNs with no current or future event once [lifecycle] grace has passed "
        "(only under [lifecycle] policy = expire)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be revoked and change nothing")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args.config)
    configure(settings.gateway.log_format, settings.gateway.log_level)
    actions = sweep(settings, store, datetime.now(timezone.utc), dry_run=args.dry_run)
    if args.json:
        print_json([action.as_dict() for action in actions])
    elif settings.lifecycle.policy != "expire":
        print(f"[lifecycle] policy is {settings.lifecycle.policy}: no dynamic UPN is revoked")
    else:
        _print_actions(actions, args.dry_run)
    return 0


def _print_actions(actions: list[SweepAction], dry_run: bool) -> None:
    verb = "would revoke" if dry_run else "revoked"
    for action in actions:
        print(f"{verb} {action.address} ({action.state}): {action.reason}")
    if not actions:
        print("no dynamic UPN has expired")
    elif dry_run:
        print(f"{len(actions)} dynamic UPN(s) would be revoked; run without --dry-run to revoke them")
    else:
        print(f"{len(actions)} dynamic UPN(s) revoked")
