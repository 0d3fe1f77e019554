"""The reader against hand-written mails in the shapes real clients send.

Each expectation is written from the calendar put into the mail, so a
reader bug shows as a mismatch here, not as a changed snapshot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mime import read_message

MAIL = Path(__file__).parent / "data" / "mail"

GUEST = "guest@remote.example"
DOUG = "doug@example.com"
GOOGLE_UID = "7kq2b1m3n4o5p6q7r8s9t0u1v2@google.com"
OUTLOOK_UID = (
    "040000008200E00074C5B7101A82E00800000000B0E1C2D3E4F5D901000000000000000"
    "0100000001A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7"
)


def event(uid, sequence, organizer, attendees, component="VEVENT", recurrence_id=None):
    return {
        "component": component,
        "uid": uid,
        "sequence": sequence,
        "recurrence_id": recurrence_id,
        "organizer": organizer,
        "attendees": attendees,
    }


# file name -> (method, objects, problem fragments that must appear)
# Attendees are (address, invite, partstat, cn).
EXPECTED = {
    "outlook-request-qp-windows-tzid-tab-folds.eml": (
        "REQUEST",
        [event(OUTLOOK_UID, 0, DOUG, [
            (GUEST, True, "NEEDS-ACTION", GUEST),
            ("ann@example.com", False, "NEEDS-ACTION", "Ann Local"),
        ])],
        [],
    ),
    "google-request-mixed-with-ics-copy.eml": (
        "REQUEST",
        [event(GOOGLE_UID, 0, DOUG, [
            (GUEST, True, "NEEDS-ACTION", GUEST),
            (DOUG, False, "ACCEPTED", DOUG),
        ])],
        [],
    ),
    "bare-calendar-whole-message.eml": (
        "REQUEST",
        [event("bare-1@example.com", 3, DOUG, [(GUEST, True, "NEEDS-ACTION", None)])],
        [],
    ),
    "utf8-sequence-split-by-fold.eml": (
        "REQUEST",
        [event("utf8-fold-1@example.com", 1, "juergen@example.de", [(GUEST, False, "NEEDS-ACTION", "Guest")])],
        [],
    ),
    "windows-1252-without-charset.eml": (
        "REQUEST",
        [event("cp1252-1@example.fr", None, "renee@example.fr", [
            ("andre@remote.example", False, "NEEDS-ACTION", "André"),
        ])],
        ["Windows-1252"],
    ),
    "cr-cr-lf-line-endings.eml": (
        "REQUEST",
        [event("crcrlf-1@example.com", 2, DOUG, [(GUEST, False, "NEEDS-ACTION", None)])],
        [],
    ),
    "bom-with-lf-only.eml": (
        "REQUEST",
        [event("bom-lf-1@example.org", 0, "ola@example.org", [
            (GUEST, True, "NEEDS-ACTION", "Guest"),
            ("per@example.org", False, "TENTATIVE", "Per"),
        ])],
        [],
    ),
    "reply-without-organizer.eml": (
        "REPLY",
        [event("bare-1@example.com", 3, None, [(GUEST, False, "ACCEPTED", "Guest Person")])],
        ["has no ORGANIZER"],
    ),
    "request-override-only.eml": (
        "REQUEST",
        [event("weekly-1@example.com", 4, DOUG, [(GUEST, False, "NEEDS-ACTION", None)],
               recurrence_id="20261221T090000")],
        [],
    ),
    "exchange-tnef-only.eml": (None, [], ["TNEF"]),
    "apple-request-base64-inline.eml": (
        "REQUEST",
        [event("A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF", 1, "claire@example.fr", [
            ("claire@example.fr", False, "ACCEPTED", "Claire Martin"),
            (GUEST, True, "NEEDS-ACTION", GUEST),
        ])],
        [],
    ),
    "thunderbird-reply-with-ics-copy.eml": (
        "REPLY",
        [event(GOOGLE_UID, 0, DOUG, [(GUEST, False, "ACCEPTED", GUEST)])],
        [],
    ),
    "nextcloud-request-master-and-override.eml": (
        "REQUEST",
        [
            event("nc-series-42", 2, "nina@cloud.example", [(GUEST, True, "NEEDS-ACTION", "Guest")]),
            event("nc-series-42", 2, "nina@cloud.example", [(GUEST, True, "NEEDS-ACTION", "Guest")],
                  recurrence_id="20261214T140000"),
        ],
        [],
    ),
    "zimbra-cancel.eml": (
        "CANCEL",
        [event("zimbra-9f8e7d6c-5b4a", 5, "zoe@zimbra.example", [(GUEST, False, "NEEDS-ACTION", "Guest")])],
        [],
    ),
    "proton-request-ics-attachment.eml": (
        "REQUEST",
        [event("pr0t0n-uid-abc123@proton.me", 0, "pat@proton.example", [(GUEST, False, "NEEDS-ACTION", GUEST)])],
        [],
    ),
    "content-type-method-contradicts-object.eml": (
        "CANCEL",
        [event("mismatch-1@example.com", 1, DOUG, [(GUEST, False, None, None)])],
        ["method=REQUEST contradicts METHOD:CANCEL"],
    ),
    "content-type-without-method.eml": (
        "REQUEST",
        [event("nomethod-1@example.com", None, DOUG, [(GUEST, False, "NEEDS-ACTION", None)])],
        [],
    ),
    "content-type-method-lower-case.eml": (
        "REPLY",
        [event("nomethod-1@example.com", None, DOUG, [(GUEST, False, "DECLINED", None)])],
        [],
    ),
    "mailto-upper-case-and-scheme-less.eml": (
        "REQUEST",
        [event("schemes-1@example.com", 0, "Doug@example.com", [
            ("Guest@remote.example", True, "NEEDS-ACTION", None),
            ("ann@example.com", False, "ACCEPTED", None),
        ])],
        [],
    ),
    "ambiguous-unquoted-colon-in-parameter.eml": (
        "REQUEST",
        [event("ambiguous-1@example.com", 0, None, [("plain@remote.example", True, "NEEDS-ACTION", None)])],
        ["ORGANIZER line is ambiguous", "ATTENDEE line is ambiguous"],
    ),
    "parameters-escaped-comma-and-quoted-values.eml": (
        "REQUEST",
        [event("params-1@example.com", 7, DOUG, [
            ("jane@remote.example", True, "DELEGATED", "Doe, Jane"),
            ("room412@example.com", False, "ACCEPTED", "Room: 4.12, North"),
            ("a@remote.example", True, "NEEDS-ACTION", None),
        ])],
        [],
    ),
    "reply-with-valarm-and-two-attendees.eml": (
        "REPLY",
        [event("bare-1@example.com", 3, DOUG, [
            (GUEST, False, "ACCEPTED", None),
            ("ann@example.com", False, "NEEDS-ACTION", None),
        ])],
        ["VALARM", "2 ATTENDEEs"],
    ),
    "reply-with-pw.eml": (
        "REPLY",
        [event("bare-1@example.com", 3, DOUG, [(GUEST, False, "ACCEPTED", "Gäst")])],
        [],
    ),
    "smime-signed-reply.eml": (
        "REPLY",
        [event("bare-1@example.com", 3, DOUG, [(GUEST, False, "ACCEPTED", None)])],
        [],
    ),
    "pgp-signed-reply.eml": (
        "REPLY",
        [event("nc-series-42", 2, "nina@cloud.example", [(GUEST, False, "TENTATIVE", None)])],
        [],
    ),
    "smime-encrypted.eml": (None, [], ["encrypted"]),
    "pgp-encrypted.eml": (None, [], ["encrypted"]),
    "calendar-beside-signed-part.eml": (
        "REPLY",
        [event("bare-1@example.com", 3, DOUG, [(GUEST, False, "ACCEPTED", None)])],
        ["signs nothing"],
    ),
    "deeply-nested-vtodo-request.eml": (
        "REQUEST",
        [event("todo-7@example.com", 1, DOUG, [(GUEST, True, "NEEDS-ACTION", "Guest")], component="VTODO")],
        [],
    ),
    "bare-cr-line-endings-base64.eml": (
        "REQUEST",
        [event("bare-cr-1@example.com", 0, DOUG, [(GUEST, False, "NEEDS-ACTION", None)])],
        [],
    ),
    "smime-opaque-signed.eml": (None, [], ["signed-data"]),
    "plain-text-no-calendar.eml": (None, [], []),
    "octet-stream-ics-and-forwarded-message.eml": (
        "REQUEST",
        [event("octet-1@example.net", 0, "olga@example.net", [(GUEST, False, "NEEDS-ACTION", None)])],
        [],
    ),
}


def read(name: str):
    return read_message((MAIL / name).read_bytes())


def facts(parsed) -> list[dict]:
    return [
        {
            "component": item.component,
            "uid": item.uid,
            "sequence": item.sequence,
            "recurrence_id": item.recurrence_id,
            "organizer": item.organizer.address.address if item.organizer else None,
            "attendees": [(a.address.address, a.invite, a.partstat, a.cn) for a in item.attendees],
        }
        for item in parsed.objects
    ]


def test_corpus_is_complete():
    on_disk = {path.name for path in MAIL.glob("*.eml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_method(name):
    assert read(name).method == EXPECTED[name][0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_objects(name):
    assert facts(read(name)) == EXPECTED[name][1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_problems(name):
    problems = read(name).problems
    expected = EXPECTED[name][2]
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    if not expected:
        assert problems == ()


def test_google_ics_copy_is_one_object():
    parsed = read("google-request-mixed-with-ics-copy.eml")
    assert len(parsed.calendar_parts) == 2
    assert parsed.calendar_parts[0].duplicate_of is None
    assert parsed.calendar_parts[1].duplicate_of == parsed.calendar_parts[0].path
    assert parsed.calendar_parts[1].content_type == "application/ics"


def test_outlook_keeps_quoted_windows_tzid():
    item = read("outlook-request-qp-windows-tzid-tab-folds.eml").objects[0]
    assert item.start == "20261210T100000"
    assert item.start_tzid == "W. Europe Standard Time"
    assert item.summary == "Quarterly planning"


def test_utf8_split_by_fold_decodes_summary():
    item = read("utf8-sequence-split-by-fold.eml").objects[0]
    assert item.summary == "Besprechung über Prüfungsergebnisse und Änderungen für das Jahr"
    assert item.organizer.cn == "Jürgen Müller"


def test_windows_1252_fallback_decodes_names():
    parsed = read("windows-1252-without-charset.eml")
    assert parsed.objects[0].summary == "Réunion – café"
    assert parsed.objects[0].organizer.cn == "Renée Dupré"
    assert parsed.calendar_parts[0].charset == "cp1252"


def test_original_spelling_is_kept():
    item = read("mailto-upper-case-and-scheme-less.eml").objects[0]
    assert item.organizer.address.original == "MAILTO:Doug@Example.COM"
    assert item.attendees[0].address.original == "Guest@Remote.Example"
    assert item.attendees[0].address.same_as("mailto:Guest@REMOTE.example")


def test_ambiguous_line_never_yields_mallory():
    parsed = read("ambiguous-unquoted-colon-in-parameter.eml")
    addresses = [a.address.address for a in parsed.objects[0].attendees]
    assert parsed.objects[0].organizer is None
    assert "mallory@evil.example" not in addresses
    assert GUEST not in addresses


def test_parameters_sent_by_and_delegated_to():
    item = read("parameters-escaped-comma-and-quoted-values.eml").objects[0]
    assert item.organizer.cn == "Manager, Doug"
    assert item.organizer.sent_by.address == "assistant@example.com"
    delegated = [address.address for address in item.attendees[0].delegated_to]
    assert delegated == ["a@remote.example", "b@remote.example"]


def test_reply_pw_is_read():
    assert read("reply-with-pw.eml").objects[0].pw == "0x3503785b369cda8b"


def test_signed_reply_calendar_is_inside_signature():
    parsed = read("smime-signed-reply.eml")
    assert parsed.calendar_parts[0].signed is True


def test_calendar_beside_signed_part_is_unsigned():
    parsed = read("calendar-beside-signed-part.eml")
    assert parsed.calendar_parts[0].signed is False


def test_encrypted_flag():
    assert read("smime-encrypted.eml").encrypted is True
    assert read("pgp-encrypted.eml").encrypted is True
    assert read("pgp-signed-reply.eml").encrypted is False


def test_forwarded_message_is_not_read():
    uids = [item.uid for item in read("octet-stream-ics-and-forwarded-message.eml").objects]
    assert "forwarded-1@example.com" not in uids


def test_header_facts():
    parsed = read("outlook-request-qp-windows-tzid-tab-folds.eml")
    assert parsed.message_id == "<OUT1234@EX01.example.com>"
    assert parsed.from_address == DOUG
