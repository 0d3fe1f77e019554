"""Running the openssl program, the one external tool S/MIME needs.

OpenSSL is used where cryptography 50 has no API: verifying CMS signatures
and encrypting to EC recipients. Each call is a short process, bounded by a
timeout so a stuck child cannot hold a worker thread for ever.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from crypto.errors import ToolError

OPENSSL_TIMEOUT_SECONDS = 30


def openssl_path() -> str:
    """Return the path of the openssl program, or raise ``ToolError``."""
    path = shutil.which("openssl")
    if path is None:
        raise ToolError("openssl not found on PATH; install the openssl package")
    return path


def run_openssl(arguments: Sequence[str], input_bytes: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``openssl`` with ``arguments`` and return the finished process.

    A non-zero exit status is returned, not raised, because for ``cms
    -verify`` it is an ordinary outcome.
    """
    command = [openssl_path(), *arguments]
    try:
        return subprocess.run(
            command,
            input=input_bytes,
            capture_output=True,
            timeout=OPENSSL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"openssl {arguments[0]} timed out after {OPENSSL_TIMEOUT_SECONDS} s") from error
    except OSError as error:
        raise ToolError(f"openssl could not be started: {error}") from error
