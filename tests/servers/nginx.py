"""A private nginx for the tests, running a configuration file the test supplies.

nginx runs in the foreground (``daemon off;``) as a child of the test, with
its prefix, pid file, logs and temporary folders in one folder, so it never
touches the system's own nginx. ``-e`` points the log written before the
configuration is read at that folder too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers import free_port, stop_process
from tests.servers.radicale import wait_for_port

START_TIMEOUT = 30.0

# The main context: everything a bare nginx needs, with the test's server blocks included at {site}.
_MAIN_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;

events {{
    worker_connections 64;
}}

http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {site};
}}
"""


class Nginx:
    """One nginx master process serving ``site`` (server and upstream blocks) on ``port``."""

    def __init__(self, root: Path, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.port = free_port()
        self.config_path = root / "nginx.conf"
        self.error_log = root / "error.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, site: Path) -> None:
        """Check the configuration with ``nginx -t``, then start nginx and wait for its port."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_MAIN_CONFIG.format(root=self.root, site=site))
        command = [self.binary, "-p", str(self.root), "-c", str(self.config_path), "-e", str(self.error_log)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t rejected the configuration: {check.stderr.strip()}")
        with open(self.root / "nginx.stderr", "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            wait_for_port(self.port, START_TIMEOUT, self.process)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.error_log}") from None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
