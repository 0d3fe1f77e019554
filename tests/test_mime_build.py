"""Outbound builders: INVITATION component and mail, notices, DSNs, relayed REPLYs."""

from __future__ import annotations

import datetime
import email
import email.policy

import icalendar
import pytest

from mime import (
    InvalidValue,
    NotCalendar,
    build_dsn,
    build_held_notice,
    build_invitation_body,
    build_invitation_component,
    build_relayed_reply,
    canonical_bytes,
    parse_invitation,
    read_message,
    remove_verdict_headers,
    strip_pw,
    wrap_outer,
)

STAMP = datetime.datetime(2026, 12, 4, 10, 15, tzinfo=datetime.timezone.utc)
OTPKEY = "md5-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
URL = "https://cal.example.com/signup/Zm9vYmFy"


def component(**overrides) -> bytes:
    arguments = dict(
        uid="abc123@gw.example.com",
        dtstamp=STAMP,
        target="cap://cal.example.com",
        organizer="doug@example.com",
        organizer_cn="Doug",
        attendee="guest@remote.example",
        otpkey=OTPKEY,
        url=URL,
        prodid="-//Example//imip-gateway 0.1.0//EN",
    )
    arguments.update(overrides)
    return build_invitation_component(**arguments)


def test_invitation_component_lines():
    lines = component().decode("utf-8").split("\r\n")
    assert lines == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example//imip-gateway 0.1.0//EN",
        "BEGIN:INVITATION",
        "UID:abc123@gw.example.com",
        "SEQUENCE:0",
        "DTSTAMP:20261204T101500Z",
        "TARGET:cap://cal.example.com",
        "ORGANIZER;CN=Doug:mailto:doug@example.com",
        "ATTENDEE:mailto:guest@remote.example",
        f"OTPKEY:{OTPKEY}",
        f"URL:{URL}",
        "END:INVITATION",
        "END:VCALENDAR",
        "",
    ]


def test_invitation_component_has_no_method():
    assert b"METHOD" not in component()


def test_invitation_component_without_url():
    assert b"URL:" not in component(url=None)


def test_invitation_component_quotes_cn():
    assert b'ORGANIZER;CN="Manager, Doug":mailto:doug@example.com' in component(organizer_cn="Manager, Doug")


def test_invitation_component_rejects_line_break():
    with pytest.raises(InvalidValue):
        component(target="cap://x\r\nATTENDEE:mailto:evil@example.com")


def test_invitation_round_trip():
    invitation = parse_invitation(component(sequence=2))
    assert invitation.uid == "abc123@gw.example.com"
    assert invitation.sequence == 2
    assert invitation.target == "cap://cal.example.com"
    assert [a.address for a in invitation.organizers] == ["doug@example.com"]
    assert invitation.organizer_cn == "Doug"
    assert [a.address for a in invitation.attendees] == ["guest@remote.example"]
    assert invitation.otpkey == OTPKEY
    assert invitation.url == URL


def test_invitation_lenient_forms():
    data = (
        b"BEGIN:INVITATION\nTARGET:CAP:cal.example.com\n"
        b"ORGANIZER:doug@example.com,mailto:ann@example.com\n"
        b"ATTENDEE:Guest@Remote.Example\nOTPKEY:MD5-0F1E2D3C4B5A69788796A5B4C3D2E1F0\nEND:INVITATION\n"
    )
    invitation = parse_invitation(data)
    assert invitation.target == "cap://cal.example.com"
    assert invitation.target_original == "CAP:cal.example.com"
    assert [a.address for a in invitation.organizers] == ["doug@example.com", "ann@example.com"]
    assert [a.address for a in invitation.attendees] == ["Guest@remote.example"]
    assert invitation.otpkey == OTPKEY
    assert invitation.sequence == 0


def test_invitation_missing():
    with pytest.raises(NotCalendar):
        parse_invitation(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")


def body():
    return build_invitation_body(
        organizer="mailto:doug@example.com",
        organizer_cn="Doug Manager",
        attendee="guest@remote.example",
        summary="Quarterly planning",
        start="10 December 2026, 10:00 CET",
        target="cap://cal.example.com",
        otpkey=OTPKEY,
        url=URL,
        invitation_component=component(),
    )


def test_invitation_body_parts():
    message = body()
    types = [part.get_content_type() for part in message.iter_parts()]
    assert message.get_content_type() == "multipart/alternative"
    assert types == ["text/plain", "text/html", "text/calendar"]
    assert message.get_all("MIME-Version") is None


def test_invitation_body_text_says_who_what_how():
    text = body().get_body(("plain",)).get_content()
    assert "Doug Manager <doug@example.com> has invited you" in text
    assert '"Quarterly planning"' in text
    assert URL in text
    assert OTPKEY in text
    assert "challenge" in text


def test_invitation_body_html_escapes():
    message = build_invitation_body(
        organizer="doug@example.com", organizer_cn="<b>Doug</b>", attendee="guest@remote.example",
        summary="A & B", start=None, target="cap://x", otpkey=None, url=URL, invitation_component=component(),
    )
    html = message.get_body(("html",)).get_content()
    assert "&lt;b&gt;Doug&lt;/b&gt;" in html
    assert "A &amp; B" in html


def test_invitation_calendar_part_is_component():
    part = list(body().iter_parts())[2]
    assert part.get_param("component") == "INVITATION"
    assert parse_invitation(part.get_content().encode("utf-8")).otpkey == OTPKEY


def test_canonical_bytes_are_crlf_and_7bit():
    data = canonical_bytes(body())
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_canonical_bytes_reencode_8bit():
    from email.message import EmailMessage

    message = EmailMessage()
    message.set_content("Grüße\n", cte="8bit")
    data = canonical_bytes(message)
    assert data.isascii()
    assert b"quoted-printable" in data


def test_wrap_outer_headers():
    data = wrap_outer(
        b"Content-Type: text/plain\r\n\r\nhello\r\n",
        from_address="imip-gateway@gw.example.com",
        to="guest@remote.example",
        subject="Invitation to a calendar",
        message_id="<1@gw.example.com>",
        date=STAMP,
    )
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Invitation to a calendar"
    assert message["MIME-Version"] == "1.0"
    assert data.endswith(b"\r\n\r\nhello\r\n")


def test_wrap_outer_rejects_header_injection():
    with pytest.raises(InvalidValue):
        wrap_outer(b"", from_address="a@b.example", to="c@d.example", subject="x\r\nBcc: e@f.example",
                   message_id="<1@x>", date=STAMP)


def test_held_notice_names_no_secret():
    notice = build_held_notice(
        from_address="imip-gateway@gw.example.com", organizer="mailto:doug@example.com",
        attendee="mailto:guest@remote.example", summary="Quarterly planning",
        message_id="<2@gw.example.com>", date=STAMP,
    )
    text = notice.get_content()
    assert notice["To"] == "doug@example.com"
    assert "guest@remote.example" in text
    assert "held" in text
    assert "certificate or key" in text


ORIGINAL = (
    b"From: doug@example.com\r\nTo: guest@remote.example\r\nSubject: Planning\r\n"
    b"Message-ID: <orig@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
)


def test_dsn_structure():
    data = build_dsn(
        ORIGINAL, envelope_from="doug@example.com", recipient="guest@remote.example", status="5.1.1",
        diagnostic="550 5.1.1 no such user\r\n", reporting_mta="gw.example.com",
        message_id="<dsn-1@gw.example.com>", date=STAMP,
    )
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert b"Action: failed\r\nStatus: 5.1.1\r\n" in data
    assert b"Final-Recipient: rfc822; guest@remote.example" in data
    assert b"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n" in data
    assert b"Message-ID: <orig@example.com>" in data
    assert b"body" not in data.split(b"text/rfc822-headers")[1]


def test_dsn_delay_for_4xx():
    data = build_dsn(
        ORIGINAL, envelope_from="doug@example.com", recipient="guest@remote.example", status="4.4.1",
        diagnostic="timed out", reporting_mta="gw.example.com", message_id="<d@x>", date=STAMP,
    )
    assert b"Action: delayed" in data


def test_dsn_rejects_bad_status():
    with pytest.raises(InvalidValue):
        build_dsn(ORIGINAL, envelope_from="a@b", recipient="c@d", status="550", diagnostic="",
                  reporting_mta="x", message_id="<d@x>", date=STAMP)


INNER = (
    b"Content-Type: text/calendar; charset=utf-8; method=REPLY\r\n"
    b"X-Imip-Gateway-Verdict: valid (planted inside)\r\n\r\n"
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:bare-1@example.com\r\n"
    b"ORGANIZER:mailto:doug@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:guest@remote.example\r\n"
    b"PW:0x3503785b369cda8b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
SIGNED_HEADERS = (
    b"From: guest@remote.example\r\nTo: doug@example.com\r\nSubject: Accepted\r\n"
    b"X-Imip-Gateway-Verdict: valid (planted)\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n boundary="x"\r\n'
)


def test_relayed_reply():
    data = strip_pw(build_relayed_reply(INNER, SIGNED_HEADERS, "valid; signer=guest@remote.example"))
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message.get_all("X-Imip-Gateway-Verdict") == ["valid; signer=guest@remote.example"]
    assert message.get_content_type() == "text/calendar"
    assert message["Subject"] == "Accepted"
    assert len(message.get_all("MIME-Version")) == 1
    parsed = read_message(data)
    assert parsed.objects[0].pw is None
    assert parsed.objects[0].attendees[0].partstat == "ACCEPTED"


def test_relayed_reply_rejects_multiline_verdict():
    with pytest.raises(InvalidValue):
        build_relayed_reply(INNER, SIGNED_HEADERS, "valid\r\nX-Other: 1")


def test_remove_verdict_headers_keeps_everything_else():
    raw = b"From: a@b\r\nX-Imip-Gateway-Verdict: valid\r\nx-imip-gateway-verdict: also\r\n\tfolded\r\nTo: c@d\r\n\r\nX-Imip-Gateway-Verdict: body\r\n"
    assert remove_verdict_headers(raw) == b"From: a@b\r\nTo: c@d\r\n\r\nX-Imip-Gateway-Verdict: body\r\n"


def test_invitation_component_parses_with_icalendar():
    calendar = icalendar.Calendar.from_ical(component())
    invitation = [c for c in calendar.subcomponents if c.name == "INVITATION"][0]
    assert str(invitation["OTPKEY"]) == OTPKEY
