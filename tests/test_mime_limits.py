"""Limits on MIME depth, part count and components, and small parsing units."""

from __future__ import annotations

import pytest

from mime import LimitExceeded, Limits, read_message
from mime.address import parse_cal_address, same_address
from mime.contentline import fold_line, parse_content_line

HEADERS = b"From: a@example.com\r\nMIME-Version: 1.0\r\n"


def nested_mail(depth: int) -> bytes:
    opening = b"".join(
        f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode() for level in range(depth)
    )
    closing = b"".join(f"\r\n--b{level}--".encode() for level in reversed(range(depth)))
    return HEADERS + opening + b"Content-Type: text/plain\r\n\r\nx" + closing + b"\r\n"


def test_depth_within_limit_is_read():
    read_message(nested_mail(5), Limits(mime_depth=5))


def test_depth_over_limit_is_named():
    with pytest.raises(LimitExceeded) as caught:
        read_message(nested_mail(6), Limits(mime_depth=5))
    assert caught.value.limit == "mime_depth"
    assert caught.value.value == 5
    assert "mime_depth = 5" in str(caught.value)


def test_part_count_over_limit():
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10))
    raw = HEADERS + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    read_message(raw, Limits(mime_parts=11))
    with pytest.raises(LimitExceeded) as caught:
        read_message(raw, Limits(mime_parts=10))
    assert caught.value.limit == "mime_parts"


def test_component_count_over_limit():
    alarms = "".join("BEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\n" for _ in range(5))
    calendar = f"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\n{alarms}END:VEVENT\r\nEND:VCALENDAR\r\n"
    raw = HEADERS + b"Content-Type: text/calendar\r\n\r\n" + calendar.encode()
    read_message(raw, Limits(calendar_components=6))
    with pytest.raises(LimitExceeded) as caught:
        read_message(raw, Limits(calendar_components=5))
    assert caught.value.limit == "calendar_components"


def test_deep_nesting_far_past_limit_is_rejected_not_crashing():
    with pytest.raises(LimitExceeded):
        read_message(nested_mail(3000), Limits())


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("mailto:a@Example.COM", "a@example.com"),
        ("MAILTO:A@example.com", "A@example.com"),
        ("a@EXAMPLE.com", "a@example.com"),
        (" mailto:<a@example.com> ", "a@example.com"),
    ],
)
def test_cal_address_forms(text, address):
    assert parse_cal_address(text).address == address


def test_cal_address_other_scheme():
    parsed = parse_cal_address("URN:uuid:1234")
    assert parsed.is_mail is False
    assert parsed.address == "urn:uuid:1234"


def test_same_address_local_part_is_case_sensitive():
    assert same_address("MAILTO:a@EXAMPLE.com", "a@example.com")
    assert not same_address("A@example.com", "a@example.com")


def test_invite_case_insensitive():
    line = parse_content_line("ATTENDEE;invite=tRuE:mailto:a@b")
    assert line.first_value("INVITE") == "tRuE"


def test_quoted_value_with_colon_and_comma():
    line = parse_content_line('ATTENDEE;CN="A: B, C";SENT-BY="mailto:s@x":mailto:a@b')
    assert line.first_value("CN") == "A: B, C"
    assert line.first_value("SENT-BY") == "mailto:s@x"
    assert line.value == "mailto:a@b"
    assert line.ambiguous is False


def test_unquoted_colon_is_ambiguous():
    line = parse_content_line("ORGANIZER;SENT-BY=mailto:boss@x:mailto:doug@x")
    assert line.ambiguous is True


def test_without_parameter_keeps_rest_verbatim():
    line = parse_content_line("ATTENDEE;CN=Doe\\, Jane;INVITE=TRUE;X-Y=\"q\":mailto:a@b")
    assert line.without_parameter("INVITE").to_text() == 'ATTENDEE;CN=Doe\\, Jane;X-Y="q":mailto:a@b'


def test_fold_line_keeps_characters_whole():
    chunks = fold_line("SUMMARY:" + "ü" * 60)
    assert all(len(chunk) <= 75 for chunk in chunks)
    assert b"".join(chunk[1:] if index else chunk for index, chunk in enumerate(chunks)).decode() == "SUMMARY:" + "ü" * 60
