"""A private Radicale CalDAV server for the tests, on loopback, trusting X-Remote-User.

Radicale's ``http_x_remote_user`` authentication takes the user from the
X-Remote-User header without any check, which is safe only behind a proxy
that sets the header itself, as the nginx example does. Configuration and
collections live in one folder; the server runs as a child process of the
test in the project's Python environment.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import free_port, stop_process

START_TIMEOUT = 30.0

_CONFIG = """\
[server]
hosts = 127.0.0.1:{port}

[auth]
type = http_x_remote_user

[rights]
type = owner_only

[storage]
filesystem_folder = {root}/collections

[web]
type = none

[logging]
level = warning
"""


class Radicale:
    """One Radicale process and the folder it owns; ``start()`` and ``stop()`` bracket its life."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.config_path = root / "radicale.conf"
        self.log_path = root / "radicale.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_CONFIG.format(port=self.port, root=self.root))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            wait_for_port(self.port, START_TIMEOUT, self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.log_path}") from None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``; RuntimeError if not in time."""
    deadline = time.monotonic() + timeout
    last_error = "no connection attempt made"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server process exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError as error:
            last_error = str(error)
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s: {last_error}")
