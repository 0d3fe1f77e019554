"""A private Postfix instance for the tests, reachable and delivering only on loopback.

The instance has its own config_directory, queue_directory and
data_directory under one folder. Its ``master`` runs in the foreground
(``master -d``) as a child of the test process, so stopping it is a signal to
that child. The system's Postfix, if any, is never touched.

Routing is closed by default: ``default_transport`` and ``relay_transport``
are ``error``, and only the domains a test names are accepted (relay_domains)
and routed (transport_maps). A route goes either to Dovecot's LDA or to an
SMTP port on 127.0.0.1, so no mail can leave the machine.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from pathlib import Path

from tests.servers import free_port, stop_process, wait_for_banner

START_TIMEOUT = 30.0
LOCAL_ROUTE = "dovecot:"

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
default_privs = nobody
maillog_file = {root}/maillog
maillog_file_prefixes = {root}

myhostname = mx.test.example
mydomain = test.example
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =

relay_domains = texthash:{root}/config/relay_domains
transport_maps = texthash:{root}/config/transport
default_transport = error:5.1.2 the test Postfix routes no mail outside its test domains
relay_transport = error:5.1.2 the test Postfix has no route for this domain
local_transport = error:5.1.1 the test Postfix has no local delivery
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
dovecot_destination_recipient_limit = 1

# Retry deferred mail quickly so a test gets a second attempt within seconds.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
biff = no
"""

_MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
dovecot   unix  - n n -    - pipe
  flags=DRhu user=mail:mail argv={lda} -c {dovecot_config} -f ${{sender}} -d ${{recipient}}
"""


class Postfix:
    """One Postfix ``master`` process and the folder it owns."""

    def __init__(self, root: Path, lda_path: str, dovecot_config: Path) -> None:
        self.root = root
        self.lda_path = lda_path
        self.dovecot_config = dovecot_config
        self.smtp_port = free_port()
        # Postfix warns about any file under config_directory not owned by
        # root, so the queue and data folders sit beside it.
        self.config_directory = root / "config"
        self.routes: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    def start(self) -> None:
        """Write the configuration, create the queue and start ``master``; wait for the SMTP greeting."""
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.config_directory.mkdir(exist_ok=True)
        # Postfix chdirs into queue_directory before anything else, and its
        # master writes a lock file into data_directory as the mail_owner.
        (self.root / "queue").mkdir(exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        shutil.chown(self.root / "data", "postfix", "postfix")
        (self.config_directory / "main.cf").write_text(_MAIN_CF.format(root=self.root))
        (self.config_directory / "master.cf").write_text(
            _MASTER_CF.format(
                smtp_port=self.smtp_port, lda=self.lda_path, dovecot_config=self.dovecot_config
            )
        )
        self._write_routes()
        # "postfix check" creates the queue's subfolders with the owners and
        # modes Postfix insists on.
        self._postfix("check")
        self._launch()
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def add_route(self, domain: str, port: int | None = None, host: str = "127.0.0.1") -> None:
        """Accept mail for ``domain`` and route it to Dovecot, or to ``host:port`` over SMTP.

        The host must be a loopback address. Postfix reads texthash tables only
        when a daemon starts, so the instance is restarted; mail in its queue
        stays there.
        """
        if port is None:
            self.routes[domain.lower()] = LOCAL_ROUTE
        else:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"test Postfix routes only to loopback, not to {host}")
            bracketed = f"[{host}]" if ":" not in host else f"[ipv6:{host}]"
            self.routes[domain.lower()] = f"smtp:{bracketed}:{port}"
        if self.process is not None:
            self._write_routes()
            self.stop()
            self._launch()

    def flush(self) -> None:
        """Ask Postfix to retry deferred mail now instead of at its next queue run."""
        self._postfix("flush")

    def queue_ids(self) -> list[str]:
        """Return the ids of the messages still in the queue (deferred or active)."""
        result = subprocess.run(
            ["postqueue", "-c", str(self.config_directory), "-j"], capture_output=True, text=True, timeout=30, check=True
        )
        return [json.loads(line)["queue_id"] for line in result.stdout.splitlines() if line.strip()]

    def log_text(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def _write_routes(self) -> None:
        domains = "".join(f"{domain} OK\n" for domain in self.routes)
        transports = "".join(f"{domain} {route}\n" for domain, route in self.routes.items())
        (self.config_directory / "relay_domains").write_text(domains)
        (self.config_directory / "transport").write_text(transports)

    def _postfix(self, command: str) -> None:
        result = subprocess.run(
            ["postfix", "-c", str(self.config_directory), command], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"postfix {command} failed with status {result.returncode}: {result.stderr.strip()}")

    def _launch(self) -> None:
        daemon_directory = subprocess.run(
            ["postconf", "-c", str(self.config_directory), "-h", "daemon_directory"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
        with open(self.root / "master.stderr", "ab") as log:
            self.process = subprocess.Popen(
                [f"{daemon_directory}/master", "-d", "-c", str(self.config_directory)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_banner(self.smtp_port, b"220", START_TIMEOUT, self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.root}/maillog and master.stderr") from None
