"""The whole path through real Postfix and Dovecot, with the gateway running in-process.

Outbound, the gateway relays a REQUEST and sends the INVITATION through
Postfix (its smarthost) into the attendee's Dovecot mailbox. Inbound, the
attendee mails a signed REPLY through Postfix into the gateway's Dovecot
mailbox, the gateway polls it over IMAP, activates the dynamic UPN and
relays the REPLY through Postfix into the organizer's mailbox.

Postfix and Dovecot are shared by the whole test session, so every check on
a mailbox looks only at the messages that arrived after the test began.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re
import smtplib
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.keyring import own_smime_paths
from gateway.service import Service
from gateway.settings import Settings, load
from tests.conftest import require_tool, run_cli
from tests.harness import settings_environ, wait_for
from tests.servers.fixtures import MailServers

pytestmark = pytest.mark.postfix

ORGANIZER = "organizer@example.com"
ATTENDEE = "attendee@remote.example"
GATEWAY_MAILBOX = "gateway@gateway.example"
PROCESSED = "Processed"
TARGET = "cap://cal.example.com"
# Bound in seconds on each wait for a mail or a state change.
WAIT_SECONDS = 30.0


@dataclass
class Gateway:
    settings: Settings
    service: Service
    work: Path
    attendee_cert: Path
    attendee_key: Path

    @property
    def smtp_port(self) -> int:
        return self.settings.smtp.listen[0].port


def make_attendee_identity(folder: Path) -> tuple[Path, Path]:
    """Make a self-signed S/MIME certificate and key for ATTENDEE with the openssl command line."""
    cert, key = folder / "attendee-cert.pem", folder / "attendee-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Attendee",
         "-addext", f"subjectAltName=email:{ATTENDEE}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
         "-addext", "extendedKeyUsage=emailProtection",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
async def gateway(tmp_path: Path, postfix_dovecot: MailServers) -> AsyncIterator[Gateway]:
    """Start a gateway that relays through the test Postfix and polls the gateway's Dovecot mailbox."""
    require_tool("openssl")
    work = tmp_path / "work"
    work.mkdir()
    password_file = work / "imap-password"
    password_file.write_text(postfix_dovecot.users[GATEWAY_MAILBOX] + "\n")
    environ = settings_environ(
        tmp_path / "state",
        relay_smarthost=f"127.0.0.1:{postfix_dovecot.smtp_port}",
        relay_starttls="none",
        calendar_target=TARGET,
        invitation_from="calendar@example.com",
        imap_enabled="true",
        imap_host="127.0.0.1",
        imap_port=str(postfix_dovecot.imap_port),
        imap_tls="none",
        imap_username=GATEWAY_MAILBOX,
        imap_password_file=str(password_file),
        imap_mailbox="INBOX",
        imap_processed_mailbox=PROCESSED,
    )
    cert, key = make_attendee_identity(work)
    imported = run_cli("keys", "import", str(cert), env=environ, cwd=work)
    assert imported.returncode == 0, imported.stderr

    settings = load(None, environ=environ)
    service = Service(settings)
    await service.start()
    try:
        yield Gateway(settings, service, work, cert, key)
    finally:
        await service.stop()
        service.store.close()


def send_mail(port: int, mail_from: str, rcpt_tos: list[str], data: bytes) -> int:
    """Send one message over SMTP to 127.0.0.1 and return the reply code to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=WAIT_SECONDS) as client:
        client.ehlo("client.test")
        client.mail(mail_from)
        for rcpt in rcpt_tos:
            client.rcpt(rcpt)
        code, _ = client.data(data)
    return code


def request_mail(event_uid: str) -> bytes:
    return (
        f"From: Olga Organizer <{ORGANIZER}>\r\nTo: {ATTENDEE}\r\nSubject: Budget review\r\n"
        f"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <request-{event_uid}>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/calendar; charset="UTF-8"; method=REQUEST\r\n\r\n'
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Calendar//EN\r\nMETHOD:REQUEST\r\n"
        f"BEGIN:VEVENT\r\nUID:{event_uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261204T100000Z\r\n"
        "DTSTART:20261210T150000Z\r\nDTEND:20261210T160000Z\r\nSUMMARY:Budget review\r\n"
        f"ORGANIZER;CN=Olga Organizer:mailto:{ORGANIZER}\r\n"
        f"ATTENDEE;RSVP=TRUE;INVITE=TRUE:mailto:{ATTENDEE}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def signed_reply_mail(gateway: Gateway, event_uid: str) -> bytes:
    """Build a multipart/signed REPLY from ATTENDEE, signed with ``openssl cms -sign`` as a mail client would."""
    entity = (
        "Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\r\n"
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Attendee//Client//EN\r\nMETHOD:REPLY\r\n"
        f"BEGIN:VEVENT\r\nUID:{event_uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261205T090000Z\r\n"
        f"ORGANIZER:mailto:{ORGANIZER}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{ATTENDEE}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    entity_path, signature_path = gateway.work / "reply-entity", gateway.work / "reply-signature.der"
    entity_path.write_bytes(entity)
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-in", str(entity_path), "-signer", str(gateway.attendee_cert),
         "-inkey", str(gateway.attendee_key), "-outform", "DER", "-out", str(signature_path)],
        check=True, capture_output=True, timeout=60,
    )
    signature = base64.encodebytes(signature_path.read_bytes()).replace(b"\n", b"\r\n")
    # With Date and Message-ID present, Postfix's cleanup adds no field to this header block,
    # so every copy that arrives ends with these exact bytes.
    headers = (
        f"From: {ATTENDEE}\r\nTo: {ORGANIZER}\r\nSubject: Accepted: Budget review\r\n"
        f"Date: Sat, 05 Dec 2026 09:00:00 +0000\r\nMessage-ID: <reply-{event_uid}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
        'boundary="reply-boundary"\r\n\r\n'
    ).encode()
    return (
        headers + b"--reply-boundary\r\n" + entity + b"\r\n--reply-boundary\r\n"
        + b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n" + signature + b"--reply-boundary--\r\n"
    )


async def new_messages(servers: MailServers, address: str, seen: int, count: int,
                       mailbox: str = "INBOX") -> list[bytes]:
    """Wait until ``count`` messages beyond the first ``seen`` are in a mailbox, and return those new ones."""
    messages = await asyncio.to_thread(servers.wait_for_messages, address, seen + count, mailbox, WAIT_SECONDS)
    return messages[seen:]


async def message_count(servers: MailServers, address: str, mailbox: str = "INBOX") -> int:
    return len(await asyncio.to_thread(servers.fetch_all, address, mailbox))


def run_openssl(*arguments: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *arguments], capture_output=True, timeout=60)


def open_invitation(gateway: Gateway, delivered: bytes) -> dict[str, str]:
    """Decrypt the INVITATION with the attendee's key, verify the gateway's signature and return its properties."""
    encrypted_path, decrypted_path = gateway.work / "invitation.eml", gateway.work / "invitation-signed.eml"
    encrypted_path.write_bytes(delivered)
    decrypted = run_openssl("cms", "-decrypt", "-in", str(encrypted_path), "-recip", str(gateway.attendee_cert),
                            "-inkey", str(gateway.attendee_key), "-out", str(decrypted_path))
    assert decrypted.returncode == 0, decrypted.stderr

    gateway_cert, _ = own_smime_paths(gateway.settings)
    verified = run_openssl("cms", "-verify", "-in", str(decrypted_path), "-CAfile", str(gateway_cert),
                           "-purpose", "any")
    assert verified.returncode == 0, verified.stderr

    inner = email.message_from_bytes(verified.stdout, policy=email.policy.default)
    calendars = [part for part in inner.walk() if part.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    assert calendars[0].get_param("component") == "INVITATION"
    unfolded = re.sub(r"\r?\n[ \t]", "", calendars[0].get_content())
    properties = {}
    for line in unfolded.splitlines():
        name, _, value = line.partition(":")
        properties[name.split(";")[0]] = value
    return properties


async def send_request(gateway: Gateway, servers: MailServers, event_uid: str) -> tuple[bytes, bytes]:
    """Send the REQUEST to the gateway and return the relayed REQUEST and the INVITATION from ATTENDEE's INBOX."""
    seen = await message_count(servers, ATTENDEE)
    code = await asyncio.to_thread(send_mail, gateway.smtp_port, ORGANIZER, [ATTENDEE], request_mail(event_uid))
    assert code == 250

    arrived = await new_messages(servers, ATTENDEE, seen, 2)
    relayed = [m for m in arrived if b"METHOD:REQUEST" in m]
    invitations = [m for m in arrived if b"application/pkcs7-mime" in m]
    assert len(relayed) == 1
    assert len(invitations) == 1
    return relayed[0], invitations[0]


async def test_request_reaches_attendee_mailbox(gateway: Gateway, postfix_dovecot: MailServers) -> None:
    event_uid = f"{uuid.uuid4()}@example.com"

    relayed, invitation = await send_request(gateway, postfix_dovecot, event_uid)

    # dovecot-lda writes the envelope sender as Return-Path, and Postfix's pipe transport (flag D) adds Delivered-To.
    assert relayed.startswith(f"Return-Path: <{ORGANIZER}>\r\n".encode())
    assert f"Delivered-To: {ATTENDEE}\r\n".encode() in relayed
    assert f"UID:{event_uid}\r\n".encode() in relayed
    assert f"ATTENDEE;RSVP=TRUE:mailto:{ATTENDEE}\r\n".encode() in relayed
    assert b"INVITE" not in relayed
    assert re.search(rb"\r\nCHALLENGE:otp-md5 498 [a-z0-9]+\r\n", relayed)

    assert f"Delivered-To: {ATTENDEE}\r\n".encode() in invitation
    assert b"OTPKEY" not in invitation
    properties = open_invitation(gateway, invitation)
    assert properties["TARGET"] == TARGET
    assert properties["ORGANIZER"] == f"mailto:{ORGANIZER}"
    assert properties["ATTENDEE"] == f"mailto:{ATTENDEE}"
    assert re.fullmatch(r"md5-[0-9a-f]{32}", properties["OTPKEY"])

    row = gateway.service.store.get_upn(ATTENDEE)
    assert row["state"] == "invited"
    assert row["key_kind"] == "smime"
    assert [event["uid"] for event in gateway.service.store.upn_events(ATTENDEE)] == [event_uid]


async def test_signed_reply_polled_activates_upn(gateway: Gateway, postfix_dovecot: MailServers) -> None:
    event_uid = f"{uuid.uuid4()}@example.com"
    await send_request(gateway, postfix_dovecot, event_uid)
    store = gateway.service.store
    assert store.get_upn(ATTENDEE)["state"] == "invited"
    processed_seen = await message_count(postfix_dovecot, GATEWAY_MAILBOX, PROCESSED)
    organizer_seen = await message_count(postfix_dovecot, ORGANIZER)

    # To names the organizer, but the envelope sends the REPLY to the gateway's mailbox.
    reply = signed_reply_mail(gateway, event_uid)
    code = await asyncio.to_thread(send_mail, postfix_dovecot.smtp_port, ATTENDEE, [GATEWAY_MAILBOX], reply)
    assert code == 250

    row = await wait_for(
        lambda: (upn := store.get_upn(ATTENDEE)) and upn["state"] == "active" and upn, timeout=WAIT_SECONDS
    )
    assert row["method"] == "signed-reply"
    assert [event["partstat"] for event in store.upn_events(ATTENDEE)] == ["ACCEPTED"]

    processed = await new_messages(postfix_dovecot, GATEWAY_MAILBOX, processed_seen, 1, PROCESSED)
    assert len(processed) == 1
    assert processed[0].startswith(f"Return-Path: <{ATTENDEE}>\r\n".encode())
    assert processed[0].endswith(reply)
    assert await asyncio.to_thread(postfix_dovecot.fetch_all, GATEWAY_MAILBOX) == []

    delivered = await new_messages(postfix_dovecot, ORGANIZER, organizer_seen, 1)
    assert len(delivered) == 1
    assert delivered[0].startswith(f"Return-Path: <{ATTENDEE}>\r\n".encode())
    assert f"Delivered-To: {ORGANIZER}\r\n".encode() in delivered[0]
    assert delivered[0].endswith(reply)
    assert b"X-Imip-Gateway-Verdict" not in delivered[0]

    # The signature still verifies after two trips through Postfix and Dovecot.
    (gateway.work / "organizer-copy.eml").write_bytes(delivered[0])
    verified = run_openssl("cms", "-verify", "-in", str(gateway.work / "organizer-copy.eml"),
                           "-CAfile", str(gateway.attendee_cert), "-purpose", "any")
    assert verified.returncode == 0, verified.stderr
    assert f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ATTENDEE}".encode() in verified.stdout
