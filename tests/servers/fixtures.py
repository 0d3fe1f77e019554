"""pytest fixtures for the real mail servers: an SMTP sink, and Postfix delivering to Dovecot.

Register them with ``pytest_plugins = ["tests.servers.fixtures"]`` in the
top-level conftest. Under CI=true a missing postfix, dovecot or openssl fails
the test; elsewhere it skips it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_tool
from tests.servers.dovecot import LDA_PATH, Dovecot
from tests.servers.postfix import Postfix
from tests.servers.smtp_sink import SmtpSink

# Domains that Postfix delivers into Dovecot from the start.
DOVECOT_DOMAINS = ("remote.example", "example.com")
DEFAULT_USERS = {
    "user@remote.example": "user-password",
    "attendee@remote.example": "attendee-password",
    "organizer@example.com": "organizer-password",
    "gateway@gateway.example": "gateway-password",
}


@dataclass
class MailServers:
    """A running Postfix that delivers the test domains into a running Dovecot."""

    postfix: Postfix
    dovecot: Dovecot
    root: Path
    start_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def smtp_port(self) -> int:
        return self.postfix.smtp_port

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    @property
    def users(self) -> dict[str, str]:
        """Dovecot logins, address to password."""
        return self.dovecot.users

    def add_user(self, address: str, password: str) -> None:
        self.dovecot.add_user(address, password)

    def add_route(self, domain: str, port: int | None = None) -> None:
        """Route ``domain`` to 127.0.0.1:``port`` over SMTP, or into Dovecot when ``port`` is None."""
        self.postfix.add_route(domain, port)

    def fetch_all(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        return self.dovecot.fetch_all(address, mailbox)

    def append(self, address: str, message: bytes, mailbox: str = "INBOX") -> None:
        self.dovecot.append(address, message, mailbox)

    def wait_for_messages(self, address: str, count: int, mailbox: str = "INBOX",
                          timeout: float = 30.0) -> list[bytes]:
        return self.dovecot.wait_for_messages(address, count, mailbox, timeout)


@pytest.fixture(scope="session")
def postfix_dovecot() -> Iterator[MailServers]:
    """Start Postfix and Dovecot once per test session, in one temporary folder, and stop both at the end."""
    for tool in ("postfix", "dovecot", "doveadm", "openssl"):
        require_tool(tool)
    if not Path(LDA_PATH).exists():
        message = f"{LDA_PATH} is missing; Debian's dovecot-core package installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="imip-mail-servers-"))
    # Postfix's and Dovecot's unprivileged processes must reach files in here.
    root.chmod(0o755)
    dovecot = Dovecot(root / "dovecot", DEFAULT_USERS)
    postfix = Postfix(root / "postfix", LDA_PATH, dovecot.config_path)
    for domain in (*DOVECOT_DOMAINS, "gateway.example"):
        postfix.add_route(domain)
    try:
        dovecot.start()
        postfix.start()
        yield MailServers(
            postfix, dovecot, root, {"dovecot": dovecot.start_seconds, "postfix": postfix.start_seconds}
        )
    finally:
        postfix.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp_sink_factory(tmp_path: Path) -> Iterator[Callable[..., SmtpSink]]:
    """Return a function that starts an SMTP sink, ``make(starttls=False, auth=False)``; all stop at teardown."""
    sinks: list[SmtpSink] = []

    def make(starttls: bool = False, auth: bool = False) -> SmtpSink:
        if starttls:
            require_tool("openssl")
        sink_dir = tmp_path / f"sink-{len(sinks)}"
        sink_dir.mkdir(exist_ok=True)
        sink = SmtpSink(sink_dir, starttls=starttls, auth=auth)
        sink.start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_factory: Callable[..., SmtpSink]) -> SmtpSink:
    """A plain SMTP sink on 127.0.0.1 without STARTTLS or AUTH."""
    return smtp_sink_factory()
