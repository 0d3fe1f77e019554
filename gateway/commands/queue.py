"""``imip-gateway queue list|retry|drop``: the outbox as an operator sees it."""

from __future__ import annotations

import argparse
import json

from gateway.commands.common import iso_time, open_cli_store, print_json, print_table
from gateway.errors import NotFound


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("queue", help="list, retry or drop mail waiting for delivery")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list queued mail")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    for name, handler, text in (("retry", run_retry, "try delivery again now"), ("drop", run_drop, "delete without delivering")):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="outbox id from queue list")
        action.set_defaults(handler=handler)


def run_list(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    rows = []
    for row in store.outbox_list():
        rows.append({
            "id": row["id"], "kind": row["kind"], "mail_from": row["mail_from"],
            "rcpt_tos": json.loads(row["rcpt_tos"]), "size": row["size"], "attempts": row["attempts"],
            "created": iso_time(row["created"]), "next_attempt": iso_time(row["next_attempt"]),
            "expires": iso_time(row["expires"]), "last_error": row["last_error"],
        })
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            row["rcpt_tos"] = ",".join(row["rcpt_tos"])
            row["mail_from"] = row["mail_from"] or "<>"
        print_table(rows, ("id", "kind", "mail_from", "rcpt_tos", "attempts", "next_attempt", "last_error"),
                    "the queue is empty")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    if not store.retry_now(args.id):
        raise NotFound(f"no queued mail with id {args.id}; see queue list")
    print(f"{args.id} will be retried at the next delivery round")
    return 0


def run_drop(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    if not store.drop_outbox(args.id):
        raise NotFound(f"no queued mail with id {args.id}; see queue list")
    store.audit("queue", "dropped", "operator", queue_id=args.id)
    print(f"{args.id} dropped")
    return 0
