"""``imip-gateway quarantine list|show|release|drop``: messages held for an operator."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.commands.common import iso_time, open_cli_store, print_json, print_table
from gateway.errors import NotFound
from mime import MimeError, remove_verdict_headers, strip_pw


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("quarantine", help="list, show, release or drop quarantined messages")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list quarantined messages")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    for name, handler, text in (
        ("show", run_show, "print the message as received"),
        ("release", run_release, "queue the message for delivery, without any PW or verdict header"),
        ("drop", run_drop, "delete the message"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="quarantine id from quarantine list")
        action.set_defaults(handler=handler)


def run_list(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    rows = [
        {"id": row["id"], "created": iso_time(row["created"]), "reason": row["reason"], "peer": row["peer"],
         "mail_from": row["mail_from"], "rcpt_tos": json.loads(row["rcpt_tos"] or "[]"), "size": row["size"],
         "queue_id": row["spool_id"]}
        for row in store.quarantine_list()
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ("id", "created", "mail_from", "reason"), "the quarantine is empty")
    return 0


def run_show(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    entry = store.quarantine_get(args.id)
    if entry is None:
        raise NotFound(f"no quarantined message with id {args.id}; see quarantine list")
    print(f"# reason: {entry['reason']}", file=sys.stderr)
    sys.stdout.buffer.write(bytes(entry["raw"]))
    return 0


def run_release(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args.config)
    entry = store.quarantine_get(args.id)
    if entry is None:
        raise NotFound(f"no quarantined message with id {args.id}; see quarantine list")
    rcpt_tos = json.loads(entry["rcpt_tos"] or "[]")
    if not rcpt_tos:
        raise NotFound(f"quarantined message {args.id} has no recipients to release it to; drop it instead")
    raw = releasable(bytes(entry["raw"]))
    with store.transaction(durable=True):
        outbox_id = store.enqueue(
            mail_from=entry["mail_from"] or "", rcpt_tos=rcpt_tos, raw=raw,
            lifetime=settings.relay.max_queue_lifetime, kind="released", spool_id=entry["spool_id"],
        )
        store.quarantine_drop(args.id)
        store.audit("quarantine", "released", "operator", queue_id=entry["spool_id"])
    print(f"{args.id} released as outbox entry {outbox_id}")
    return 0


def releasable(raw: bytes) -> bytes:
    """Return the message as released, without a sender-set verdict header or a PW, which are never relayed."""
    raw = remove_verdict_headers(raw)
    try:
        return strip_pw(raw)
    except MimeError:
        # A calendar that cannot be rewritten carries nothing the gateway can remove.
        return raw


def run_drop(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    if not store.quarantine_drop(args.id):
        raise NotFound(f"no quarantined message with id {args.id}; see quarantine list")
    store.audit("quarantine", "dropped", "operator", queue_id=args.id)
    print(f"{args.id} dropped")
    return 0
