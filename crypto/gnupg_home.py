"""The gateway's own GnuPG home and the python-gnupg handle on it.

The home gets a gpg.conf written by the gateway, because several defaults
would make verification depend on the outside world or on the web of
trust:

- ``trust-model always``: whether a key may speak for an address is
  decided by the gateway's own binding rule (an imported key with a user ID
  for that address), not by gpg's owner trust.
- ``no-auto-key-retrieve``, ``no-auto-key-import`` and ``auto-key-locate
  local``: verifying a signature must never fetch or import a key named by
  the message, which would let a sender choose the key it is checked with
  and make the gateway contact hosts the sender picks.
- no ``verbose``: verbose output adds messages such as the literal data's
  file name to the stream python-gnupg also reads status lines from.
"""

from __future__ import annotations

import os
from pathlib import Path

import gnupg

from crypto.errors import ToolError

GPG_CONF = """\
# Written by imip-gateway at every start; local changes are overwritten.
trust-model always
no-auto-key-retrieve
no-auto-key-import
auto-key-locate local
no-greeting
no-emit-version
"""


class GnupgHome:
    """A GnuPG home folder with the gateway's gpg.conf, and its python-gnupg handle."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        prepare_home(self.path)
        try:
            self.gpg = gnupg.GPG(gnupghome=str(self.path))
        except (OSError, ValueError) as error:
            raise ToolError(f"cannot run gpg on home {self.path}: {error}") from error
        # gpg writes UTF-8; python-gnupg's default Latin-1 would garble user IDs.
        self.gpg.encoding = "utf-8"


def prepare_home(path: Path) -> None:
    """Create the home folder (mode 0700) and write the gateway's gpg.conf."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    config = path / "gpg.conf"
    if not config.exists() or config.read_text(encoding="utf-8") != GPG_CONF:
        config.write_text(GPG_CONF, encoding="utf-8")
