"""The outcome of checking a signature, as ``inspect`` and activation read it.

A verdict is *valid* only when exactly one signer signed the top-level
signed part, the signature checks over the exact received bytes, and the
signer is bound to the From address. Every other signed outcome is
*invalid* with one of the fixed reasons below, and *none* means that
nothing was signed. The reasons are a closed set so that logs, metrics and
the relayed verdict header can be matched on them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Status = Literal["valid", "invalid", "none"]
Protocol = Literal["smime", "pgp"]


class Reason(enum.StrEnum):
    """The reason a signature is invalid."""

    BAD_SIGNATURE = "bad signature"
    SEVERAL_SIGNERS = "several signers"
    UNKNOWN_SIGNER = "unknown signer"
    NOT_BOUND = "signer not bound to the From address"
    EXPIRED = "expired"
    UNTRUSTED_CHAIN = "untrusted chain"
    REVOKED = "revoked"
    CONTENT_OUTSIDE = "content outside the signed part"
    NO_SIGNER = "no signer"


@dataclass(frozen=True)
class Verdict:
    """A signature verdict.

    ``signer`` is the address the signer is bound to, set only when valid.
    ``fingerprint`` is the SHA-256 of the certificate's DER for S/MIME, or
    the primary key's fingerprint for OpenPGP, in upper-case hex. It is set
    whenever the signer's certificate or key was identified.
    """

    status: Status
    protocol: Protocol | None = None
    reason: Reason | None = None
    detail: str = ""
    signer: str | None = None
    fingerprint: str | None = None

    @classmethod
    def valid(cls, protocol: Protocol, signer: str, fingerprint: str) -> Verdict:
        return cls("valid", protocol, signer=signer, fingerprint=fingerprint)

    @classmethod
    def invalid(
        cls, protocol: Protocol, reason: Reason, detail: str = "", fingerprint: str | None = None
    ) -> Verdict:
        return cls("invalid", protocol, reason, detail, fingerprint=fingerprint)

    @classmethod
    def none(cls) -> Verdict:
        return cls("none")

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"

    def as_dict(self) -> dict[str, str | None]:
        """Return the verdict as JSON-ready fields, as ``inspect --json`` prints them."""
        return {
            "status": self.status,
            "protocol": self.protocol,
            "reason": str(self.reason) if self.reason else None,
            "detail": self.detail or None,
            "signer": self.signer,
            "fingerprint": self.fingerprint,
        }

    def __str__(self) -> str:
        if self.status == "valid":
            return f"valid {self.protocol} signature by {self.signer} ({self.fingerprint})"
        if self.status == "none":
            return "not signed"
        text = f"invalid {self.protocol} signature: {self.reason}"
        return f"{text} ({self.detail})" if self.detail else text


def outside_signed_part(verdict: Verdict) -> Verdict:
    """Turn ``verdict`` invalid because the content acted on lies outside the signed part.

    The MIME layer finds that a calendar sits beside a signed part rather
    than inside it. A good signature over the other part proves nothing
    about that calendar.
    """
    protocol = verdict.protocol or "smime"
    return Verdict.invalid(
        protocol,
        Reason.CONTENT_OUTSIDE,
        "the content used is not inside the signed part",
        fingerprint=verdict.fingerprint,
    )
