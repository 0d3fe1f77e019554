"""RFC 2289 one-time passwords with the RFC 2243 extended responses.

Hand-written because no maintained Python library implements RFC 2289 or RFC
2243. The module covers both sides: a generator that turns a challenge and a
pass phrase (or an OTPKEY) into a one-time password, and a verifier that keeps
only the last accepted one-time password. That password is spent, and the next
one is its preimage under the hash, so the verifier state contains nothing that
can compute a valid password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from crypto.errors import (
    AlgorithmMismatch,
    InvalidAnswer,
    InvalidChallenge,
    InvalidOtpKey,
    InvalidPassPhrase,
    InvalidReinitialization,
    InvalidSeed,
    OtpError,
    OtpRejected,
    ReplayedAnswer,
    SequenceExhausted,
)
from crypto.md4 import md4
from crypto.otp_words import WORDS, word_index

ALGORITHMS = ("md4", "md5", "sha1")
DEFAULT_ALGORITHM = "md5"

MIN_PASS_PHRASE_LENGTH = 10
MAX_PASS_PHRASE_LENGTH = 63
MAX_SEED_LENGTH = 16
PASSWORD_LENGTH = 8

# RFC 2289 sets no maximum sequence number. This cap bounds the hashing that one
# challenge from an untrusted message can demand. Cyrus SASL's OTP plugin uses
# the same limit.
MAX_SEQUENCE = 9999

# RFC 2243 requires servers to limit the length of a response. The longest valid
# init-word response is about 100 characters, and the rest is room for whitespace.
MAX_ANSWER_LENGTH = 512

# A spent password up to this many sequence numbers above the last accepted one
# is reported as a replay. An older one is still rejected, but as a wrong password.
REPLAY_WINDOW = 100

# Seeds are public and need only differ between keys, so 36**10 values make a
# collision negligible while the challenge stays short.
GENERATED_SEED_LENGTH = 10
SEED_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

OTPKEY_HEX_DIGITS = {"md4": 32, "md5": 32, "sha1": 40}

_SEED = re.compile(r"[A-Za-z0-9]{1,16}")
_SEQUENCE = re.compile(r"[0-9]{1,10}")
_HEX_PASSWORD = re.compile(r"[0-9A-Fa-f]{16}")
_WORD = re.compile(r"[A-Za-z]{1,4}")
_EXTENSION = re.compile(r"ext(,[^,\s]+)*", re.IGNORECASE)
_OTPKEY = re.compile(r"(md4|md5|sha1)-([0-9A-Fa-f]+)", re.IGNORECASE)


# Hashing ------------------------------------------------------------------


def _fold_halves(digest: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(digest[:8], digest[8:16]))


def _fold_sha1(digest: bytes) -> bytes:
    # RFC 2289 folds SHA-1 as five big-endian words but writes each folded
    # word least-significant byte first. The Appendix C vectors depend on it.
    w0, w1, w2, w3, w4 = struct.unpack(">5I", digest)
    return struct.pack("<2I", w0 ^ w2 ^ w4, w1 ^ w3)


_FOLDED_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "md4": lambda data: _fold_halves(md4(data)),
    "md5": lambda data: _fold_halves(hashlib.md5(data).digest()),
    "sha1": lambda data: _fold_sha1(hashlib.sha1(data).digest()),
}


def hash_password(algorithm: str, data: bytes) -> bytes:
    """Hash data with the RFC 2289 algorithm and fold the digest to 64 bits."""
    return _FOLDED_HASHES[validate_algorithm(algorithm)](data)


def compute_otp(algorithm: str, pass_phrase: str, seed: str, sequence: int) -> bytes:
    """Compute the 8-byte one-time password for a sequence number.

    The pass phrase is encoded as UTF-8 and appended to the lower-cased seed,
    hashed once, and the result is hashed ``sequence`` more times.
    """
    validate_pass_phrase(pass_phrase)
    validate_sequence(sequence)
    password = hash_password(algorithm, normalize_seed(seed).encode("ascii") + pass_phrase.encode("utf-8"))
    for _ in range(sequence):
        password = hash_password(algorithm, password)
    return password


# Validation ---------------------------------------------------------------


def validate_algorithm(algorithm: str) -> str:
    """Return the algorithm name if RFC 2289 defines it, else raise OtpError."""
    if algorithm not in ALGORITHMS:
        raise OtpError(f"unsupported OTP algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    return algorithm


def normalize_seed(seed: str) -> str:
    """Return the seed in lower case, or raise InvalidSeed unless it has 1 to 16 ASCII letters and digits."""
    if not _SEED.fullmatch(seed):
        raise InvalidSeed(
            f"invalid OTP seed {_shorten(seed)!r}: a seed has 1 to {MAX_SEED_LENGTH} ASCII letters and digits"
        )
    return seed.lower()


def validate_pass_phrase(pass_phrase: str) -> None:
    """Raise InvalidPassPhrase unless the pass phrase has 10 to 63 characters."""
    length = len(pass_phrase)
    if not MIN_PASS_PHRASE_LENGTH <= length <= MAX_PASS_PHRASE_LENGTH:
        raise InvalidPassPhrase(
            f"invalid pass phrase: it has {length} characters, but RFC 2289 requires "
            f"{MIN_PASS_PHRASE_LENGTH} to {MAX_PASS_PHRASE_LENGTH}; enter the pass phrase or OTPKEY again"
        )


def validate_sequence(sequence: int) -> None:
    """Raise OtpError unless the sequence number is between 0 and MAX_SEQUENCE."""
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise OtpError(f"invalid OTP sequence number {sequence}: it must be between 0 and {MAX_SEQUENCE}")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# Encodings ----------------------------------------------------------------


def _checksum(value: int) -> int:
    # RFC 2289: the sum of the 32 two-bit pairs of the 64-bit value, modulo 4.
    return sum((value >> shift) & 3 for shift in range(0, 64, 2)) & 3


def format_hex(password: bytes) -> str:
    """Return the password as 16 lower-case hex digits."""
    return _require_password(password).hex()


def format_words(password: bytes) -> str:
    """Return the password as six upper-case dictionary words that carry a 2-bit checksum."""
    value = int.from_bytes(_require_password(password), "big")
    bits = value << 2 | _checksum(value)
    indices = [(bits >> shift) & 0x7FF for shift in range(55, -1, -11)]
    return " ".join(WORDS[index] for index in indices)


def parse_hex(text: str) -> bytes:
    """Parse 16 hex digits in any case, with any whitespace and an optional ``0x``."""
    digits = "".join(text.split())
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not _HEX_PASSWORD.fullmatch(digits):
        raise InvalidAnswer(
            f"invalid one-time password: expected 16 hex digits, got {len(digits)} characters; "
            "spaces and a leading 0x are allowed, other characters are not"
        )
    return bytes.fromhex(digits)


def parse_words(text: str) -> bytes:
    """Parse six RFC 2289 dictionary words in any case and check their 2-bit checksum."""
    words = text.split()
    if len(words) != 6:
        raise InvalidAnswer(f"invalid one-time password: expected six dictionary words, got {len(words)}")
    bits = 0
    for position, word in enumerate(words, start=1):
        index = word_index(word) if _WORD.fullmatch(word) else None
        if index is None:
            raise InvalidAnswer(
                f"invalid one-time password: word {position} of 6 is not in the RFC 2289 dictionary; check its spelling"
            )
        bits = bits << 11 | index
    value = bits >> 2
    if bits & 3 != _checksum(value):
        raise InvalidAnswer(
            "invalid one-time password: the six words fail their checksum, so one of them is wrong; "
            "copy them again from the generator"
        )
    return value.to_bytes(PASSWORD_LENGTH, "big")


def _require_password(password: bytes) -> bytes:
    if len(password) != PASSWORD_LENGTH:
        raise OtpError(f"a one-time password has {PASSWORD_LENGTH} bytes, got {len(password)}")
    return password


# Challenges ---------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """An RFC 2289 challenge, with ``extension`` as the RFC 2243 capability list such as ``ext``."""

    algorithm: str
    sequence: int
    seed: str
    extension: str | None = None

    def __str__(self) -> str:
        text = f"otp-{self.algorithm} {self.sequence} {self.seed}"
        return f"{text} {self.extension}" if self.extension else text


def parse_challenge(text: str) -> Challenge:
    """Parse ``otp-<algorithm> <sequence> <seed>[ ext...]`` and return it with the seed in lower case."""
    tokens = text.split()
    if len(tokens) not in (3, 4):
        raise _invalid_challenge(text, f"it has {len(tokens)} fields instead of 3, or 4 with 'ext'")
    prefix, sequence, seed = tokens[:3]
    algorithm = prefix[4:].lower() if prefix[:4].lower() == "otp-" else None
    if algorithm not in ALGORITHMS:
        raise _invalid_challenge(text, f"{prefix!r} is not one of otp-md4, otp-md5, otp-sha1")
    if not _SEQUENCE.fullmatch(sequence) or int(sequence) > MAX_SEQUENCE:
        raise _invalid_challenge(text, f"the sequence number must be an integer from 0 to {MAX_SEQUENCE}")
    if not _SEED.fullmatch(seed):
        raise _invalid_challenge(text, f"the seed must have 1 to {MAX_SEED_LENGTH} ASCII letters and digits")
    extension = tokens[3] if len(tokens) == 4 else None
    if extension is not None and not _EXTENSION.fullmatch(extension):
        raise _invalid_challenge(text, f"the text after the seed must be 'ext', not {extension!r}")
    return Challenge(algorithm, int(sequence), seed.lower(), extension)


def _invalid_challenge(text: str, reason: str) -> InvalidChallenge:
    return InvalidChallenge(
        f"invalid OTP challenge {_shorten(text)!r}: {reason}; "
        "expected 'otp-<md4|md5|sha1> <sequence> <seed>', such as 'otp-md5 498 gwk3x9'"
    )


# Responses ----------------------------------------------------------------


@dataclass(frozen=True)
class Reinitialization:
    """The new parameters and first one-time password of an RFC 2243 ``init-hex`` or ``init-word`` response."""

    algorithm: str
    sequence: int
    seed: str
    password: bytes = field(repr=False)


@dataclass(frozen=True)
class Answer:
    """A parsed response: the one-time password, plus new parameters when it re-initialises the sequence."""

    password: bytes = field(repr=False)
    reinitialization: Reinitialization | None = None


def parse_answer(text: str) -> Answer:
    """Parse a standard response (six words or hex) or an RFC 2243 extended response.

    Extended types are ``hex:``, ``word:``, ``init-hex:`` and ``init-word:``, in
    any case. An init response carries ``current-OTP:new-params:new-OTP``, where
    new-params is ``<algorithm> <sequence> <seed>``.
    """
    if len(text) > MAX_ANSWER_LENGTH:
        raise InvalidAnswer(
            f"invalid one-time password: the response has {len(text)} characters, more than {MAX_ANSWER_LENGTH}"
        )
    if ":" not in text:
        return Answer(_parse_standard(text))
    kind, *arguments = text.split(":")
    return _parse_extended(kind.strip().lower(), arguments)


def _parse_standard(text: str) -> bytes:
    tokens = text.split()
    if len(tokens) == 6 and all(_WORD.fullmatch(token) for token in tokens):
        try:
            return parse_words(text)
        except InvalidAnswer:
            # Six short words made only of the letters a to f are also 16 hex digits.
            if _HEX_PASSWORD.fullmatch("".join(tokens)):
                return parse_hex(text)
            raise
    try:
        return parse_hex(text)
    except InvalidAnswer:
        raise InvalidAnswer(
            "invalid one-time password: expected six words from the RFC 2289 dictionary or 16 hex digits"
        ) from None


def _parse_extended(kind: str, arguments: list[str]) -> Answer:
    parsers = {"hex": parse_hex, "word": parse_words, "init-hex": parse_hex, "init-word": parse_words}
    if kind not in parsers:
        raise InvalidAnswer(
            f"unsupported extended response type {_shorten(kind)!r}; use hex, word, init-hex or init-word"
        )
    parse = parsers[kind]
    expected = 3 if kind.startswith("init-") else 1
    if len(arguments) != expected:
        raise InvalidAnswer(
            f"invalid {kind} response: it needs {expected} colon-separated field(s) after the type, "
            f"got {len(arguments)}"
        )
    if expected == 1:
        return Answer(parse(arguments[0]))
    current, parameters, new_password = arguments
    return Answer(parse(current), _parse_reinitialization(parameters, parse(new_password)))


def _parse_reinitialization(parameters: str, password: bytes) -> Reinitialization:
    tokens = parameters.split()
    if len(tokens) != 3:
        raise InvalidReinitialization(
            f"invalid re-initialisation parameters {_shorten(parameters)!r}: "
            "expected '<algorithm> <sequence> <seed>', such as 'md5 499 ke1235'"
        )
    algorithm, sequence, seed = tokens[0].lower(), tokens[1], tokens[2]
    if algorithm not in ALGORITHMS:
        raise InvalidReinitialization(
            f"invalid re-initialisation algorithm {_shorten(tokens[0])!r}; use one of {', '.join(ALGORITHMS)}"
        )
    # Sequence 0 would leave no challenge to issue after the re-initialisation.
    if not _SEQUENCE.fullmatch(sequence) or not 1 <= int(sequence) <= MAX_SEQUENCE:
        raise InvalidReinitialization(
            f"invalid re-initialisation sequence number {_shorten(sequence)!r}: "
            f"it must be an integer from 1 to {MAX_SEQUENCE}"
        )
    if not _SEED.fullmatch(seed):
        raise InvalidReinitialization(
            f"invalid re-initialisation seed {_shorten(seed)!r}: "
            f"a seed has 1 to {MAX_SEED_LENGTH} ASCII letters and digits"
        )
    return Reinitialization(algorithm, int(sequence), seed.lower(), password)


# OTPKEY -------------------------------------------------------------------


@dataclass(frozen=True)
class OtpKey:
    """An OTPKEY: the algorithm, and the lower-case hex string that is the RFC 2289 pass phrase."""

    algorithm: str
    pass_phrase: str = field(repr=False)

    def __str__(self) -> str:
        return f"{self.algorithm}-{self.pass_phrase}"


def generate_otpkey(algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Return a new random OTPKEY value ``<algorithm>-<hex>`` (32 hex digits, 40 for sha1)."""
    digits = OTPKEY_HEX_DIGITS[validate_algorithm(algorithm)]
    return f"{algorithm}-{secrets.token_hex(digits // 2)}"


def looks_like_otpkey(secret: str) -> bool:
    """Return whether a secret has the OTPKEY shape ``<algorithm>-<hex>`` rather than being a pass phrase."""
    return _OTPKEY.fullmatch(secret.strip()) is not None


def parse_otpkey(text: str) -> OtpKey:
    """Parse an OTPKEY value, accepting upper-case hex and lower-casing it."""
    match = _OTPKEY.fullmatch(text.strip())
    if match is None:
        raise InvalidOtpKey(
            "invalid OTPKEY: expected '<algorithm>-<hex digits>' with algorithm md4, md5 or sha1; "
            "copy the whole OTPKEY value from the invitation"
        )
    algorithm, digits = match.group(1).lower(), match.group(2).lower()
    expected = OTPKEY_HEX_DIGITS[algorithm]
    if len(digits) != expected:
        raise InvalidOtpKey(
            f"invalid OTPKEY: a {algorithm} key has {expected} hex digits, this one has {len(digits)}; "
            "copy the whole OTPKEY value from the invitation"
        )
    return OtpKey(algorithm, digits)


def generate_seed() -> str:
    """Return a random seed of lower-case letters and digits."""
    return "".join(secrets.choice(SEED_ALPHABET) for _ in range(GENERATED_SEED_LENGTH))


# Generator ----------------------------------------------------------------


def answer_challenge(challenge: Challenge, secret: str) -> bytes:
    """Compute the one-time password that answers the challenge.

    A secret of the form ``<algorithm>-<hex>`` is read as an OTPKEY, whose
    algorithm must match the challenge's. Any other secret is the pass phrase.
    """
    pass_phrase = secret
    if looks_like_otpkey(secret):
        key = parse_otpkey(secret)
        if key.algorithm != challenge.algorithm:
            raise AlgorithmMismatch(key.algorithm, challenge.algorithm)
        pass_phrase = key.pass_phrase
    return compute_otp(challenge.algorithm, pass_phrase, challenge.seed, challenge.sequence)


# Verifier -----------------------------------------------------------------


@dataclass(frozen=True)
class VerifierState:
    """What the server keeps: ``last_password`` is the accepted one-time password for ``sequence``.

    The password is spent, so the state is no secret. The next valid answer is
    its preimage under the folded hash.
    """

    algorithm: str
    seed: str
    sequence: int
    last_password: bytes

    def __post_init__(self) -> None:
        validate_algorithm(self.algorithm)
        if normalize_seed(self.seed) != self.seed:
            raise InvalidSeed(f"invalid verifier seed {self.seed!r}: store seeds in lower case")
        validate_sequence(self.sequence)
        _require_password(self.last_password)


def initial_state(otpkey: str, seed: str, sequence: int) -> VerifierState:
    """Derive the verifier state at ``sequence`` from an OTPKEY.

    The key's hex string is the pass phrase. Only the one-time password for
    ``sequence`` is kept, so the first challenge asks for ``sequence - 1``.
    """
    if sequence < 1:
        raise OtpError(f"invalid initial OTP sequence number {sequence}: it must be at least 1")
    key = parse_otpkey(otpkey)
    password = compute_otp(key.algorithm, key.pass_phrase, seed, sequence)
    return VerifierState(key.algorithm, normalize_seed(seed), sequence, password)


def current_challenge(state: VerifierState) -> Challenge:
    """Return the challenge the state expects an answer to: ``otp-<algorithm> <sequence - 1> <seed>``."""
    if state.sequence < 1:
        raise SequenceExhausted(
            f"OTP sequence for seed {state.seed!r} is used up; issue a new OTPKEY to start a new sequence"
        )
    return Challenge(state.algorithm, state.sequence - 1, state.seed)


def verify(state: VerifierState, response: str) -> VerifierState:
    """Check a response against the current challenge and return the state after it.

    An accepted answer becomes ``last_password`` one sequence number lower. An
    RFC 2243 init response must first answer the current challenge, and then its
    new parameters and password become the state. Raise ReplayedAnswer for a spent
    password, OtpRejected for any other wrong one, InvalidAnswer for a response
    that cannot be parsed, and SequenceExhausted when no challenge is left.
    """
    challenge = current_challenge(state)
    answer = parse_answer(response)
    if answer.reinitialization is not None:
        _check_reinitialization(state, answer.reinitialization)
    if not hmac.compare_digest(hash_password(state.algorithm, answer.password), state.last_password):
        raise _rejection(state, challenge, answer.password)
    new = answer.reinitialization
    if new is not None:
        return VerifierState(new.algorithm, new.seed, new.sequence, new.password)
    return replace(state, sequence=state.sequence - 1, last_password=answer.password)


def _check_reinitialization(state: VerifierState, new: Reinitialization) -> None:
    # Checked before the password, so a rejected re-initialisation spends nothing.
    # Reusing the seed would repeat the old sequence's passwords under the same
    # pass phrase.
    if new.seed == state.seed:
        raise InvalidReinitialization(
            f"invalid re-initialisation: the new seed {new.seed!r} equals the current seed; choose a different seed"
        )


def _rejection(state: VerifierState, challenge: Challenge, password: bytes) -> OtpRejected:
    spent = state.last_password
    for _ in range(REPLAY_WINDOW + 1):
        if hmac.compare_digest(spent, password):
            return ReplayedAnswer(
                f"one-time password rejected: it was already used; answer the current challenge '{challenge}'"
            )
        spent = hash_password(state.algorithm, spent)
    return OtpRejected(
        f"one-time password rejected: it does not answer the challenge '{challenge}'; "
        "compute the answer for that challenge and send it again"
    )
