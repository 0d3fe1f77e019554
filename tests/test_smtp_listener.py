import asyncio
import smtplib
import ssl
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.harness import make_settings, make_tls_certificate, running_gateway, wait_for

PLAIN_MAIL = b"From: a@example.com\r\nTo: b@remote.example\r\nSubject: hello\r\n\r\nJust text.\r\n"


def smtp_send(port: int, mail_from: str, rcpt_tos: list[str], data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail(mail_from)
        for rcpt in rcpt_tos:
            code, text = client.rcpt(rcpt)
            if code != 250:
                return code, text
        return client.data(data)


def smtp_dialogue(port: int, lines: list[bytes]) -> bytes:
    """Send raw chunks, each expecting one SMTP reply, and return every reply the server sent."""
    import re
    import socket

    final_line = re.compile(rb"(^|\r\n)\d{3} [^\r\n]*\r\n$")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        transcript = b""
        for line in [b""] + lines:
            sock.sendall(line)
            reply = b""
            while not final_line.search(reply):
                chunk = sock.recv(4096)
                if not chunk:
                    return transcript + reply
                reply += chunk
            transcript += reply
        return transcript


async def test_trusted_client_relays_to_foreign_domain(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with running_gateway(settings) as service:
        port = settings.smtp.listen[0].port
        code, text = await asyncio.to_thread(smtp_send, port, "a@example.com", ["b@remote.example"], PLAIN_MAIL)
        assert code == 250
        assert text.startswith(b"2.0.0 Ok: queued as ")
        queue_id = text.split()[-1].decode()

        rows = await wait_for(lambda: service.store.outbox_list())
        assert rows[0]["spool_id"] == queue_id
        entry = service.store.get_outbox(rows[0]["id"])
        assert entry is not None
        assert entry.rcpt_tos == ("b@remote.example",)
        assert entry.raw.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby gateway.test (imip-gateway)")
        assert entry.raw.endswith(PLAIN_MAIL)


async def test_untrusted_client_cannot_relay_but_reaches_local_domain(state_dir: Path) -> None:
    settings = make_settings(state_dir, smtp_trusted_networks="192.0.2.0/24")
    async with running_gateway(settings) as service:
        port = settings.smtp.listen[0].port
        code, text = await asyncio.to_thread(smtp_send, port, "x@remote.example", ["b@foreign.example"], PLAIN_MAIL)
        assert code == 550
        assert b"5.7.1 Relaying denied for <b@foreign.example>" in text

        code, _ = await asyncio.to_thread(smtp_send, port, "x@remote.example", ["Organizer@EXAMPLE.com"], PLAIN_MAIL)
        assert code == 250
        rows = await wait_for(lambda: service.store.outbox_list())
        assert len(rows) == 1


async def test_size_is_announced_and_enforced(state_dir: Path) -> None:
    settings = make_settings(state_dir, smtp_max_message_size="2048")
    async with running_gateway(settings):
        port = settings.smtp.listen[0].port

        def ehlo_features() -> dict[str, str]:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("client.test")
                return dict(client.esmtp_features)

        assert (await asyncio.to_thread(ehlo_features))["size"] == "2048"
        big = PLAIN_MAIL + (b"x" * 70 + b"\r\n") * 60
        code, text = await asyncio.to_thread(smtp_send, port, "a@example.com", ["b@remote.example"], big)
        assert code == 552


async def test_bare_lf_dot_smuggles_nothing(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with running_gateway(settings) as service:
        port = settings.smtp.listen[0].port
        reply = await asyncio.to_thread(
            smtp_dialogue,
            port,
            [
                b"EHLO client.test\r\n",
                b"MAIL FROM:<a@example.com>\r\n",
                b"RCPT TO:<b@remote.example>\r\n",
                b"DATA\r\n",
                b"Subject: first\r\n\r\nbody\n.\nMAIL FROM:<evil@example.com>\nRCPT TO:<c@remote.example>\n"
                b"DATA\nSubject: smuggled\n\nsecond\n.\r\n.\r\n",
                b"QUIT\r\n",
            ],
        )
        assert reply.count(b"250 2.0.0 Ok: queued as") == 1
        rows = await wait_for(lambda: service.store.outbox_list())
        assert len(rows) == 1
        entry = service.store.get_outbox(rows[0]["id"])
        assert entry is not None
        assert entry.rcpt_tos == ("b@remote.example",)
        assert b"Subject: smuggled" in entry.raw


async def test_store_failure_answers_451_without_detail(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with running_gateway(settings) as service:
        # A read-only connection makes the spool commit fail like a full or broken disk would.
        service.store.db.conn.execute("PRAGMA query_only = ON")
        port = settings.smtp.listen[0].port
        code, text = await asyncio.to_thread(smtp_send, port, "a@example.com", ["b@remote.example"], PLAIN_MAIL)
        assert code == 451
        assert text == b"4.3.0 Temporary local problem, please try again later"


async def test_auth_after_starttls_allows_relay(state_dir: Path, tmp_path: Path) -> None:
    require_tool("openssl")
    cert, key = make_tls_certificate(tmp_path)
    settings = make_settings(
        state_dir, smtp_tls_cert=str(cert), smtp_tls_key=str(key), smtp_trusted_networks="192.0.2.0/24"
    )
    from gateway.smtp_auth import hash_password, write_users

    write_users(settings.auth_users_file, {"calendar": hash_password("correct horse battery")})
    context = ssl.create_default_context(cafile=str(cert))

    def session(password: str) -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", settings.smtp.listen[0].port, timeout=10) as client:
            client.ehlo("client.test")
            assert "auth" not in client.esmtp_features
            client.starttls(context=context)
            client.ehlo("client.test")
            assert "PLAIN" in client.esmtp_features["auth"]
            client.login("calendar", password)
            client.mail("organizer@example.com")
            client.rcpt("guest@remote.example")
            return client.data(PLAIN_MAIL)

    async with running_gateway(settings) as service:
        code, _ = await asyncio.to_thread(session, "correct horse battery")
        assert code == 250
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await asyncio.to_thread(session, "wrong horse battery")
        rows = await wait_for(lambda: service.store.outbox_list())
        assert len(rows) == 1


async def test_require_tls_refuses_mail_before_starttls(state_dir: Path, tmp_path: Path) -> None:
    require_tool("openssl")
    cert, key = make_tls_certificate(tmp_path)
    settings = make_settings(state_dir, smtp_tls_cert=str(cert), smtp_tls_key=str(key), smtp_require_tls="true")

    def attempt() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", settings.smtp.listen[0].port, timeout=10) as client:
            client.ehlo("client.test")
            return client.mail("a@example.com")

    async with running_gateway(settings):
        code, text = await asyncio.to_thread(attempt)
        assert code == 530
        assert b"STARTTLS" in text


async def test_non_ascii_sender_is_refused_at_mail(state_dir: Path) -> None:
    settings = make_settings(state_dir)
    async with running_gateway(settings) as service:
        reply = await asyncio.to_thread(
            smtp_dialogue, settings.smtp.listen[0].port,
            [b"EHLO client.test\r\n", "MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".encode()],
        )
        assert b"250-SMTPUTF8" not in reply
        assert reply.splitlines()[-1].startswith(b"500 ")
        assert service.store.queued_spool_ids() == []
