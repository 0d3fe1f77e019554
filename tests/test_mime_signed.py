"""Signed and encrypted shapes: exact signed bytes, and wrappers that round-trip."""

from __future__ import annotations

import base64
from pathlib import Path

from mime import (
    build_pgp_encrypted,
    build_pgp_signed,
    build_smime_enveloped,
    build_smime_signed,
    find_encrypted_entity,
    find_signed_entity,
    read_message,
    to_crlf,
)

MAIL = Path(__file__).parent / "data" / "mail"
SIGNATURE = bytes((i * 37 + 11) % 256 for i in range(300))


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_smime_detached_signed_bytes_are_exact():
    raw = load("smime-signed-reply.eml")
    entity = find_signed_entity(raw)
    start = raw.index(b"Content-Type: text/calendar")
    end = raw.index(b"END:VCALENDAR\r\n") + len(b"END:VCALENDAR\r\n")
    assert entity.kind == "smime-detached"
    assert entity.signed_bytes == raw[start:end]
    assert entity.signature == SIGNATURE
    assert entity.micalg == "sha-256"


def test_pgp_signed_bytes_include_nested_multipart():
    raw = load("pgp-signed-reply.eml")
    entity = find_signed_entity(raw)
    start = raw.index(b'Content-Type: multipart/mixed; boundary="inner-pgp"')
    end = raw.index(b"--inner-pgp--\r\n") + len(b"--inner-pgp--\r\n")
    assert entity.kind == "pgp"
    assert entity.signed_bytes == raw[start:end]
    assert entity.signature.startswith(b"-----BEGIN PGP SIGNATURE-----")


def test_opaque_signed_data():
    entity = find_signed_entity(load("smime-opaque-signed.eml"))
    assert entity.kind == "smime-opaque"
    assert entity.signed_bytes is None
    assert entity.signature == SIGNATURE


def test_signed_part_below_root_signs_nothing():
    assert find_signed_entity(load("calendar-beside-signed-part.eml")) is None


def test_unsigned_mail_has_no_signed_entity():
    assert find_signed_entity(load("bare-calendar-whole-message.eml")) is None


def test_smime_encrypted_ciphertext():
    entity = find_encrypted_entity(load("smime-encrypted.eml"))
    assert entity.kind == "smime"
    assert entity.ciphertext == SIGNATURE[::-1]


def test_pgp_encrypted_ciphertext():
    entity = find_encrypted_entity(load("pgp-encrypted.eml"))
    assert entity.kind == "pgp"
    assert entity.ciphertext.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert entity.ciphertext.rstrip().endswith(b"-----END PGP MESSAGE-----")


def test_signed_mail_is_not_encrypted():
    assert find_encrypted_entity(load("smime-signed-reply.eml")) is None


def test_to_crlf():
    assert to_crlf(b"a\nb\r\nc\r\r\n") == b"a\r\nb\r\nc\r\n"


CONTENT = (
    b"Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:u@x\r\n"
    b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:guest@remote.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_build_smime_signed_round_trips():
    entity = build_smime_signed(CONTENT, SIGNATURE)
    found = find_signed_entity(b"From: guest@remote.example\r\nMIME-Version: 1.0\r\n" + entity)
    assert found.kind == "smime-detached"
    assert found.signed_bytes == CONTENT
    assert found.signature == SIGNATURE


def test_build_pgp_signed_round_trips():
    armored = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    found = find_signed_entity(build_pgp_signed(CONTENT, armored))
    assert found.kind == "pgp"
    assert found.signed_bytes == CONTENT
    assert found.signature == to_crlf(armored)


def test_build_smime_enveloped_round_trips():
    entity = build_smime_enveloped(SIGNATURE)
    assert find_encrypted_entity(entity).ciphertext == SIGNATURE
    assert b"smime-type=enveloped-data" in entity
    body = entity.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def test_build_pgp_encrypted_round_trips():
    armored = b"-----BEGIN PGP MESSAGE-----\r\n\r\nhF4D\r\n-----END PGP MESSAGE-----\r\n"
    entity = build_pgp_encrypted(armored)
    assert find_encrypted_entity(entity).ciphertext == armored
    assert read_message(b"From: a@b.example\r\n" + entity).encrypted is True


def test_signed_content_calendar_is_marked_signed():
    entity = build_smime_signed(CONTENT, SIGNATURE)
    parsed = read_message(b"From: guest@remote.example\r\n" + entity)
    assert parsed.calendar_parts[0].signed is True
    assert parsed.objects[0].uid == "u@x"


def test_signature_base64_lines():
    entity = build_smime_signed(CONTENT, SIGNATURE)
    assert base64.b64encode(SIGNATURE)[:76] in entity
