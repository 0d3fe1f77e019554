"""``imip-gateway upn list|show|revoke|refresh``: dynamic UPNs as an operator sees them."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from gateway.accounts import normalize_address
from gateway.commands.common import iso_time, open_cli_store, print_json, print_table
from gateway.errors import GatewayError, NotFound
from gateway.logs import configure, event, get_logger
from gateway.upn_state import revoke_upn
from store.upns import UPN_STATES

log = get_logger("upn")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("upn", help="list, show, revoke or refresh dynamic UPNs")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list dynamic UPNs")
    listing.add_argument("--state", choices=UPN_STATES, help="only UPNs in this state")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="show one UPN with its events and history")
    show.add_argument("address")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=run_show)
    revoke = actions.add_parser("revoke", help="revoke a UPN: every authentication path fails from now on")
    revoke.add_argument("address")
    revoke.add_argument("--reason", default="revoked by operator", help="reason recorded in the audit log")
    revoke.set_defaults(handler=run_revoke)
    refresh = actions.add_parser("refresh", help="send a new OTPKEY; the old one stops working at once")
    refresh.add_argument("address")
    refresh.set_defaults(handler=run_refresh)


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """The public view of a UPN row: no hashes, no verifier state beyond the challenge position."""
    return {
        "address": row["address"],
        "state": row["state"],
        "created": iso_time(row["created"]),
        "activated": iso_time(row["activated"]),
        "method": row["method"],
        "revoked": iso_time(row["revoked"]),
        "reason": row["reason"],
        "organizer": row["organizer"],
        "key_kind": row["key_kind"],
        "key_fingerprint": row["key_fingerprint"],
        "otp_sequence": row["otp_sequence"],
    }


def run_list(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    rows = [describe(row) for row in store.list_upns(args.state)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ("address", "state", "created", "activated", "method"), "no dynamic UPNs")
    return 0


def run_show(args: argparse.Namespace) -> int:
    _, store = open_cli_store(args.config)
    address = normalize_address(args.address)
    row = store.get_upn(address)
    if row is None:
        raise NotFound(f"no dynamic UPN {address}; see upn list")
    data = describe(row)
    data["events"] = [
        {"uid": e["uid"], "recurrence_id": e["recurrence_id"] or None, "sequence": e["sequence"],
         "partstat": e["partstat"], "cancelled": iso_time(e["cancelled"])}
        for e in store.upn_events(address)
    ]
    data["history"] = [
        {"at": iso_time(a["at"]), "event": a["event"], "outcome": a["outcome"], "reason": a["reason"]}
        for a in reversed(store.audit_entries(upn=address, limit=50))
    ]
    if args.json:
        print_json(data)
        return 0
    for key in ("address", "state", "created", "activated", "method", "revoked", "reason", "organizer",
                "key_kind", "key_fingerprint", "otp_sequence"):
        print(f"{key + ':':17} {'' if data[key] is None else data[key]}")
    print("events:")
    for item in data["events"]:
        print(f"  {item['uid']} {item['recurrence_id'] or ''} sequence={item['sequence']} "
              f"partstat={item['partstat']} cancelled={item['cancelled'] or 'no'}")
    print("history:")
    for item in data["history"]:
        print(f"  {item['at']} {item['event']} {item['outcome']} {item['reason'] or ''}".rstrip())
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    settings, store = open_cli_store(args.config)
    configure(settings.gateway.log_format, settings.gateway.log_level)
    address = normalize_address(args.address)
    row = store.get_upn(address)
    if row is None:
        raise NotFound(f"no dynamic UPN {address}; see upn list")
    if row["state"] == "revoked":
        raise GatewayError(f"dynamic UPN {address} is already revoked")
    revoke_upn(store, address, args.reason)
    event(log, logging.INFO, "revoked", upn=address, reason=args.reason)
    print(f"{address} revoked")
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    from gateway.invitations import refresh_from_cli

    return refresh_from_cli(args)
