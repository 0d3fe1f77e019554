"""Real mail servers on loopback for the tests: an SMTP sink, Postfix and Dovecot."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The port is only probed, so another process may take it before the caller
    binds it. On a test machine that race is rare enough to accept.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_banner(port: int, prefix: bytes, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until a server on 127.0.0.1:``port`` sends a greeting starting with ``prefix``.

    Raises RuntimeError with the reason when the deadline passes or ``process``
    exits first.
    """
    deadline = time.monotonic() + timeout
    last_error = "no connection attempt made"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server process exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                greeting = connection.recv(512)
            if greeting.startswith(prefix):
                return
            last_error = f"unexpected greeting {greeting[:80]!r}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.05)
    raise RuntimeError(f"no {prefix.decode()} greeting on 127.0.0.1:{port} within {timeout} s: {last_error}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate a server started with ``start_new_session=True`` and wait for its children too.

    Postfix's and Dovecot's masters signal their children and may exit before
    the children do, so the whole process group is awaited, and killed if it
    outlives ``timeout``.
    """
    group = process.pid
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    deadline = time.monotonic() + timeout
    while _group_alive(group):
        if time.monotonic() >= deadline:
            os.killpg(group, signal.SIGKILL)
            return
        time.sleep(0.05)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_certificate(directory: Path, common_name: str = "localhost") -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1 and localhost with the openssl command line.

    Returns the paths of the PEM certificate and of its unencrypted key. The
    certificate is its own CA, so a client trusts it by loading it as a CA file.
    """
    certificate = directory / "server-cert.pem"
    key = directory / "server-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={common_name}",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key
