"""The SMTP listener: relay policy at RCPT, durable spooling before the 250.

aiosmtpd accepts every recipient unless a handler rejects it, and by
default answers an internal error with ``500`` and the exception text; this
handler decides every RCPT itself and answers internal errors with 451, the
detail going to the log only. aiosmtpd 1.4.5 and later end DATA only at
CRLF.CRLF, so a bare LF dot line cannot smuggle a second message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from gateway.errors import RelayDenied, TemporaryFailure
from gateway.logs import event, get_logger
from gateway.metrics import MESSAGES_RECEIVED
from gateway.settings import Settings
from gateway.smtp_auth import check_password, read_users
from store.db import Store

log = get_logger("smtp")

# A mail that has passed this many relays is looping.
MAX_RECEIVED_HEADERS = 50


def peer_address(session: Session) -> str:
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) else str(peer)


def is_trusted_network(host: str, networks: tuple[Any, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def recipient_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


class UserFile:
    """SMTP AUTH users, reread when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._users: dict[str, str] = {}

    def users(self) -> dict[str, str]:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            self._users = read_users(self.path)
            self._stamp = stamp
        return self._users


class GatewayHandler:
    """aiosmtpd handler: decides recipients and spools each accepted message."""

    def __init__(self, settings: Settings, store: Store, on_spooled: Callable[[str], None]) -> None:
        self.settings = settings
        self.store = store
        self.on_spooled = on_spooled
        self.user_file = UserFile(settings.auth_users_file)
        self.local_domains = set(settings.calendar.local_domains)

    def is_trusted(self, session: Session) -> bool:
        return bool(session.authenticated) or is_trusted_network(
            peer_address(session), self.settings.smtp.trusted_networks
        )

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() == "postmaster":
            # RFC 5321 requires accepting the bare postmaster address; it goes to the local postmaster.
            envelope.rcpt_tos.append(f"postmaster@{self.settings.gateway.hostname}")
            return "250 2.1.5 OK"
        if "@" not in address or address.startswith("@"):
            return f"501 5.1.3 Invalid recipient address <{address}>: use local-part@domain"
        if not self.is_trusted(session) and recipient_domain(address) not in self.local_domains:
            event(log, logging.INFO, "relay-denied", peer=peer_address(session), rcpt=address)
            return RelayDenied(
                f"Relaying denied for <{address}>: not a local domain; authenticate or send from a trusted network"
            ).smtp_reply()
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if raw.count(b"\nReceived:") + raw.startswith(b"Received:") > MAX_RECEIVED_HEADERS:
            return f"554 5.4.6 Mail loop: more than {MAX_RECEIVED_HEADERS} Received headers"

        trusted = self.is_trusted(session)
        auth_user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        peer = peer_address(session)
        # aiosmtpd reports the null reverse-path as "<>"; the store writes it empty.
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        loop = asyncio.get_running_loop()
        spooled = self.received_header(session, peer, auth_user) + raw
        queue_id = await loop.run_in_executor(
            None,
            lambda: self.store.spool_message(
                raw=spooled,
                peer=peer,
                helo=session.host_name,
                mail_from=mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                trusted=trusted,
                auth_user=auth_user,
                tls=session.ssl is not None,
            ),
        )
        MESSAGES_RECEIVED.labels("smtp").inc()
        event(
            log, logging.INFO, "accepted",
            queue_id=queue_id, peer=peer, mail_from=envelope.mail_from, rcpt_count=len(envelope.rcpt_tos),
            size=len(raw), trusted=trusted, auth_user=auth_user,
        )
        self.on_spooled(queue_id)
        return f"250 2.0.0 Ok: queued as {queue_id}"

    def received_header(self, session: Session, peer: str, auth_user: str | None) -> bytes:
        protocol = "ESMTP"
        if session.ssl is not None:
            protocol += "S"
        if auth_user:
            protocol += "A"
        helo = (session.host_name or "unknown").replace("\r", "").replace("\n", "")[:255]
        header = (
            f"Received: from {helo} ([{peer}])\r\n"
            f"\tby {self.settings.gateway.hostname} (imip-gateway) with {protocol};\r\n"
            f"\t{formatdate(time.time())}\r\n"
        )
        return header.encode("ascii", "replace")

    async def handle_exception(self, error: Exception) -> str:
        log.error("session-error", exc_info=error, extra={"fields": {"error": type(error).__name__}})
        return TemporaryFailure("Temporary local problem, please try again later").smtp_reply()

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        name = auth_data.login.decode("utf-8", "replace")
        stored = self.user_file.users().get(name)
        # NOTE: scrypt runs on the event loop here because aiosmtpd calls
        # authenticators synchronously; it costs tens of milliseconds per AUTH.
        ok = stored is not None and check_password(auth_data.password.decode("utf-8", "replace"), stored)
        event(log, logging.INFO if ok else logging.WARNING, "auth", peer=peer_address(session), user=name,
              outcome="success" if ok else "failure")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.smtp.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.smtp.tls_cert, settings.smtp.tls_key)
    return context


async def start_listeners(
    settings: Settings, store: Store, on_spooled: Callable[[str], None]
) -> list[asyncio.base_events.Server]:
    """Bind every ``[smtp] listen`` address and return the running servers."""
    handler = GatewayHandler(settings, store, on_spooled)
    context = tls_context(settings)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname=settings.gateway.hostname,
            ident="imip-gateway",
            data_size_limit=settings.smtp.max_message_size,
            # NOTE: SMTPUTF8 is not offered because the outbox relays without it;
            # a non-ASCII address is refused at MAIL instead of failing later.
            enable_SMTPUTF8=False,
            decode_data=False,
            tls_context=context,
            require_starttls=settings.smtp.require_tls,
            auth_require_tls=True,
            authenticator=handler.authenticate,
            loop=loop,
        )

    servers = []
    for endpoint in settings.smtp.listen:
        server = await loop.create_server(factory, host=endpoint.host, port=endpoint.port)
        servers.append(server)
        event(log, logging.INFO, "listening", address=str(endpoint), starttls=context is not None)
    return servers
