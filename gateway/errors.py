"""The project's exception tree, in one place.

Each package raises its own errors, because ``mime``, ``crypto`` and
``store`` never import each other or ``gateway``::

    Exception
    ├── gateway.errors.GatewayError          service and CLI failures
    │   ├── ConfigError                      gateway.ini or environment invalid
    │   ├── ReplyError                       a message gets a definite SMTP reply
    │   │   ├── RelayDenied                  recipient not allowed for this client (550)
    │   │   └── TemporaryFailure             spool or store unavailable (451)
    │   └── NotFound                         a CLI argument names nothing known
    ├── mime.errors.MimeError                mail or calendar unreadable or over a limit
    ├── crypto.errors.CryptoError            signature, encryption or key problems
    │   └── OtpError                         RFC 2289 values and checks
    └── store.errors.StoreError              database unusable or schema too new

The SMTP listener answers with ``ReplyError.smtp_reply()``; any other
exception during a session is answered as a ``TemporaryFailure``, and the
detail goes to the log only. aiosmtpd itself answers oversized mail (552)
and MAIL before a required STARTTLS (530).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's own errors; the CLI prints them and exits 1."""


class ConfigError(GatewayError):
    """The settings file or an environment override is invalid."""


class NotFound(GatewayError):
    """A command named a UPN, queue entry or quarantine entry that does not exist."""


class ReplyError(GatewayError):
    """A condition that ends an SMTP command with a definite reply."""

    code = 451
    enhanced = "4.3.0"

    def smtp_reply(self) -> str:
        return f"{self.code} {self.enhanced} {self}"


class RelayDenied(ReplyError):
    code = 550
    enhanced = "5.7.1"


class TemporaryFailure(ReplyError):
    code = 451
    enhanced = "4.3.0"
