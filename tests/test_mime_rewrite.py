"""Rewrites for relay change what they must and leave every other byte alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import icalendar
import pytest

from mime import (
    AmbiguousLine,
    InvalidValue,
    MalformedCalendar,
    add_challenge,
    read_message,
    rewrite,
    strip_invite,
    strip_pw,
)
from mime.parts import calendar_parts, part_content
from mime.rawmime import parse_mime
from mime.limits import Limits
from mime.unfold import normalize_line_endings, unfold_lines

MAIL = Path(__file__).parent / "data" / "mail"
CHALLENGE = "otp-md5 498 gwk3x9"

AMBIGUOUS = "ambiguous-unquoted-colon-in-parameter.eml"

CALENDAR_MAILS = sorted(
    path.name
    for path in MAIL.glob("*.eml")
    if read_message(path.read_bytes()).objects and path.name != AMBIGUOUS
)


def calendar_ranges(raw: bytes) -> list[tuple[int, int]]:
    return [(part.start, part.end) for part in calendar_parts(parse_mime(raw, Limits()))]


def outside_parts(raw: bytes) -> list[bytes]:
    """Return the bytes between calendar parts, which no rewrite may touch."""
    pieces = []
    position = 0
    for start, end in calendar_ranges(raw):
        pieces.append(raw[position:start])
        position = end
    pieces.append(raw[position:])
    return pieces


def calendar_lines(raw: bytes) -> list[list[str]]:
    root = parse_mime(raw, Limits())
    result = []
    for part in calendar_parts(root):
        data = normalize_line_endings(part_content(raw, part)).removeprefix(b"\xef\xbb\xbf")
        result.append([line.decode("utf-8", "replace") for line in unfold_lines(data)])
    return result


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


@pytest.mark.parametrize("name", CALENDAR_MAILS)
def test_rewrite_keeps_bytes_outside_calendar_parts(name):
    raw = load(name)
    rewritten = rewrite(raw, remove_invite=True, challenge=CHALLENGE).data
    assert outside_parts(rewritten) == outside_parts(raw)


@pytest.mark.parametrize("name", CALENDAR_MAILS)
def test_rewrite_leaves_no_invite(name):
    rewritten = strip_invite(load(name))
    assert not any(a.invite for item in read_message(rewritten).objects for a in item.attendees)
    for part in calendar_parts(parse_mime(rewritten, Limits())):
        assert b"INVITE=" not in part_content(rewritten, part).upper()


def test_ambiguous_invite_line_is_rejected():
    with pytest.raises(AmbiguousLine):
        strip_invite(load(AMBIGUOUS))


def test_ambiguous_line_without_invite_passes():
    raw = load(AMBIGUOUS)
    rewritten = add_challenge(raw, CHALLENGE)
    assert b"ORGANIZER;SENT-BY=mailto:mallory@evil.example:mailto:doug@example.com\r\n" in rewritten


@pytest.mark.parametrize("name", CALENDAR_MAILS)
def test_rewrite_changes_only_invite_parameters(name):
    raw = load(name)
    before = read_message(raw)
    after = read_message(strip_invite(raw))
    assert after.method == before.method
    assert len(after.objects) == len(before.objects)
    for old, new in zip(before.objects, after.objects):
        expected = [dataclasses.replace(a, invite=False, params={k: v for k, v in a.params.items() if k != "INVITE"})
                    for a in old.attendees]
        assert new.attendees == tuple(expected)
        assert dataclasses.replace(new, attendees=()) == dataclasses.replace(old, attendees=())


def test_rewrite_keeps_other_lines_exactly():
    raw = load("outlook-request-qp-windows-tzid-tab-folds.eml")
    before = calendar_lines(raw)[0]
    after = calendar_lines(strip_invite(raw))[0]
    assert len(after) == len(before)
    for old, new in zip(before, after):
        assert new == old.replace(";INVITE=TRUE", "")


def test_rewrite_writes_content_type_method_and_utf8():
    raw = load("content-type-method-contradicts-object.eml")
    rewritten = add_challenge(raw, CHALLENGE)
    assert b"Content-Type: text/calendar; charset=UTF-8; method=CANCEL\r\n" in rewritten


def test_rewrite_folds_at_75_octets_on_character_boundaries():
    raw = load("utf8-sequence-split-by-fold.eml")
    rewritten = add_challenge(raw, CHALLENGE)
    body = rewritten.split(b"\r\n\r\n", 1)[1]
    for line in body.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")
    item = read_message(rewritten).objects[0]
    assert item.summary == "Besprechung über Prüfungsergebnisse und Änderungen für das Jahr"


def test_rewrite_of_windows_1252_is_utf8():
    rewritten = add_challenge(load("windows-1252-without-charset.eml"), CHALLENGE)
    parsed = read_message(rewritten)
    assert parsed.objects[0].organizer.cn == "Renée Dupré"
    assert parsed.calendar_parts[0].charset == "utf-8"
    assert parsed.problems == ()


def test_rewrite_switches_7bit_to_quoted_printable_for_utf8():
    raw = load("windows-1252-without-charset.eml").replace(b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: 7bit")
    rewritten = add_challenge(raw, CHALLENGE)
    part = calendar_parts(parse_mime(rewritten, Limits()))[0]
    assert part.transfer_encoding == "quoted-printable"
    assert rewritten[part.start:part.end].isascii()


def test_google_ics_copy_is_rewritten_too():
    rewritten = strip_invite(load("google-request-mixed-with-ics-copy.eml"))
    parsed = read_message(rewritten)
    assert len(parsed.calendar_parts) == 2
    assert parsed.calendar_parts[1].duplicate_of is not None
    assert b"Content-Type: application/ics; charset=UTF-8; method=REQUEST; name=invite.ics\r\n" in rewritten


def test_challenge_added_to_each_component():
    parsed = read_message(add_challenge(load("nextcloud-request-master-and-override.eml"), CHALLENGE))
    assert [item.challenge for item in parsed.objects] == [CHALLENGE, CHALLENGE]


def test_challenge_goes_before_valarm():
    lines = calendar_lines(add_challenge(load("google-request-mixed-with-ics-copy.eml"), CHALLENGE))[0]
    assert lines.index("CHALLENGE:" + CHALLENGE) == lines.index("BEGIN:VALARM") - 1


def test_challenge_replaces_planted_one():
    raw = load("bare-calendar-whole-message.eml").replace(b"SUMMARY:Stand-up", b"SUMMARY:Stand-up\r\nCHALLENGE:otp-md5 5 planted")
    lines = calendar_lines(add_challenge(raw, CHALLENGE))[0]
    assert [line for line in lines if line.startswith("CHALLENGE")] == ["CHALLENGE:" + CHALLENGE]


def test_challenge_with_line_break_is_rejected():
    with pytest.raises(InvalidValue):
        add_challenge(load("bare-calendar-whole-message.eml"), "otp-md5 498 x\r\nATTENDEE:mailto:x@y")


def test_strip_pw_removes_only_pw():
    raw = load("reply-with-pw.eml")
    before = calendar_lines(raw)[0]
    after = calendar_lines(strip_pw(raw))[0]
    assert after == [line for line in before if not line.startswith("PW:")]
    assert read_message(strip_pw(raw)).objects[0].pw is None


def test_rewrite_reports_no_change():
    raw = load("request-override-only.eml")
    result = rewrite(raw, remove_invite=True, remove_password=True)
    assert result.changed is False
    assert result.data == raw


def test_rewrite_of_mail_without_calendar_is_identity():
    raw = load("exchange-tnef-only.eml")
    assert strip_invite(raw) == raw


def test_rewritten_calendar_parses_with_icalendar():
    rewritten = add_challenge(strip_invite(load("outlook-request-qp-windows-tzid-tab-folds.eml")), CHALLENGE)
    part = calendar_parts(parse_mime(rewritten, Limits()))[0]
    calendar = icalendar.Calendar.from_ical(part_content(rewritten, part))
    events = [c for c in calendar.walk("VEVENT")]
    assert events[0]["CHALLENGE"] == CHALLENGE
    assert len(calendar.walk("VTIMEZONE")) == 1
    assert len(calendar.walk("VALARM")) == 1


def test_rewrite_keeps_lf_only_mail_lf():
    raw = load("bom-with-lf-only.eml")
    rewritten = strip_invite(raw)
    assert b"\r" not in rewritten
    assert read_message(rewritten).objects[0].uid == "bom-lf-1@example.org"


def test_malformed_calendar_is_not_relayed_unedited():
    raw = load("bare-calendar-whole-message.eml").replace(b"END:VEVENT\r\n", b"")
    with pytest.raises(MalformedCalendar):
        strip_invite(raw)
