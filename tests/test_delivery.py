"""Delivery to a real SMTP server on loopback: retries, DSNs, STARTTLS and AUTH towards the smarthost."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from pathlib import Path

from gateway.settings import load
from tests.harness import running_gateway, settings_environ, wait_for
from tests.servers.smtp_sink import TEST_PASSWORD, TEST_USERNAME, SmtpSink

MAIL = b"From: a@example.com\r\nTo: b@remote.example\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\r\nText.\r\n"


def send(port: int, mail_from: str, rcpt_tos: list[str], data: bytes = MAIL) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail(mail_from)
        for rcpt in rcpt_tos:
            client.rcpt(rcpt)
        return client.data(data)[0]


async def test_temporary_failures_are_retried_until_delivered(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp_sink.queue_data_replies("451 4.3.0 try again later", count=2)
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}", relay_starttls="none",
        relay_retry_schedule="1s"))
    async with running_gateway(settings) as service:
        assert await asyncio.to_thread(send, settings.smtp.listen[0].port, "a@example.com", ["b@remote.example"]) == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 1, 30)
        assert len(smtp_sink.rejected) == 2
        assert messages[0].rcpt_tos == ("b@remote.example",)
        assert messages[0].data.endswith(MAIL)
        await wait_for(lambda: service.store.outbox_list() == [])


async def test_permanent_failure_sends_dsn_to_sender(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_recipient("gone@remote.example", "550 5.1.1 no such user")
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}", relay_starttls="none"))
    async with running_gateway(settings) as service:
        port = settings.smtp.listen[0].port
        assert await asyncio.to_thread(send, port, "a@example.com", ["gone@remote.example"]) == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 1, 30)
        dsn = messages[0]
        assert dsn.mail_from in ("", "<>")
        assert dsn.rcpt_tos == ("a@example.com",)
        assert b"multipart/report; report-type=delivery-status" in dsn.data
        assert b"Final-Recipient: rfc822; gone@remote.example" in dsn.data
        assert b"Action: failed" in dsn.data
        assert b"550 5.1.1 no such user" in dsn.data
        assert b"Message-ID: <m1@example.com>" in dsn.data
        await wait_for(lambda: service.store.outbox_list() == [])


async def test_failure_with_null_sender_sends_no_dsn(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_recipient("gone@remote.example", "550 5.1.1 no such user")
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}", relay_starttls="none"))
    async with running_gateway(settings) as service:
        assert await asyncio.to_thread(send, settings.smtp.listen[0].port, "", ["gone@remote.example"]) == 250
        await wait_for(lambda: service.store.queued_spool_ids() == [] and service.store.outbox_list() == [])
        await asyncio.sleep(1.5)
        assert smtp_sink.messages == []
        assert service.store.outbox_list() == []


async def test_expired_message_gets_dsn(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_recipient("b@remote.example", "451 4.3.0 try again later")
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{smtp_sink.port}", relay_starttls="none",
        relay_retry_schedule="1s", relay_max_queue_lifetime="2s"))
    async with running_gateway(settings) as service:
        assert await asyncio.to_thread(send, settings.smtp.listen[0].port, "a@example.com", ["b@remote.example"]) == 250
        messages = await asyncio.to_thread(smtp_sink.wait_for_messages, 1, 30)
        assert messages[0].rcpt_tos == ("a@example.com",)
        assert b"Action: failed" in messages[0].data
        assert b"451 4.3.0 try again later" in messages[0].data
        await wait_for(lambda: service.store.outbox_list() == [])


async def test_starttls_and_auth_towards_smarthost(
    tmp_path: Path, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink_factory(starttls=True, auth=True)
    password_file = tmp_path / "relay-password"
    password_file.write_text(TEST_PASSWORD + "\n")
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{sink.port}", relay_starttls="required",
        relay_ca_file=str(sink.certificate_path), relay_username=TEST_USERNAME,
        relay_password_file=str(password_file)))
    async with running_gateway(settings):
        assert await asyncio.to_thread(send, settings.smtp.listen[0].port, "a@example.com", ["b@remote.example"]) == 250
        messages = await asyncio.to_thread(sink.wait_for_messages, 1, 30)
        assert messages[0].tls is True
        assert messages[0].auth_user == TEST_USERNAME


async def test_smarthost_auth_refusal_defers_instead_of_bouncing(
    tmp_path: Path, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    sink = smtp_sink_factory(auth=True)
    password_file = tmp_path / "relay-password"
    password_file.write_text("not the password\n")
    settings = load(None, environ=settings_environ(
        tmp_path / "state", relay_smarthost=f"127.0.0.1:{sink.port}", relay_starttls="none",
        relay_username=TEST_USERNAME, relay_password_file=str(password_file), relay_retry_schedule="1h"))
    async with running_gateway(settings) as service:
        assert await asyncio.to_thread(send, settings.smtp.listen[0].port, "a@example.com", ["b@remote.example"]) == 250
        rows = await wait_for(lambda: [r for r in service.store.outbox_list() if r["attempts"] >= 1])
        assert len(rows) == 1
        assert rows[0]["kind"] == "relay"
        assert f"smarthost refused AUTH for {TEST_USERNAME}" in rows[0]["last_error"]
        assert sink.messages == []
