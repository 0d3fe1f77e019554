"""Deciding gpg outcomes from its machine-readable status lines alone.

gpg's human-readable messages and its exit status are not a contract, and
user IDs and file names end up inside them. python-gnupg reads status lines
and messages from the same stream (``--status-fd 2``), so only lines that
begin with ``[GNUPG:] `` are read here. Every decision also demands a
consistent set of them: exactly one NEWSIG, exactly one outcome keyword,
at most one VALIDSIG, and a VALIDSIG that names the key the outcome names.
A line smuggled into the stream then makes the set inconsistent, so the
signature fails rather than passes. gpg 2.2 escapes line breaks in user IDs
and file names, so these checks are a second line of defence.

The signer is identified only by the primary-key fingerprint in VALIDSIG.
The user ID that GOODSIG carries is never read, because any key can claim
any user ID. EXPKEYSIG and REVKEYSIG are failures even though gpg also
prints VALIDSIG and exits 0 for them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from crypto.verdict import Reason

STATUS_PREFIX = "[GNUPG:] "

OUTCOME_KEYWORDS = ("GOODSIG", "BADSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "ERRSIG")

# ERRSIG's sixth field: 9 means the public key is missing.
ERRSIG_NO_PUBLIC_KEY = "9"


@dataclass(frozen=True)
class StatusLine:
    keyword: str
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class SignatureResult:
    """The decision on one gpg signature check.

    ``reason`` is None for a good signature. ``fingerprint`` is the
    primary key's fingerprint from VALIDSIG whenever gpg identified the key.
    """

    reason: Reason | None
    detail: str
    fingerprint: str | None = None

    @property
    def is_good(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class DecryptionResult:
    """Whether gpg decrypted with a checked modification detection code."""

    ok: bool
    detail: str


def parse_status(stream: str) -> list[StatusLine]:
    """Return the status lines in ``stream``, ignoring every other line."""
    lines = []
    for line in stream.splitlines():
        if not line.startswith(STATUS_PREFIX):
            continue
        fields = line[len(STATUS_PREFIX) :].split(" ")
        if fields and fields[0]:
            lines.append(StatusLine(fields[0], tuple(fields[1:])))
    return lines


def decide_signature(lines: list[StatusLine], exit_status: int) -> SignatureResult:
    """Decide a signature check from its status lines and gpg's exit status."""
    counts = Counter(line.keyword for line in lines)
    if counts["NEWSIG"] == 0 and not any(counts[keyword] for keyword in OUTCOME_KEYWORDS):
        return SignatureResult(Reason.NO_SIGNER, "gpg found no signature")
    if counts["NEWSIG"] > 1:
        return SignatureResult(Reason.SEVERAL_SIGNERS, f"gpg found {counts['NEWSIG']} signatures")

    outcomes = [line for line in lines if line.keyword in OUTCOME_KEYWORDS]
    if counts["NEWSIG"] != 1 or len(outcomes) != 1 or counts["VALIDSIG"] > 1:
        return SignatureResult(Reason.BAD_SIGNATURE, "inconsistent gpg status lines: " + _summary(counts))

    outcome = outcomes[0]
    validsig = next((line for line in lines if line.keyword == "VALIDSIG"), None)
    fingerprint = _primary_fingerprint(validsig)
    if validsig is not None and not _same_key(outcome, validsig):
        return SignatureResult(Reason.BAD_SIGNATURE, "VALIDSIG names another key than " + outcome.keyword)
    return _decide_outcome(outcome, validsig, fingerprint, exit_status)


def decide_decryption(lines: list[StatusLine], exit_status: int) -> DecryptionResult:
    """Decide whether decryption succeeded with its integrity protection checked."""
    counts = Counter(line.keyword for line in lines)
    if counts["DECRYPTION_FAILED"] or counts["BADMDC"]:
        return DecryptionResult(False, "decryption or its integrity check failed")
    if counts["DECRYPTION_OKAY"] != 1:
        return DecryptionResult(False, "gpg did not report exactly one successful decryption")
    if counts["GOODMDC"] != 1:
        # A message without a modification detection code can be altered
        # undetectably, so it counts as a failure.
        return DecryptionResult(False, "the message has no modification detection code")
    if exit_status != 0:
        return DecryptionResult(False, f"gpg exited with status {exit_status}")
    return DecryptionResult(True, "")


def _decide_outcome(
    outcome: StatusLine, validsig: StatusLine | None, fingerprint: str | None, exit_status: int
) -> SignatureResult:
    keyword = outcome.keyword
    if keyword == "ERRSIG":
        if len(outcome.arguments) > 5 and outcome.arguments[5] == ERRSIG_NO_PUBLIC_KEY:
            return SignatureResult(Reason.UNKNOWN_SIGNER, f"no public key {_argument(outcome, 0)} in the keyring")
        return SignatureResult(Reason.BAD_SIGNATURE, "gpg could not check the signature")
    if keyword == "BADSIG":
        return SignatureResult(Reason.BAD_SIGNATURE, f"bad signature by key {_argument(outcome, 0)}", fingerprint)
    if keyword == "EXPKEYSIG":
        return SignatureResult(Reason.EXPIRED, "the signing key has expired", fingerprint)
    if keyword == "REVKEYSIG":
        return SignatureResult(Reason.REVOKED, "the signing key is revoked", fingerprint)
    if keyword == "EXPSIG":
        return SignatureResult(Reason.EXPIRED, "the signature has expired", fingerprint)
    if validsig is None or fingerprint is None:
        return SignatureResult(Reason.BAD_SIGNATURE, "GOODSIG without a VALIDSIG naming the primary key")
    if exit_status != 0:
        return SignatureResult(Reason.BAD_SIGNATURE, f"gpg exited with status {exit_status}", fingerprint)
    return SignatureResult(None, "", fingerprint)


def _primary_fingerprint(validsig: StatusLine | None) -> str | None:
    # VALIDSIG fields: signing-key fingerprint, date, timestamp, expiry,
    # version, reserved, key algorithm, hash algorithm, class, primary fingerprint.
    if validsig is None or len(validsig.arguments) < 10:
        return None
    fingerprint = validsig.arguments[9].upper()
    return fingerprint if _is_hex(fingerprint) and len(fingerprint) >= 32 else None


def _same_key(outcome: StatusLine, validsig: StatusLine) -> bool:
    key_id = _argument(outcome, 0).upper()
    signing_key = _argument(validsig, 0).upper()
    return bool(key_id) and _is_hex(key_id) and signing_key.endswith(key_id)


def _argument(line: StatusLine, index: int) -> str:
    return line.arguments[index] if len(line.arguments) > index else ""


def _is_hex(text: str) -> bool:
    return bool(text) and all(character in "0123456789ABCDEF" for character in text.upper())


def _summary(counts: Counter[str]) -> str:
    keywords = ("NEWSIG", "VALIDSIG", *OUTCOME_KEYWORDS)
    return ", ".join(f"{keyword}={counts[keyword]}" for keyword in keywords if counts[keyword]) or "none"
