"""The inspect command as a user runs it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gateway.commands import inspect

MAIL = Path(__file__).parent / "data" / "mail"


def run(capsys, *arguments: str, config: str | None = None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", default=config)
    subparsers = parser.add_subparsers(dest="command")
    inspect.register(subparsers)
    args = parser.parse_args(["inspect", *arguments])
    status = args.handler(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_inspect_json(capsys, tmp_path):
    status, out, _ = run(capsys, str(MAIL / "google-request-mixed-with-ics-copy.eml"), "--json", config=str(tmp_path / "none.ini"))
    report = json.loads(out)
    assert status == 0
    assert report["method"] == "REQUEST"
    assert report["from"] == "doug@example.com"
    assert report["message_id"] == "<0000000000001a2b3c@google.com>"
    assert report["signature"] == {"status": "none", "protocol": None, "signer": None, "reason": None}
    assert report["encrypted"] is False
    assert report["problems"] == []
    assert len(report["objects"]) == 1
    assert report["objects"][0]["attendees"][0] == {
        "address": "guest@remote.example", "invite": True, "partstat": "NEEDS-ACTION", "cn": "guest@remote.example",
    }


def test_inspect_plain(capsys):
    status, out, _ = run(capsys, str(MAIL / "reply-without-organizer.eml"))
    assert status == 0
    assert "Method:     REPLY" in out
    assert "has no ORGANIZER" in out


def test_inspect_signed_shape(capsys):
    _, out, _ = run(capsys, str(MAIL / "smime-signed-reply.eml"), "--json")
    signature = json.loads(out)["signature"]
    assert signature["status"] == "none"
    assert signature["protocol"] == "application/pkcs7-signature"


def test_inspect_signature_hook(capsys):
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    inspect.register(subparsers)
    args = parser.parse_args(["inspect", str(MAIL / "smime-signed-reply.eml"), "--json"])
    verdict = inspect.SignatureReport("valid", "application/pkcs7-signature", "guest@remote.example", None)
    assert inspect.run(args, check_signature=lambda raw: verdict) == 0
    assert json.loads(capsys.readouterr().out)["signature"]["signer"] == "guest@remote.example"


def test_inspect_missing_file(capsys, tmp_path):
    status, _, err = run(capsys, str(tmp_path / "absent.eml"))
    assert status == 1
    assert "cannot read" in err


def test_inspect_limit_exceeded(capsys, tmp_path):
    config = tmp_path / "gateway.ini"
    config.write_text("[limits]\nmime_parts = 2\n")
    status, _, err = run(capsys, str(MAIL / "deeply-nested-vtodo-request.eml"), config=str(config))
    assert status == 1
    assert "mime_parts = 2" in err
