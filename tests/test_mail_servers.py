"""The mail server fixtures work: Postfix delivers into Dovecot, the SMTP sink sends the replies a test queues."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from tests.servers.fixtures import MailServers
from tests.servers.smtp_sink import TEST_PASSWORD, TEST_USERNAME, SmtpSink


def _message(recipient: str, subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "organizer@example.com"
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@example.com>"
    message.set_content("Hello from the mail server tests.\n")
    return message.as_bytes().replace(b"\n", b"\r\n")


@pytest.mark.postfix
def test_postfix_delivers_into_dovecot(postfix_dovecot: MailServers) -> None:
    subject = f"delivery {uuid.uuid4()}"
    before = len(postfix_dovecot.fetch_all("user@remote.example"))

    with smtplib.SMTP("127.0.0.1", postfix_dovecot.smtp_port, timeout=30) as client:
        client.sendmail("organizer@example.com", ["user@remote.example"], _message("user@remote.example", subject))

    messages = postfix_dovecot.wait_for_messages("user@remote.example", before + 1)
    assert any(subject.encode() in message for message in messages)


@pytest.mark.postfix
def test_postfix_rejects_unrouted_domain(postfix_dovecot: MailServers) -> None:
    with smtplib.SMTP("127.0.0.1", postfix_dovecot.smtp_port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("organizer@example.com", ["someone@elsewhere.invalid"], b"Subject: x\r\n\r\nx\r\n")

    code, text = refused.value.recipients["someone@elsewhere.invalid"]
    assert code == 550
    assert b"routes no mail outside its test domains" in text


@pytest.mark.postfix
def test_postfix_routes_domain_to_sink(postfix_dovecot: MailServers, smtp_sink: SmtpSink) -> None:
    domain = f"sink-{uuid.uuid4().hex[:8]}.example"
    postfix_dovecot.add_route(domain, smtp_sink.port)

    with smtplib.SMTP("127.0.0.1", postfix_dovecot.smtp_port, timeout=30) as client:
        client.sendmail("organizer@example.com", [f"gw@{domain}"], _message(f"gw@{domain}", "routed"))

    received = smtp_sink.wait_for_messages(1, timeout=30)
    assert received[0].rcpt_tos == (f"gw@{domain}",)
    assert received[0].mail_from == "organizer@example.com"


@pytest.mark.postfix
def test_dovecot_imap_login(postfix_dovecot: MailServers) -> None:
    client = postfix_dovecot.dovecot.connect("organizer@example.com")
    try:
        status, _ = client.select("INBOX")
    finally:
        client.logout()

    assert status == "OK"


def test_sink_stores_exact_bytes(smtp_sink: SmtpSink) -> None:
    data = b"Subject: exact\r\n\r\nline one\r\n..leading dot\r\n"

    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("a@example.com", ["b@example.net", "c@example.net"], data)

    received = smtp_sink.wait_for_messages(1)
    assert received[0].mail_from == "a@example.com"
    assert received[0].rcpt_tos == ("b@example.net", "c@example.net")
    assert received[0].data == b"Subject: exact\r\n\r\nline one\r\n..leading dot\r\n"


def test_sink_queued_data_replies(smtp_sink: SmtpSink) -> None:
    smtp_sink.queue_data_replies("451 4.3.0 try again later", count=2)
    data = b"Subject: retry\r\n\r\nbody\r\n"
    codes = []

    for _ in range(3):
        with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
            try:
                client.sendmail("a@example.com", ["b@example.net"], data)
                codes.append(250)
            except smtplib.SMTPDataError as error:
                codes.append(error.smtp_code)

    assert codes == [451, 451, 250]
    assert len(smtp_sink.messages) == 1
    assert len(smtp_sink.rejected) == 2


def test_sink_rejects_one_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_recipient("gone@example.net", "550 5.1.1 no such user")

    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        refused = client.sendmail("a@example.com", ["gone@example.net", "here@example.net"], b"Subject: r\r\n\r\nx\r\n")

    assert refused == {"gone@example.net": (550, b"5.1.1 no such user")}
    assert smtp_sink.wait_for_messages(1)[0].rcpt_tos == ("here@example.net",)


def test_sink_queued_rcpt_reply(smtp_sink: SmtpSink) -> None:
    smtp_sink.queue_rcpt_replies("452 4.5.3 too many recipients")

    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        refused = client.sendmail("a@example.com", ["one@example.net", "two@example.net"], b"Subject: q\r\n\r\nx\r\n")

    assert refused == {"one@example.net": (452, b"4.5.3 too many recipients")}


def test_sink_starttls_and_auth(smtp_sink_factory: Callable[..., SmtpSink]) -> None:
    sink = smtp_sink_factory(starttls=True, auth=True)

    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.starttls(context=sink.client_ssl_context())
        client.login(TEST_USERNAME, TEST_PASSWORD)
        client.sendmail("a@example.com", ["b@example.net"], b"Subject: tls\r\n\r\nx\r\n")

    received = sink.wait_for_messages(1)[0]
    assert received.tls is True
    assert received.auth_user == TEST_USERNAME


def test_sink_rejects_wrong_password(smtp_sink_factory: Callable[..., SmtpSink]) -> None:
    sink = smtp_sink_factory(auth=True)

    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(TEST_USERNAME, "wrong")
