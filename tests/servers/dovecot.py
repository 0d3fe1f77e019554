"""A private Dovecot instance for the tests: IMAP on loopback, users from a passwd-file.

Everything lives under one folder: configuration, base_dir, state_dir, logs
and the users' maildirs. Dovecot runs in the foreground (``dovecot -F``) as a
child of the test process, so stopping it is a signal to that child. The
system's own Dovecot, if any, is not touched because this instance reads no
file under /etc/dovecot and listens on ports probed free at start.

Mail arrives through ``dovecot-lda``, which Postfix's pipe transport runs as
the ``mail`` user. Debian packages Dovecot's LMTP server separately
(dovecot-lmtpd), so the LDA keeps the tests to the packages the project's
system-packages script installs.
"""

from __future__ import annotations

import imaplib
import pwd
import shutil
import ssl
import subprocess
import time
from pathlib import Path

from tests.servers import free_port, make_certificate, stop_process, wait_for_banner

LDA_PATH = "/usr/lib/dovecot/dovecot-lda"
# Debian's base-passwd creates this user; Dovecot refuses to store mail as root.
MAIL_USER = "mail"
START_TIMEOUT = 30.0

_CONFIG = """\
instance_name = imip-test-{imap_port}
base_dir = {root}/run
state_dir = {root}/state
protocols = imap
listen = 127.0.0.1
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
postmaster_address = postmaster@test.example
hostname = imap.test.example

ssl = yes
ssl_cert = <{certificate}
ssl_key = <{key}
{ssl_dh}
# Tests log in over plain IMAP on loopback; STARTTLS and imaps are offered too.
disable_plaintext_auth = no
auth_mechanisms = plain login

mail_location = maildir:{root}/mail/%d/%n/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%d/%n
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
# dovecot-lda runs as the mail user, which may not write the server's log.
protocol lda {{
  log_path = {root}/lda.log
  info_log_path = {root}/lda.log
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service auth {{
  # dovecot-lda runs as the mail user and looks recipients up through this socket.
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """One Dovecot process and the folder it owns; ``start()`` and ``stop()`` bracket its life."""

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        self.root = root
        self.users = dict(users)
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.config_path = root / "dovecot.conf"
        self.certificate_path = root / "server-cert.pem"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    def start(self) -> None:
        """Write the configuration and users, start Dovecot and wait for its IMAP greeting."""
        began = time.monotonic()
        self._write_files()
        self._launch()
        self.start_seconds = time.monotonic() - began

    def _write_files(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        certificate, key = make_certificate(self.root)
        mail_root = self.root / "mail"
        mail_root.mkdir(exist_ok=True)
        shutil.chown(mail_root, MAIL_USER, MAIL_USER)
        lda_log = self.root / "lda.log"
        lda_log.touch()
        shutil.chown(lda_log, MAIL_USER, MAIL_USER)
        dh_file = Path("/usr/share/dovecot/dh.pem")
        self.config_path.write_text(
            _CONFIG.format(
                root=self.root,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                certificate=certificate,
                key=key,
                ssl_dh=f"ssl_dh = <{dh_file}" if dh_file.exists() else "",
                mail_uid=_uid(MAIL_USER),
                mail_gid=_gid(MAIL_USER),
            )
        )
        self._write_users()

    def _write_users(self) -> None:
        # One passwd-file per user: Dovecot notices a changed passwd-file only
        # by its mtime in whole seconds and its size, which misses quick
        # rewrites, while a new file is read on its first lookup.
        users_dir = self.root / "users"
        users_dir.mkdir(exist_ok=True)
        users_dir.chmod(0o755)
        for address, password in self.users.items():
            user_file = users_dir / address
            user_file.write_text(f"{address}:{password}::::::\n")
            # The auth process reads the files after dropping to the dovecot user.
            user_file.chmod(0o644)

    def _launch(self) -> None:
        log = open(self.root / "dovecot.stderr", "ab")
        with log:
            self.process = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_banner(self.imap_port, b"* OK", START_TIMEOUT, self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.root}/dovecot.log and dovecot.stderr") from None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def restart(self) -> None:
        """Stop and start Dovecot on the same ports, which drops every IMAP connection."""
        self.stop()
        self._launch()

    def add_user(self, address: str, password: str) -> None:
        """Add a login; Dovecot reads its passwd-file on the first lookup, so no reload is needed."""
        self.users[address] = password
        self._write_users()

    def kick(self, address: str) -> None:
        """Disconnect every IMAP session of one user, as an administrator would."""
        subprocess.run(
            ["doveadm", "-c", str(self.config_path), "kick", address],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client context that trusts this instance's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.certificate_path))

    def connect(self, address: str) -> imaplib.IMAP4:
        """Return an imaplib client logged in as ``address``."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        client.login(address, self.users[address])
        return client

    def fetch_all(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        """Return the raw bytes of every message in a user's mailbox, oldest first."""
        client = self.connect(address)
        try:
            status, _ = client.select(_quote(mailbox), readonly=True)
            if status != "OK":
                return []
            status, data = client.uid("SEARCH", "ALL")
            uids = data[0].split() if status == "OK" and data[0] else []
            return [_fetch_one(client, uid) for uid in uids]
        finally:
            client.logout()

    def append(self, address: str, message: bytes, mailbox: str = "INBOX") -> None:
        """Store a message in a user's mailbox over IMAP, creating the mailbox if needed."""
        client = self.connect(address)
        try:
            client.create(_quote(mailbox))
            status, data = client.append(_quote(mailbox), "", None, message)
            if status != "OK":
                raise RuntimeError(f"IMAP APPEND to {mailbox} for {address} failed: {data!r}")
        finally:
            client.logout()

    def wait_for_messages(self, address: str, count: int, mailbox: str = "INBOX",
                          timeout: float = 30.0) -> list[bytes]:
        """Wait until a mailbox contains at least ``count`` messages and return them all.

        Raises TimeoutError naming the mailbox and how many messages it had.
        """
        deadline = time.monotonic() + timeout
        while True:
            messages = self.fetch_all(address, mailbox)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{address} {mailbox} has {len(messages)} message(s), expected {count} within {timeout} s"
                )
            time.sleep(0.2)


def _fetch_one(client: imaplib.IMAP4, uid: bytes) -> bytes:
    status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        raise RuntimeError(f"IMAP FETCH of UID {uid!r} failed: {data!r}")
    for item in data:
        if isinstance(item, tuple):
            return item[1]
    raise RuntimeError(f"IMAP FETCH of UID {uid!r} returned no message body")


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _gid(user: str) -> int:
    return pwd.getpwnam(user).pw_gid
