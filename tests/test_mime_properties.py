"""Property tests: the reader raises only MimeError, and transport changes keep the objects."""

from __future__ import annotations

import base64
import binascii

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mime import Limits, MimeError, read_message

CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Property//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:prop-1@example.com\r\nSEQUENCE:4\r\nDTSTAMP:20261204T091500Z\r\n"
    "SUMMARY:Überprüfung der Jahresplanung für das Team in München und Zürich\r\n"
    'ORGANIZER;CN="Müller, Jürgen":mailto:juergen@example.de\r\n'
    "ATTENDEE;CN=Gäst;PARTSTAT=NEEDS-ACTION;INVITE=TRUE:mailto:guest@remote.example\r\n"
    "ATTENDEE;PARTSTAT=ACCEPTED:MAILTO:ann@Example.COM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:prop-1@example.com\r\nRECURRENCE-ID:20261211T100000Z\r\nSEQUENCE:4\r\n"
    "ORGANIZER:mailto:juergen@example.de\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:guest@remote.example\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
).encode("utf-8")

HEADERS = b"From: juergen@example.de\r\nTo: guest@remote.example\r\nMessage-ID: <p@example.de>\r\nMIME-Version: 1.0\r\n"

SMALL_LIMITS = Limits(mime_depth=5, mime_parts=20, calendar_components=20)


def facts(raw: bytes) -> list[tuple]:
    parsed = read_message(raw)
    return [
        (
            item.component, item.uid, item.sequence, item.recurrence_id, item.summary,
            item.organizer.address.address if item.organizer else None,
            item.organizer.cn if item.organizer else None,
            tuple((a.address.address, a.invite, a.partstat, a.cn) for a in item.attendees),
        )
        for item in parsed.objects
    ]


def fold(data: bytes, positions: list[int], continuation: bytes) -> bytes:
    """Fold content lines at byte offsets, possibly inside a UTF-8 sequence."""
    lines = data.split(b"\r\n")
    output = []
    for index, line in enumerate(lines):
        cut = positions[index % len(positions)] if positions else 0
        if 0 < cut < len(line):
            line = line[:cut] + b"\r\n" + continuation + line[cut:]
        output.append(line)
    return b"\r\n".join(output)


def encode(data: bytes, encoding: str, newline: bytes) -> bytes:
    data = data.replace(b"\r\n", newline)
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if encoding == "quoted-printable":
        return binascii.b2a_qp(data, istext=False).replace(b"\n", b"\r\n")
    return data


def mail(body: bytes, encoding: str, nested: bool) -> bytes:
    part = f"Content-Type: text/calendar; charset=UTF-8; method=REQUEST\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    if not nested:
        return HEADERS + part.encode("ascii") + body
    return (
        HEADERS + b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nhi\r\n--a\r\n'
        + part.encode("ascii") + body + b"\r\n--a--\r\n--m--\r\n"
    )


EXPECTED = facts(mail(CALENDAR, "8bit", nested=False))


def test_baseline_facts():
    assert len(EXPECTED) == 2
    assert EXPECTED[0][4].startswith("Überprüfung")
    assert EXPECTED[0][7][0] == ("guest@remote.example", True, "NEEDS-ACTION", "Gäst")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoding=st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"]),
    newline=st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n"]),
    positions=st.lists(st.integers(min_value=1, max_value=90), max_size=6),
    continuation=st.sampled_from([b" ", b"\t"]),
    nested=st.booleans(),
)
def test_transport_changes_keep_objects(encoding, newline, positions, continuation, nested):
    body = encode(fold(CALENDAR, positions, continuation), encoding, newline)
    assert facts(mail(body, encoding, nested)) == EXPECTED


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_raise_only_mime_errors(raw):
    try:
        read_message(raw, SMALL_LIMITS)
    except MimeError:
        pass


MIME_PIECES = [
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: text/calendar; method=REQUEST\r\n",
    b"Content-Type: text/calendar; charset=\"x-unknown\"\r\n", b"Content-Type: application/ics; name*=utf-8''%FF%FE\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n",
    b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n",
    b"\r\n", b"--b\r\n", b"--b--\r\n", b"BEGIN:VCALENDAR\r\n", b"END:VCALENDAR\r\n", b"BEGIN:VEVENT\r\n",
    b"END:VEVENT\r\n", b"METHOD:REPLY\r\n", b"ATTENDEE;INVITE=TRUE:mailto:a@b\r\n", b"ORGANIZER;CN=\"x:mailto:y@z\r\n",
    b"ATTENDEE;SENT-BY=mailto:a@b:mailto:c@d\r\n", b"UID:\xff\xfe\r\n", b" folded\r\n", b"\tfold\r\n",
    b"=C3=\r\n", b"QkVHSU46VkNBTEVOREFS\r\n", b"From: a@b\r\n", b"From: \"x\" <@>, <>\r\n", b"\xef\xbb\xbf",
    b"Content-Type: text/calendar; boundary=\"\r\n", b"BEGIN:\r\n", b"END:X\r\n", b"SEQUENCE:x\r\n",
]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MIME_PIECES), max_size=40))
def test_mime_shaped_input_raises_only_mime_errors(pieces):
    try:
        read_message(b"".join(pieces), SMALL_LIMITS)
    except MimeError:
        pass


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MIME_PIECES), max_size=40), st.binary(max_size=200))
def test_calendar_shaped_body_raises_only_mime_errors(pieces, noise):
    body = b"".join(pieces) + noise
    try:
        read_message(HEADERS + b"Content-Type: text/calendar\r\n\r\n" + body, SMALL_LIMITS)
    except MimeError:
        pass
