"""Exceptions raised by the crypto package; ``CryptoError`` is their base.

The whole project's exception tree is documented in ``gateway/errors.py``.
"""


class CryptoError(Exception):
    """Base of every error the crypto package raises on bad input or a failed check."""


class OtpError(CryptoError):
    """An RFC 2289 one-time-password value or check is invalid."""


class InvalidChallenge(OtpError):
    """An OTP challenge does not follow ``otp-<algorithm> <sequence> <seed>[ ext]``."""


class InvalidSeed(OtpError):
    """A seed is not 1 to 16 ASCII letters and digits."""


class InvalidPassPhrase(OtpError):
    """A pass phrase is outside the 10 to 63 characters that RFC 2289 allows."""


class InvalidOtpKey(OtpError):
    """An OTPKEY value is not ``<algorithm>-<hex>`` with the hex length its algorithm needs."""


class InvalidAnswer(OtpError):
    """A one-time password response cannot be parsed as six words, hex or an RFC 2243 extended response."""


class InvalidReinitialization(InvalidAnswer):
    """The new parameters of an RFC 2243 ``init-hex`` or ``init-word`` response are not acceptable."""


class AlgorithmMismatch(OtpError):
    """An OTPKEY's algorithm differs from the algorithm of the challenge it should answer."""

    def __init__(self, key_algorithm: str, challenge_algorithm: str) -> None:
        super().__init__(
            f"the OTPKEY is for {key_algorithm} but the challenge asks for "
            f"{challenge_algorithm}; answer it with the OTPKEY that came with this challenge"
        )
        self.key_algorithm = key_algorithm
        self.challenge_algorithm = challenge_algorithm


class SequenceExhausted(OtpError):
    """A verifier state has reached sequence 0, so it has no challenge left to issue."""


class OtpRejected(OtpError):
    """A well-formed one-time password does not answer the current challenge."""


class ReplayedAnswer(OtpRejected):
    """A one-time password was already accepted earlier, so it is spent."""


class SmimeError(CryptoError):
    """S/MIME data cannot be parsed, signed, encrypted or decrypted."""


class Asn1Error(SmimeError):
    """BER or DER data is truncated, malformed or nested too deeply."""


class PgpError(CryptoError):
    """gpg rejected the data, or its status output does not allow a decision."""


class KeyImportError(CryptoError):
    """A certificate, private key or OpenPGP key cannot be read or imported."""


class ToolError(CryptoError):
    """The gpg or openssl program is missing, failed to start or timed out."""
