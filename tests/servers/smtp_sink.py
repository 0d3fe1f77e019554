"""An SMTP server on loopback that stores what it receives and sends the replies a test queues.

The server is aiosmtpd's ``Controller``, which runs its own event loop in a
thread, so a synchronous test and an asyncio test can both drive it. A test
queues replies before the client connects: ``queue_data_replies("451 4.3.0
busy", count=2)`` makes the next two DATA commands fail, after which DATA is
accepted again; ``reject_recipient("x@y", "550 5.1.1 unknown")`` rejects one
recipient until the test clears it.
"""

from __future__ import annotations

import collections
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers import free_port, make_certificate

TEST_USERNAME = "sink-user"
TEST_PASSWORD = "sink-password"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted transaction, with the message bytes exactly as received after dot-unstuffing."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...]
    tls: bool
    auth_user: str | None


class _Handler:
    """aiosmtpd hooks that consult the sink's reply queues and record accepted messages."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.sink._next_rcpt_reply(address)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.sink._next_data_reply()
        if reply.startswith("250"):
            self.sink._record(envelope, session)
        else:
            self.sink._record_rejection(envelope, reply)
        return reply


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    if isinstance(auth_data, LoginPassword):
        valid = auth_data.login == TEST_USERNAME.encode() and auth_data.password == TEST_PASSWORD.encode()
        return AuthResult(success=valid, handled=False, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


class SmtpSink:
    """An SMTP server on 127.0.0.1:``port`` once ``start()`` ran; ``messages`` lists what it accepted."""

    def __init__(self, directory: Path, starttls: bool = False, auth: bool = False) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.messages: list[ReceivedMessage] = []
        # (reply, envelope sender, recipients) of every DATA the sink rejected.
        self.rejected: list[tuple[str, str, tuple[str, ...]]] = []
        self.certificate_path: Path | None = None
        self._data_replies: collections.deque[str] = collections.deque()
        self._rcpt_replies: collections.deque[str] = collections.deque()
        self._recipient_replies: dict[str, list[Any]] = {}
        self._condition = threading.Condition()
        options = self._options(directory, starttls, auth)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **options)

    def _options(self, directory: Path, starttls: bool, auth: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "sink.test.example"}
        if starttls:
            certificate, key = make_certificate(directory)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certificate, key)
            options["tls_context"] = context
            self.certificate_path = certificate
        if auth:
            options["authenticator"] = _authenticate
            # Lets a test log in without STARTTLS; with STARTTLS enabled, clients may still use it first.
            options["auth_require_tls"] = False
        return options

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a client context that trusts the sink's self-signed certificate."""
        if self.certificate_path is None:
            raise RuntimeError("this sink was started without STARTTLS")
        return ssl.create_default_context(cafile=str(self.certificate_path))

    # --- controlling replies ------------------------------------------------

    def queue_data_replies(self, reply: str, count: int = 1) -> None:
        """Reply to the next ``count`` DATA commands with ``reply`` (e.g. "451 4.3.0 try later")."""
        with self._condition:
            self._data_replies.extend([reply] * count)

    def queue_rcpt_replies(self, reply: str, count: int = 1) -> None:
        """Reply to the next ``count`` RCPT commands, whatever the address, with ``reply``."""
        with self._condition:
            self._rcpt_replies.extend([reply] * count)

    def reject_recipient(self, address: str, reply: str, count: int | None = None) -> None:
        """Reply to RCPT for ``address`` with ``reply``: ``count`` times, or until cleared when None."""
        with self._condition:
            self._recipient_replies[address.lower()] = [reply, count]

    def clear_replies(self) -> None:
        """Forget every queued reply, so the sink accepts everything again."""
        with self._condition:
            self._data_replies.clear()
            self._rcpt_replies.clear()
            self._recipient_replies.clear()

    # --- reading what arrived -----------------------------------------------

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages are accepted and return them all; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"SMTP sink accepted {len(self.messages)} message(s), expected {count} within {timeout} s"
                    )
                self._condition.wait(remaining)
            return list(self.messages)

    # --- called from the server's thread --------------------------------------

    def _next_rcpt_reply(self, address: str) -> str:
        with self._condition:
            planned = self._recipient_replies.get(address.lower())
            if planned is not None:
                reply, count = planned
                if count is not None:
                    planned[1] = count - 1
                    if planned[1] <= 0:
                        del self._recipient_replies[address.lower()]
                return reply
            if self._rcpt_replies:
                return self._rcpt_replies.popleft()
            return "250 2.1.5 OK"

    def _next_data_reply(self) -> str:
        with self._condition:
            if self._data_replies:
                return self._data_replies.popleft()
            return "250 2.0.0 OK stored"

    def _record(self, envelope: Envelope, session: Session) -> None:
        auth_user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            mail_options=tuple(envelope.mail_options),
            tls=session.ssl is not None,
            auth_user=auth_user,
        )
        with self._condition:
            self.messages.append(message)
            self._condition.notify_all()

    def _record_rejection(self, envelope: Envelope, reply: str) -> None:
        with self._condition:
            self.rejected.append((reply, envelope.mail_from or "", tuple(envelope.rcpt_tos)))
