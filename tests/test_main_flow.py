"""The main job end to end: REQUEST in, encrypted INVITATION out, signed REPLY or PW activates.

Everything runs for real on loopback: the gateway's SMTP listener, a
downstream SMTP server that stores what it receives, gpg and openssl for
the attendees' side.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import io
import re
import smtplib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.otp import format_words, parse_hex
from gateway.logs import configure
from gateway.service import Service
from gateway.settings import Settings, load
from tests.conftest import require_tool, run_cli
from tests.harness import settings_environ, wait_for
from tests.servers.smtp_sink import ReceivedMessage, SmtpSink

ORGANIZER = "organizer@example.com"
SMIME_GUEST = "smime-guest@remote.example"
PGP_GUEST = "pgp-guest@remote.example"
NOKEY_GUEST = "nokey-guest@remote.example"
COLLEAGUE = "colleague@example.com"
EVENT_UID = "budget-2026@example.com"


def request_mail(attendees: list[str], invite: bool = True) -> bytes:
    flag = ";INVITE=TRUE" if invite else ""
    lines = "".join(f"ATTENDEE;RSVP=TRUE{flag}:mailto:{a}\r\n" for a in attendees)
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Calendar//EN\r\nMETHOD:REQUEST\r\n"
        f"BEGIN:VEVENT\r\nUID:{EVENT_UID}\r\nSEQUENCE:0\r\nDTSTAMP:20261204T100000Z\r\n"
        "DTSTART:20261210T150000Z\r\nDTEND:20261210T160000Z\r\nSUMMARY:Budget review\r\n"
        f"ORGANIZER;CN=Olga Organizer:mailto:{ORGANIZER}\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"From: Olga Organizer <{ORGANIZER}>\r\nTo: {', '.join(attendees)}\r\nSubject: Budget review\r\n"
        "Message-ID: <request-1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/calendar; charset="UTF-8"; method=REQUEST\r\n\r\n' + calendar
    ).encode()


def reply_entity(attendee: str, pw: str | None = None, uid: str = EVENT_UID) -> bytes:
    pw_line = f"PW:{pw}\r\n" if pw else ""
    return (
        "Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\r\n"
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Guest//Client//EN\r\nMETHOD:REPLY\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261205T090000Z\r\n"
        f"ORGANIZER:mailto:{ORGANIZER}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{attendee}\r\n{pw_line}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def reply_headers(attendee: str) -> bytes:
    return (f"From: {attendee}\r\nTo: {ORGANIZER}\r\nSubject: Accepted: Budget review\r\n"
            f"Message-ID: <reply-{attendee}>\r\nMIME-Version: 1.0\r\n").encode()


def smime_signed_reply(attendee: str, cert: Path, key: Path, work: Path, pw: str | None = None) -> bytes:
    """A multipart/signed REPLY made with ``openssl cms -sign``, as a mail client would."""
    entity = reply_entity(attendee, pw)
    (work / "entity").write_bytes(entity)
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-in", str(work / "entity"), "-signer", str(cert),
         "-inkey", str(key), "-outform", "DER", "-out", str(work / "sig.der")],
        check=True, capture_output=True,
    )
    signature = base64.encodebytes((work / "sig.der").read_bytes()).replace(b"\n", b"\r\n")
    boundary = b"signed-boundary-1"
    return (
        reply_headers(attendee)
        + b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
        + b'boundary="' + boundary + b'"\r\n\r\n--' + boundary + b"\r\n" + entity + b"\r\n--" + boundary
        + b"\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n" + signature + b"--" + boundary + b"--\r\n"
    )


def smime_identity(folder: Path, address: str, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=email:{address}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
         "-addext", "extendedKeyUsage=emailProtection", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def gpg(home: Path, *arguments: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "",
         *arguments],
        input=stdin, capture_output=True, check=False,
    )


def pgp_identity(home: Path, address: str) -> bytes:
    """An attendee's key pair made with the gpg command line; returns the armored public key."""
    home.mkdir(mode=0o700)
    assert gpg(home, "--quick-gen-key", f"PGP Guest <{address}>", "rsa2048", "sign", "never").returncode == 0
    fingerprint = re.search(rb"fpr:+([0-9A-F]{40}):", gpg(home, "--with-colons", "--list-keys").stdout)
    assert fingerprint is not None
    assert gpg(home, "--quick-add-key", fingerprint.group(1).decode(), "rsa2048", "encr", "never").returncode == 0
    return gpg(home, "--armor", "--export", address).stdout


@dataclass
class World:
    settings: Settings
    environ: dict[str, str]
    sink: SmtpSink
    service: Service
    work: Path
    log: io.StringIO
    smime_cert: Path
    smime_key: Path
    pgp_home: Path

    @property
    def port(self) -> int:
        return self.settings.smtp.listen[0].port

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, stdin=stdin, env=self.environ, cwd=self.work)


def send(port: int, mail_from: str, rcpt_tos: list[str], data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("client.test")
        client.mail(mail_from)
        for rcpt in rcpt_tos:
            client.rcpt(rcpt)
        return client.data(data)


@pytest.fixture
async def world(tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[World]:
    require_tool("openssl")
    require_tool("gpg")
    state = tmp_path / "state"
    environ = settings_environ(
        state, relay_smarthost=f"127.0.0.1:{smtp_sink.port}", relay_starttls="none",
        calendar_target="cap://cal.example.com", invitation_from="calendar@example.com",
    )
    environ["IMIP_GATEWAY_WEB_PUBLIC_URL"] = "http://" + environ["IMIP_GATEWAY_WEB_LISTEN"]
    work = tmp_path / "work"
    work.mkdir()
    smime_cert, smime_key = smime_identity(work, SMIME_GUEST, "smime-guest")
    pgp_home = work / "pgp-guest"
    (work / "pgp-guest.asc").write_bytes(pgp_identity(pgp_home, PGP_GUEST))

    settings = load(None, environ=environ)
    log = io.StringIO()
    configure("logfmt", "debug", log)
    service = Service(settings)
    await service.start()
    world = World(settings, environ, smtp_sink, service, work, log, smime_cert, smime_key, pgp_home)
    imported = await asyncio.to_thread(world.cli, "keys", "import", str(smime_cert), str(work / "pgp-guest.asc"))
    assert imported.returncode == 0, imported.stderr
    try:
        yield world
    finally:
        await service.stop()
        service.store.close()


def by_recipient(messages: list[ReceivedMessage]) -> dict[tuple[str, ...], list[ReceivedMessage]]:
    found: dict[tuple[str, ...], list[ReceivedMessage]] = {}
    for message in messages:
        found.setdefault(tuple(sorted(message.rcpt_tos)), []).append(message)
    return found


def decrypt_smime(world: World, data: bytes) -> bytes:
    (world.work / "in.eml").write_bytes(data)
    result = subprocess.run(
        ["openssl", "cms", "-decrypt", "-in", str(world.work / "in.eml"), "-recip", str(world.smime_cert),
         "-inkey", str(world.smime_key)],
        capture_output=True, check=True,
    )
    return result.stdout


def verify_gateway_smime(world: World, signed: bytes) -> bytes:
    from gateway.keyring import own_smime_paths

    cert, _ = own_smime_paths(world.settings)
    (world.work / "signed.eml").write_bytes(signed)
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-in", str(world.work / "signed.eml"), "-CAfile", str(cert),
         "-purpose", "any"],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert b"Verification successful" in result.stderr
    return result.stdout


def invitation_fields(entity: bytes) -> dict[str, str]:
    message = email.message_from_bytes(entity, policy=email.policy.default)
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("component") == "INVITATION"
    text = calendar.get_content()
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    fields = {}
    for line in unfolded.splitlines():
        name, _, value = line.partition(":")
        fields[name.split(";")[0]] = value
    return fields


async def send_request(world: World) -> list[ReceivedMessage]:
    attendees = [SMIME_GUEST, PGP_GUEST, NOKEY_GUEST, COLLEAGUE]
    code, _ = await asyncio.to_thread(send, world.port, ORGANIZER, attendees, request_mail(attendees))
    assert code == 250
    return await asyncio.to_thread(world.sink.wait_for_messages, 6, 30)


async def test_request_yields_invitations_challenges_and_notice(world: World) -> None:
    messages = await send_request(world)
    assert len(messages) == 6
    groups = by_recipient(messages)

    shared = groups[(COLLEAGUE, NOKEY_GUEST)]
    assert len(shared) == 1
    assert b"INVITE" not in shared[0].data
    assert b"CHALLENGE" not in shared[0].data

    notice = groups[(ORGANIZER,)]
    assert len(notice) == 1
    assert notice[0].mail_from == "<>"
    assert b"Invitation held for nokey-guest@remote.example" in notice[0].data

    challenges = {}
    for guest in (SMIME_GUEST, PGP_GUEST):
        copies = groups[(guest,)]
        assert len(copies) == 2
        relayed = next(m for m in copies if b"METHOD:REQUEST" in m.data)
        assert b"INVITE" not in relayed.data
        match = re.search(rb"CHALLENGE:otp-md5 498 ([a-z0-9]+)\r\n", relayed.data)
        assert match is not None
        challenges[guest] = match.group(1)
    assert challenges[SMIME_GUEST] != challenges[PGP_GUEST]

    smime_invitation = next(m for m in groups[(SMIME_GUEST,)] if b"METHOD:REQUEST" not in m.data)
    assert b"application/pkcs7-mime" in smime_invitation.data
    assert b"OTPKEY" not in smime_invitation.data
    inner = verify_gateway_smime(world, decrypt_smime(world, smime_invitation.data))
    fields = invitation_fields(inner)
    assert fields["TARGET"] == "cap://cal.example.com"
    assert fields["ORGANIZER"] == f"mailto:{ORGANIZER}"
    assert fields["ATTENDEE"] == f"mailto:{SMIME_GUEST}"
    assert re.fullmatch(r"md5-[0-9a-f]{32}", fields["OTPKEY"])
    assert fields["URL"].startswith(world.settings.web.public_url + "/signup/")

    pgp_invitation = next(m for m in groups[(PGP_GUEST,)] if b"METHOD:REQUEST" not in m.data)
    assert b'multipart/encrypted; protocol="application/pgp-encrypted"' in pgp_invitation.data
    gateway_key = world.service.store.list_keys()
    own_pgp = next(k for k in gateway_key if k["own"] and k["kind"] == "pgp")
    assert gpg(world.pgp_home, "--import", stdin=own_pgp["material"].encode()).returncode == 0
    armored = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", pgp_invitation.data, re.S)
    assert armored is not None
    decrypted = gpg(world.pgp_home, "--status-fd", "2", "--decrypt", stdin=armored.group(0))
    assert decrypted.returncode == 0, decrypted.stderr
    assert f"VALIDSIG {own_pgp['fingerprint']}".encode() in decrypted.stderr
    assert re.fullmatch(r"md5-[0-9a-f]{32}", invitation_fields(decrypted.stdout)["OTPKEY"])

    store = world.service.store
    assert store.get_upn(SMIME_GUEST)["state"] == "invited"
    assert store.get_upn(PGP_GUEST)["state"] == "invited"
    assert store.get_upn(NOKEY_GUEST)["state"] == "held"
    assert store.get_upn(COLLEAGUE) is None
    assert "invitation-held" in world.log.getvalue()
    assert f"keys import" in world.log.getvalue()


async def pgp_otpkey(world: World) -> tuple[str, str]:
    """Decrypt the PGP guest's INVITATION and return its OTPKEY and the relayed challenge."""
    messages = await send_request(world)
    copies = by_recipient(messages)[(PGP_GUEST,)]
    relayed = next(m for m in copies if b"METHOD:REQUEST" in m.data)
    challenge = re.search(rb"CHALLENGE:(otp-md5 \d+ [a-z0-9]+)\r\n", relayed.data)
    invitation = next(m for m in copies if b"METHOD:REQUEST" not in m.data)
    armored = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", invitation.data, re.S)
    assert challenge is not None and armored is not None
    decrypted = gpg(world.pgp_home, "--decrypt", stdin=armored.group(0))
    return invitation_fields(decrypted.stdout)["OTPKEY"], challenge.group(1).decode()


async def test_pw_reply_activates_without_relaying_pw(world: World) -> None:
    otpkey, challenge = await pgp_otpkey(world)
    computed = await asyncio.to_thread(world.cli, "otp", "--hex", challenge, stdin=otpkey + "\n")
    assert computed.returncode == 0, computed.stderr
    answer = computed.stdout.strip()

    reply = reply_headers(PGP_GUEST) + reply_entity(PGP_GUEST, pw=f"0x{answer}")
    code, _ = await asyncio.to_thread(send, world.port, PGP_GUEST, [ORGANIZER], reply)
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    relayed = [m for m in messages if m.rcpt_tos == (ORGANIZER,) and b"METHOD:REPLY" in m.data]
    assert len(relayed) == 1
    assert b"PW" not in relayed[0].data.split(b"BEGIN:VCALENDAR")[1]
    assert answer.encode() not in relayed[0].data

    row = world.service.store.get_upn(PGP_GUEST)
    assert row["state"] == "active"
    assert row["method"] == "otp-reply"

    # The PW is spent: sent again, it changes nothing and is still removed before relaying.
    state_before = world.service.store.get_upn(PGP_GUEST)["otp_sequence"]
    code, _ = await asyncio.to_thread(send, world.port, PGP_GUEST, [ORGANIZER], reply)
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 8, 30)
    assert answer.encode() not in messages[-1].data
    assert world.service.store.get_upn(PGP_GUEST)["otp_sequence"] == state_before


async def test_reply_signed_by_pinned_certificate_activates(world: World) -> None:
    await send_request(world)
    reply = smime_signed_reply(SMIME_GUEST, world.smime_cert, world.smime_key, world.work)
    code, _ = await asyncio.to_thread(send, world.port, SMIME_GUEST, [ORGANIZER], reply)
    assert code == 250
    row = await wait_for(lambda: (r := world.service.store.get_upn(SMIME_GUEST)) and r["state"] == "active" and r)
    assert row["method"] == "signed-reply"
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    relayed = [m for m in messages if m.rcpt_tos == (ORGANIZER,) and b"multipart/signed" in m.data]
    assert relayed[0].data.endswith(reply)


async def test_reply_signed_by_another_key_does_not_activate(world: World) -> None:
    await send_request(world)
    other_cert, other_key = smime_identity(world.work, SMIME_GUEST, "impostor")
    imported = await asyncio.to_thread(world.cli, "keys", "import", str(other_cert))
    assert imported.returncode == 0, imported.stderr
    reply = smime_signed_reply(SMIME_GUEST, other_cert, other_key, world.work)
    code, _ = await asyncio.to_thread(send, world.port, SMIME_GUEST, [ORGANIZER], reply)
    assert code == 250
    store = world.service.store
    entries = await wait_for(lambda: store.quarantine_list())
    assert "REPLY from a dynamic UPN proved nothing" in entries[0]["reason"]
    assert store.get_upn(SMIME_GUEST)["state"] == "invited"


async def test_unsigned_reply_without_pw_does_not_activate(world: World) -> None:
    await send_request(world)
    reply = reply_headers(SMIME_GUEST) + reply_entity(SMIME_GUEST)
    code, _ = await asyncio.to_thread(send, world.port, SMIME_GUEST, [ORGANIZER], reply)
    assert code == 250
    store = world.service.store
    entries = await wait_for(lambda: store.quarantine_list())
    assert "signature does not prove the sender" in entries[0]["reason"]
    assert store.get_upn(SMIME_GUEST)["state"] == "invited"


async def test_no_secret_is_stored_or_logged(world: World) -> None:
    otpkey, challenge = await pgp_otpkey(world)
    messages = world.sink.messages
    smime_invitation = next(m for m in messages if m.rcpt_tos == (SMIME_GUEST,) and b"pkcs7-mime" in m.data)
    smime_fields = invitation_fields(verify_gateway_smime(world, decrypt_smime(world, smime_invitation.data)))
    secrets = [otpkey.split("-", 1)[1], smime_fields["OTPKEY"].split("-", 1)[1]]
    tokens = [smime_fields["URL"].rsplit("/", 1)[1]]

    forms: list[bytes] = []
    for hex_key in secrets:
        raw = bytes.fromhex(hex_key)
        forms += [hex_key.encode(), hex_key.upper().encode(), base64.b64encode(raw), base64.b64encode(hex_key.encode())]
        forms.append(format_words(parse_hex(hex_key[:16])).encode())
    for token in tokens:
        forms += [token.encode(), base64.b64encode(token.encode())]

    world.service.store.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    files = [path for path in Path(world.settings.gateway.state_dir).rglob("*") if path.is_file()]
    assert any(path.name.endswith("-wal") for path in files)
    for path in files:
        content = path.read_bytes()
        for form in forms:
            assert form not in content, f"a secret was found in {path}"
    log = world.log.getvalue().encode()
    for form in forms:
        assert form not in log


async def test_untrusted_client_creates_nothing(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    environ = settings_environ(tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}",
                               relay_starttls="none", smtp_trusted_networks="192.0.2.0/24")
    settings = load(None, environ=environ)
    service = Service(settings)
    await service.start()
    try:
        data = request_mail([COLLEAGUE, NOKEY_GUEST])
        code, _ = await asyncio.to_thread(send, settings.smtp.listen[0].port, ORGANIZER, [COLLEAGUE], data)
        assert code == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 1, 30)
        assert messages[0].rcpt_tos == (COLLEAGUE,)
        assert b"INVITE" not in messages[0].data
        assert service.store.list_upns() == []
        reasons = [row["reason"] for row in service.store.audit_entries()]
        assert "INVITE from an untrusted client removed" in reasons
    finally:
        await service.stop()
        service.store.close()


async def test_inspect_shows_verdict_and_decrypts(world: World) -> None:
    import json

    from gateway.keyring import own_smime_paths

    signed = smime_signed_reply(SMIME_GUEST, world.smime_cert, world.smime_key, world.work)
    (world.work / "signed.eml").write_bytes(signed)
    result = await asyncio.to_thread(world.cli, "inspect", "--json", str(world.work / "signed.eml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["signature"]["status"] == "valid"
    assert report["signature"]["signer"] == SMIME_GUEST
    assert report["method"] == "REPLY"

    impostor_cert, impostor_key = smime_identity(world.work, SMIME_GUEST, "not-imported")
    (world.work / "impostor.eml").write_bytes(smime_signed_reply(SMIME_GUEST, impostor_cert, impostor_key, world.work))
    result = await asyncio.to_thread(world.cli, "inspect", "--json", str(world.work / "impostor.eml"))
    report = json.loads(result.stdout)
    assert report["signature"]["status"] == "invalid"
    assert report["signature"]["signer"] is None

    gateway_cert, _ = own_smime_paths(world.settings)
    (world.work / "inner.eml").write_bytes(signed)
    subprocess.run(
        ["openssl", "cms", "-encrypt", "-aes256", "-in", str(world.work / "inner.eml"), "-out",
         str(world.work / "encrypted.eml"), str(gateway_cert)],
        check=True, capture_output=True,
    )
    # openssl writes only the encrypted entity; a mail client puts the message headers above it.
    encrypted = f"From: {SMIME_GUEST}\r\nTo: {ORGANIZER}\r\nSubject: Accepted\r\n".encode()
    encrypted += (world.work / "encrypted.eml").read_bytes()
    (world.work / "encrypted.eml").write_bytes(encrypted)
    result = await asyncio.to_thread(world.cli, "inspect", "--json", str(world.work / "encrypted.eml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["encrypted"] is True
    assert report["signature"]["status"] == "valid"
    assert [a["address"] for a in report["objects"][0]["attendees"]] == [SMIME_GUEST]


async def test_key_imported_later_releases_held_invitation(world: World) -> None:
    await send_request(world)
    store = world.service.store
    assert store.get_upn(NOKEY_GUEST)["state"] == "held"

    cert, key = smime_identity(world.work, NOKEY_GUEST, "nokey-guest")
    imported = await asyncio.to_thread(world.cli, "keys", "import", str(cert))
    assert imported.returncode == 0, imported.stderr
    row = await wait_for(lambda: (r := store.get_upn(NOKEY_GUEST)) and r["state"] == "invited" and r, timeout=30)
    assert row["key_kind"] == "smime"
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    invitation = next(m for m in messages if m.rcpt_tos == (NOKEY_GUEST,) and b"pkcs7-mime" in m.data)
    (world.work / "nokey.eml").write_bytes(invitation.data)
    decrypted = subprocess.run(
        ["openssl", "cms", "-decrypt", "-in", str(world.work / "nokey.eml"), "-recip", str(cert), "-inkey", str(key)],
        capture_output=True, check=True,
    ).stdout
    fields = invitation_fields(verify_gateway_smime(world, decrypted))
    assert fields["ATTENDEE"] == f"mailto:{NOKEY_GUEST}"


async def test_cancel_is_recorded_and_relayed_with_challenge(world: World) -> None:
    await send_request(world)
    cancel = request_mail([SMIME_GUEST], invite=False).replace(b"METHOD:REQUEST", b"METHOD:CANCEL")
    cancel = cancel.replace(b"method=REQUEST", b"method=CANCEL").replace(b"SEQUENCE:0", b"SEQUENCE:1")
    code, _ = await asyncio.to_thread(send, world.port, ORGANIZER, [SMIME_GUEST], cancel)
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    relayed = messages[-1]
    assert relayed.rcpt_tos == (SMIME_GUEST,)
    assert b"METHOD:CANCEL" in relayed.data
    assert re.search(rb"CHALLENGE:otp-md5 498 [a-z0-9]+\r\n", relayed.data)
    events = world.service.store.upn_events(SMIME_GUEST)
    assert events[0]["cancelled"] is not None


async def test_operator_commands_list_show_refresh_revoke(world: World) -> None:
    import json

    await send_request(world)
    listing = json.loads((await asyncio.to_thread(world.cli, "upn", "list", "--json")).stdout)
    assert {row["address"]: row["state"] for row in listing} == {
        SMIME_GUEST: "invited", PGP_GUEST: "invited", NOKEY_GUEST: "held"}

    shown = await asyncio.to_thread(world.cli, "upn", "show", "--json", PGP_GUEST)
    data = json.loads(shown.stdout)
    assert data["address"] == PGP_GUEST
    assert data["state"] == "invited"
    assert data["activated"] is None
    assert data["method"] is None
    assert data["created"].endswith("Z")
    assert [e["uid"] for e in data["events"]] == [EVENT_UID]

    before = world.service.store.get_upn(PGP_GUEST)
    refreshed = await asyncio.to_thread(world.cli, "upn", "refresh", PGP_GUEST)
    assert refreshed.returncode == 0, refreshed.stderr
    after = world.service.store.get_upn(PGP_GUEST)
    assert after["otp_seed"] != before["otp_seed"]
    assert after["invitation_sequence"] == before["invitation_sequence"] + 1
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    assert messages[-1].rcpt_tos == (PGP_GUEST,)
    assert b"multipart/encrypted" in messages[-1].data

    revoked = await asyncio.to_thread(world.cli, "upn", "revoke", PGP_GUEST)
    assert revoked.returncode == 0, revoked.stderr
    row = world.service.store.get_upn(PGP_GUEST)
    assert row["state"] == "revoked"
    assert row["otp_last"] is None
    again = await asyncio.to_thread(world.cli, "upn", "revoke", PGP_GUEST)
    assert again.returncode == 1
    assert "already revoked" in again.stderr
    missing = await asyncio.to_thread(world.cli, "upn", "show", "nobody@remote.example")
    assert missing.returncode == 1
    assert "no dynamic UPN nobody@remote.example" in missing.stderr

    # A revoked UPN gets no CHALLENGE in what is relayed to it.
    code, _ = await asyncio.to_thread(send, world.port, ORGANIZER, [PGP_GUEST], request_mail([PGP_GUEST], invite=False))
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 8, 30)
    assert b"CHALLENGE" not in messages[-1].data


async def test_queue_and_quarantine_commands(world: World) -> None:
    import json

    await send_request(world)
    reply = reply_headers(SMIME_GUEST) + reply_entity(SMIME_GUEST)
    await asyncio.to_thread(send, world.port, SMIME_GUEST, [ORGANIZER], reply)
    entries = await wait_for(lambda: world.service.store.quarantine_list())

    listing = json.loads((await asyncio.to_thread(world.cli, "quarantine", "list", "--json")).stdout)
    assert [row["id"] for row in listing] == [entries[0]["id"]]
    shown = await asyncio.to_thread(world.cli, "quarantine", "show", entries[0]["id"])
    assert shown.stdout.endswith(reply.decode().replace("\r\n", "\n"))
    released = await asyncio.to_thread(world.cli, "quarantine", "release", entries[0]["id"])
    assert released.returncode == 0, released.stderr
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    assert messages[-1].rcpt_tos == (ORGANIZER,)
    assert world.service.store.quarantine_list() == []

    queue = json.loads((await asyncio.to_thread(world.cli, "queue", "list", "--json")).stdout)
    assert queue == []
    dropped = await asyncio.to_thread(world.cli, "queue", "drop", "0123456789ABCDEF")
    assert dropped.returncode == 1
    assert "no queued mail with id 0123456789ABCDEF" in dropped.stderr


async def smime_otp_answer(world: World) -> str:
    """The next one-time password of the S/MIME guest, computed with the otp command."""
    messages = await send_request(world)
    copies = by_recipient(messages)[(SMIME_GUEST,)]
    relayed = next(m for m in copies if b"METHOD:REQUEST" in m.data)
    challenge = re.search(rb"CHALLENGE:(otp-md5 \d+ [a-z0-9]+)\r\n", relayed.data)
    invitation = next(m for m in copies if b"pkcs7-mime" in m.data)
    assert challenge is not None
    otpkey = invitation_fields(verify_gateway_smime(world, decrypt_smime(world, invitation.data)))["OTPKEY"]
    computed = await asyncio.to_thread(world.cli, "otp", challenge.group(1).decode(), stdin=otpkey + "\n")
    assert computed.returncode == 0, computed.stderr
    return computed.stdout.strip()


async def test_signed_pw_reply_carries_gateway_verdict(world: World) -> None:
    words = await smime_otp_answer(world)
    assert len(words.split()) == 6
    reply = smime_signed_reply(SMIME_GUEST, world.smime_cert, world.smime_key, world.work, pw=words)
    forged = b"X-Imip-Gateway-Verdict: valid smime signature by ceo@example.com\r\n" + reply
    code, _ = await asyncio.to_thread(send, world.port, SMIME_GUEST, [ORGANIZER], forged)
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    relayed = messages[-1]
    assert relayed.rcpt_tos == (ORGANIZER,)
    assert b"ceo@example.com" not in relayed.data
    verdicts = re.findall(rb"X-Imip-Gateway-Verdict: ([^\r\n]+)", relayed.data)
    assert len(verdicts) == 1
    assert verdicts[0].startswith(f"valid smime signature by {SMIME_GUEST} (".encode())
    assert b"multipart/signed" not in relayed.data
    assert b"\r\nPW" not in relayed.data
    assert words.encode() not in relayed.data
    row = world.service.store.get_upn(SMIME_GUEST)
    assert row["state"] == "active"
    assert row["method"] == "signed-reply"


async def test_unverified_reply_relayed_when_configured(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    require_tool("openssl")
    environ = settings_environ(tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}",
                               relay_starttls="none", activation_unverified_reply="relay")
    settings = load(None, environ=environ)
    work = tmp_path / "work"
    work.mkdir()
    cert, _ = smime_identity(work, SMIME_GUEST, "smime-guest")
    assert run_cli("keys", "import", str(cert), env=environ, cwd=work).returncode == 0
    service = Service(settings)
    await service.start()
    try:
        port = settings.smtp.listen[0].port
        assert (await asyncio.to_thread(send, port, ORGANIZER, [SMIME_GUEST], request_mail([SMIME_GUEST])))[0] == 250
        await asyncio.to_thread(smtp_sink.wait_for_messages, 2, 30)
        reply = reply_headers(SMIME_GUEST) + reply_entity(SMIME_GUEST)
        assert (await asyncio.to_thread(send, port, SMIME_GUEST, [ORGANIZER], reply))[0] == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 3, 30)
        assert messages[-1].rcpt_tos == (ORGANIZER,)
        assert messages[-1].data.split(b"\r\n")[0] == b"X-Imip-Gateway-Verdict: unverified REPLY; not signed"
        assert service.store.get_upn(SMIME_GUEST)["state"] == "invited"
    finally:
        await service.stop()
        service.store.close()


async def test_nearly_used_key_is_refreshed_after_pw_reply(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    require_tool("gpg")
    environ = settings_environ(tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}",
                               relay_starttls="none", invitation_otp_sequence="11",
                               invitation_otp_refresh_below="10")
    work = tmp_path / "work"
    work.mkdir()
    pgp_home = work / "pgp-guest"
    (work / "guest.asc").write_bytes(pgp_identity(pgp_home, PGP_GUEST))
    assert run_cli("keys", "import", str(work / "guest.asc"), env=environ, cwd=work).returncode == 0
    settings = load(None, environ=environ)
    service = Service(settings)
    await service.start()
    try:
        port = settings.smtp.listen[0].port
        assert (await asyncio.to_thread(send, port, ORGANIZER, [PGP_GUEST], request_mail([PGP_GUEST])))[0] == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 2, 30)
        relayed = next(m for m in messages if b"METHOD:REQUEST" in m.data)
        challenge = re.search(rb"CHALLENGE:(otp-md5 10 [a-z0-9]+)\r\n", relayed.data)
        assert challenge is not None
        invitation = next(m for m in messages if b"multipart/encrypted" in m.data)
        armored = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", invitation.data, re.S)
        assert armored is not None
        otpkey = invitation_fields(gpg(pgp_home, "--decrypt", stdin=armored.group(0)).stdout)["OTPKEY"]
        computed = run_cli("otp", challenge.group(1).decode(), stdin=otpkey + "\n", env=environ, cwd=work)
        before = service.store.get_upn(PGP_GUEST)

        reply = reply_headers(PGP_GUEST) + reply_entity(PGP_GUEST, pw=computed.stdout.strip())
        assert (await asyncio.to_thread(send, port, PGP_GUEST, [ORGANIZER], reply))[0] == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 4, 30)
        refreshed = next(m for m in messages[2:] if m.rcpt_tos == (PGP_GUEST,))
        armored = re.search(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", refreshed.data, re.S)
        assert armored is not None
        fields = invitation_fields(gpg(pgp_home, "--decrypt", stdin=armored.group(0)).stdout)
        assert fields["SEQUENCE"] == "1"
        assert fields["UID"] == before["invitation_uid"]
        assert fields["OTPKEY"] != otpkey
        after = service.store.get_upn(PGP_GUEST)
        assert after["state"] == "active"
        assert after["otp_sequence"] == 11
        assert after["otp_seed"] != before["otp_seed"]
    finally:
        await service.stop()
        service.store.close()


async def test_refresh_with_revoked_key_holds_upn(world: World) -> None:
    await send_request(world)
    store = world.service.store
    fingerprint = store.get_upn(SMIME_GUEST)["key_fingerprint"]
    record = store.get_key(fingerprint)
    store.put_key({**record, "revoked": True})

    result = await asyncio.to_thread(world.cli, "upn", "refresh", SMIME_GUEST)
    assert result.returncode == 1
    assert f"{SMIME_GUEST} is held" in result.stdout
    row = store.get_upn(SMIME_GUEST)
    assert row["state"] == "held"
    assert row["otp_last"] is None
    latest = store.audit_entries(upn=SMIME_GUEST, limit=1)[0]
    assert (latest["event"], latest["outcome"]) == ("refresh", "held")


async def test_unusable_key_holds_upn(world: World) -> None:
    home = world.work / "sign-only"
    home.mkdir(mode=0o700)
    assert gpg(home, "--quick-gen-key", f"Sign Only <{NOKEY_GUEST}>", "rsa2048", "sign", "never").returncode == 0
    (world.work / "sign-only.asc").write_bytes(gpg(home, "--armor", "--export", NOKEY_GUEST).stdout)
    imported = await asyncio.to_thread(world.cli, "keys", "import", str(world.work / "sign-only.asc"))
    assert imported.returncode == 0, imported.stderr

    messages = await send_request(world)
    groups = by_recipient(messages)
    assert len(groups[(COLLEAGUE, NOKEY_GUEST)]) == 1
    assert world.service.store.quarantine_list() == []
    row = world.service.store.get_upn(NOKEY_GUEST)
    assert row["state"] == "held"
    latest = world.service.store.audit_entries(upn=NOKEY_GUEST, limit=1)[0]
    assert latest["outcome"] == "held"
    assert "cannot be used" in latest["reason"]


async def test_bad_opaque_signature_spends_pw(world: World) -> None:
    otpkey, challenge = await pgp_otpkey(world)
    answer = (await asyncio.to_thread(world.cli, "otp", "--hex", challenge, stdin=otpkey + "\n")).stdout.strip()
    stranger_cert, stranger_key = smime_identity(world.work, PGP_GUEST, "not-imported")
    (world.work / "opaque-in").write_bytes(reply_entity(PGP_GUEST, pw=answer))
    opaque = subprocess.run(
        ["openssl", "smime", "-sign", "-nodetach", "-in", str(world.work / "opaque-in"), "-signer",
         str(stranger_cert), "-inkey", str(stranger_key)],
        capture_output=True, check=True,
    ).stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    reply = f"From: {PGP_GUEST}\r\nTo: {ORGANIZER}\r\nSubject: Accepted\r\n".encode() + opaque

    code, _ = await asyncio.to_thread(send, world.port, PGP_GUEST, [ORGANIZER], reply)
    assert code == 250
    messages = await asyncio.to_thread(world.sink.wait_for_messages, 7, 30)
    relayed = messages[-1]
    assert relayed.rcpt_tos == (ORGANIZER,)
    assert answer.encode() not in relayed.data
    assert b"pkcs7-mime" not in relayed.data
    assert re.search(rb"X-Imip-Gateway-Verdict: invalid smime signature", relayed.data)
    row = world.service.store.get_upn(PGP_GUEST)
    assert row["state"] == "active"
    assert row["method"] == "otp-reply"
    assert row["otp_sequence"] == 498


async def test_base64_x_vcalendar_request_is_read(world: World) -> None:
    plain = request_mail([SMIME_GUEST])
    headers, calendar = plain.split(b"\r\n\r\n", 1)
    headers = headers.replace(b'Content-Type: text/calendar; charset="UTF-8"; method=REQUEST',
                              b"Content-Type: text/x-vcalendar; method=REQUEST\r\nContent-Transfer-Encoding: base64")
    encoded = headers + b"\r\n\r\n" + base64.encodebytes(calendar).replace(b"\n", b"\r\n")
    assert b"vcalendar" not in encoded.split(b"\r\n\r\n", 1)[1].lower()

    code, _ = await asyncio.to_thread(send, world.port, ORGANIZER, [SMIME_GUEST], encoded)
    assert code == 250
    await asyncio.to_thread(world.sink.wait_for_messages, 2, 30)
    assert world.service.store.get_upn(SMIME_GUEST)["state"] == "invited"


async def test_own_key_imported_while_running_signs_next_invitation(world: World) -> None:
    cert, key = smime_identity(world.work, "calendar@example.com", "new-gateway")
    (world.work / "new-gateway-pair.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    imported = await asyncio.to_thread(world.cli, "keys", "import", "--own", str(world.work / "new-gateway-pair.pem"))
    assert imported.returncode == 0, imported.stderr

    messages = await send_request(world)
    invitation = next(m for m in by_recipient(messages)[(SMIME_GUEST,)] if b"pkcs7-mime" in m.data)
    (world.work / "signed.eml").write_bytes(decrypt_smime(world, invitation.data))
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-in", str(world.work / "signed.eml"), "-CAfile", str(cert), "-purpose", "any"],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
