"""``imip-gateway inspect MESSAGE [--json]``: show what the gateway reads in a mail file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gateway.errors import ConfigError
from gateway.settings import Settings
from gateway.settings_file import DEFAULT_CONFIG, load_for_cli
from mime import Limits, MimeError, ParsedMessage, find_signed_entity, read_message
from mime.model import Attendee, CalendarObject

# Limits apply even when the settings cannot be loaded, so that inspecting
# a hostile file stays bounded.
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SignatureReport:
    """The signature verdict shown by inspect: status none, valid or invalid."""

    status: str = "none"
    protocol: str | None = None
    signer: str | None = None
    reason: str | None = None


# Computes the signature verdict of a raw message; the crypto layer plugs in here.
SignatureChecker = Callable[[bytes], SignatureReport]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show what the gateway reads in a mail file",
        description="Show the METHOD, objects, UIDs, ORGANIZER, ATTENDEEs with their INVITE flags, "
        "signature and encryption status, and the problems found in a mail file.",
    )
    parser.add_argument("message", metavar="MESSAGE", help="file holding one mail in RFC 5322 form")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, check_signature: SignatureChecker | None = None) -> int:
    """Print the report for ``args.message``; return 1 when the file cannot be read."""
    try:
        with open(args.message, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        print(f"imip-gateway: cannot read {args.message}: {error.strerror or error}", file=sys.stderr)
        return 1

    settings = load_settings(getattr(args, "config", None))
    limits = settings.mime_limits if settings is not None else DEFAULT_LIMITS
    try:
        parsed = read_message(raw, limits)
        if check_signature is None:
            parsed, signature = open_with_gateway_keys(raw, parsed, settings, limits)
        else:
            signature = check_signature(raw)
    except MimeError as error:
        print(f"imip-gateway: {args.message} is unreadable: {error}", file=sys.stderr)
        return 1

    report = build_report(parsed, signature)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def load_settings(config: str | None) -> Settings | None:
    """Read the settings; on an error warn and return None, so inspect still runs with default limits."""
    try:
        return load_for_cli(config or DEFAULT_CONFIG)
    except ConfigError as error:
        print(f"imip-gateway: {error}; using the default limits and no gateway keys", file=sys.stderr)
        return None


def open_with_gateway_keys(
    raw: bytes, parsed: ParsedMessage, settings: Settings | None, limits: Limits
) -> tuple[ParsedMessage, SignatureReport]:
    """Decrypt mail addressed to the gateway and verify its signature with the gateway's keystore.

    Without a gateway database (nothing set up yet) the signature is only
    described, not checked, so inspecting a file creates no state.
    """
    from gateway.keyring import Keyring
    from store.db import open_store

    if settings is None:
        return parsed, unchecked_signature(raw)
    if not settings.database_path.exists():
        return parsed, unchecked_signature(raw, "no gateway database under state_dir")
    if not parsed.encrypted and find_signed_entity(raw, limits) is None:
        return parsed, SignatureReport()

    store = open_store(settings.database_path)
    try:
        opened = Keyring(settings, store).open(raw, parsed.from_address or "")
    finally:
        store.close()
    if opened.decrypted or opened.signed_only:
        inner = read_message(opened.content, limits)
        parsed = replace(inner, message_id=parsed.message_id, from_address=parsed.from_address,
                         from_addresses=parsed.from_addresses, encrypted=parsed.encrypted,
                         problems=parsed.problems + tuple(p for p in inner.problems if "From address" not in p))
    verdict = opened.verdict
    reason = None
    if verdict.reason is not None:
        reason = f"{verdict.reason}: {verdict.detail}" if verdict.detail else str(verdict.reason)
    return parsed, SignatureReport(verdict.status, verdict.protocol, verdict.signer, reason)


def unchecked_signature(raw: bytes, why: str = "the signature was not checked") -> SignatureReport:
    """Report the signature shape without verifying it, for use before crypto is wired in."""
    entity = find_signed_entity(raw)
    if entity is None:
        return SignatureReport()
    return SignatureReport(protocol=entity.protocol, reason=f"signed, but {why}")


def build_report(parsed: ParsedMessage, signature: SignatureReport) -> dict[str, Any]:
    return {
        "message_id": parsed.message_id,
        "from": parsed.from_address,
        "method": parsed.method,
        "objects": [_object_report(item) for item in parsed.objects],
        "signature": {
            "status": signature.status,
            "protocol": signature.protocol,
            "signer": signature.signer,
            "reason": signature.reason,
        },
        "encrypted": parsed.encrypted,
        "problems": list(parsed.problems),
    }


def _object_report(item: CalendarObject) -> dict[str, Any]:
    return {
        "component": item.component,
        "uid": item.uid,
        "sequence": item.sequence,
        "recurrence_id": item.recurrence_id,
        "organizer": item.organizer.address.address if item.organizer else None,
        "attendees": [_attendee_report(attendee) for attendee in item.attendees],
    }


def _attendee_report(attendee: Attendee) -> dict[str, Any]:
    return {
        "address": attendee.address.address,
        "invite": attendee.invite,
        "partstat": attendee.partstat,
        "cn": attendee.cn,
    }


def format_report(report: dict[str, Any]) -> str:
    """Write the report as indented text for a person."""
    signature = report["signature"]
    lines = [
        f"Message-ID: {report['message_id'] or '(none)'}",
        f"From:       {report['from'] or '(none or several)'}",
        f"Method:     {report['method'] or '(no calendar)'}",
        f"Encrypted:  {'yes' if report['encrypted'] else 'no'}",
        f"Signature:  {_describe_signature(signature)}",
    ]
    for item in report["objects"]:
        lines.append("")
        lines += _format_object(item)
    lines.append("")
    lines.append("Problems:" if report["problems"] else "Problems:   none")
    lines += [f"  - {problem}" for problem in report["problems"]]
    return "\n".join(lines)


def _describe_signature(signature: dict[str, Any]) -> str:
    parts = [signature["status"]]
    for key in ("protocol", "signer", "reason"):
        if signature[key]:
            parts.append(f"{key} {signature[key]}")
    return ", ".join(parts)


def _format_object(item: dict[str, Any]) -> list[str]:
    recurrence = f" (recurrence {item['recurrence_id']})" if item["recurrence_id"] else ""
    sequence = item["sequence"] if item["sequence"] is not None else "-"
    lines = [
        f"{item['component']} {item['uid']}{recurrence}, sequence {sequence}",
        f"  organizer: {item['organizer'] or '(none)'}",
    ]
    for attendee in item["attendees"]:
        name = f" ({attendee['cn']})" if attendee["cn"] else ""
        flag = ", INVITE" if attendee["invite"] else ""
        lines.append(f"  attendee:  {attendee['address']}{name}, {attendee['partstat'] or 'no PARTSTAT'}{flag}")
    return lines
