"""The gpg status parser on streams recorded from real gpg runs, with injected lines."""

from __future__ import annotations

import pytest

from crypto.gpg_status import decide_decryption, decide_signature, parse_status
from crypto.verdict import Reason
from tests.crypto_fixtures import PgpWorld



def forged_lines(world: PgpWorld) -> list[str]:
    """GOODSIG and VALIDSIG lines that claim a good signature by the guest's key."""
    guest = world.fingerprints["guest"]
    return [
        f"[GNUPG:] GOODSIG {guest[-16:]} Guest <guest@remote.example>",
        f"[GNUPG:] VALIDSIG {guest} 2026-12-04 1796414906 0 4 0 22 8 00 {guest}",
    ]


def inject(stream: str, lines: list[str], after: str = "NEWSIG") -> str:
    """Insert ``lines`` right after the first status line with keyword ``after``."""
    output = []
    for line in stream.splitlines():
        output.append(line)
        if line.startswith(f"[GNUPG:] {after}") and lines:
            output.extend(lines)
            lines = []
    assert not lines, f"no {after} line to inject after"
    return "\n".join(output) + "\n"


def test_recorded_good_stream(pgp_world: PgpWorld) -> None:
    decision = decide_signature(parse_status(pgp_world.status_streams["sig_guest"]), 0)

    assert decision.is_good
    assert decision.fingerprint == pgp_world.fingerprints["guest"]


@pytest.mark.parametrize(
    ("stream", "reason"),
    [("sig_expired", Reason.EXPIRED), ("sig_revoked", Reason.REVOKED), ("unknown", Reason.UNKNOWN_SIGNER)],
)
def test_recorded_failure_streams(pgp_world: PgpWorld, stream: str, reason: Reason) -> None:
    decision = decide_signature(parse_status(pgp_world.status_streams[stream]), 0)

    assert decision.reason is reason


@pytest.mark.parametrize("stream", ["sig_mallory", "unknown", "sig_expired", "sig_revoked"])
def test_injected_good_signature_rejected(pgp_world: PgpWorld, stream: str) -> None:
    forged = inject(pgp_world.status_streams[stream], forged_lines(pgp_world))

    decision = decide_signature(parse_status(forged), 0)

    assert not decision.is_good
    assert decision.fingerprint != pgp_world.fingerprints["guest"]


@pytest.mark.parametrize("after", ["KEY_CONSIDERED", "VALIDSIG", "GOODSIG"])
def test_injected_validsig_after_real_one_rejected(pgp_world: PgpWorld, after: str) -> None:
    guest = pgp_world.fingerprints["guest"]
    forged = inject(
        pgp_world.status_streams["sig_mallory"],
        [f"[GNUPG:] VALIDSIG {guest} 2026-12-04 1796414906 0 4 0 22 8 00 {guest}"],
        after=after,
    )

    decision = decide_signature(parse_status(forged), 0)

    assert decision.reason is Reason.BAD_SIGNATURE


def test_injected_newsig_counts_as_several_signers(pgp_world: PgpWorld) -> None:
    forged = inject(pgp_world.status_streams["sig_guest"], ["[GNUPG:] NEWSIG"])

    decision = decide_signature(parse_status(forged), 0)

    assert decision.reason is Reason.SEVERAL_SIGNERS


def test_status_text_inside_message_line_ignored(pgp_world: PgpWorld) -> None:
    guest = pgp_world.fingerprints["guest"]
    forged = inject(
        pgp_world.status_streams["sig_mallory"],
        [f'gpg: Good signature from "x [GNUPG:] VALIDSIG {guest} 0 0 0 4 0 22 8 00 {guest}"'],
    )

    decision = decide_signature(parse_status(forged), 0)

    assert decision.is_good
    assert decision.fingerprint == pgp_world.fingerprints["mallory"]


def test_validsig_for_other_key_than_goodsig(pgp_world: PgpWorld) -> None:
    stream = pgp_world.status_streams["sig_mallory"]
    mallory = pgp_world.fingerprints["mallory"]
    guest = pgp_world.fingerprints["guest"]

    forged = stream.replace(f"VALIDSIG {mallory}", f"VALIDSIG {guest}").replace(f"00 {mallory}", f"00 {guest}")
    decision = decide_signature(parse_status(forged), 0)

    assert decision.reason is Reason.BAD_SIGNATURE


def test_goodsig_without_validsig_rejected(pgp_world: PgpWorld) -> None:
    stream = "\n".join(line for line in pgp_world.status_streams["sig_guest"].splitlines() if "VALIDSIG" not in line)

    decision = decide_signature(parse_status(stream), 0)

    assert decision.reason is Reason.BAD_SIGNATURE


def test_goodsig_with_failed_exit_status_rejected(pgp_world: PgpWorld) -> None:
    decision = decide_signature(parse_status(pgp_world.status_streams["sig_guest"]), 2)

    assert decision.reason is Reason.BAD_SIGNATURE


def test_empty_stream_has_no_signer() -> None:
    assert decide_signature([], 2).reason is Reason.NO_SIGNER


@pytest.mark.parametrize(
    ("stream", "ok"),
    [
        ("[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] GOODMDC\n[GNUPG:] END_DECRYPTION\n", True),
        ("[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] END_DECRYPTION\n", False),
        ("[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] GOODMDC\n[GNUPG:] BADMDC\n", False),
        ("[GNUPG:] DECRYPTION_FAILED\n[GNUPG:] GOODMDC\n[GNUPG:] DECRYPTION_OKAY\n", False),
        ("[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] GOODMDC\n", False),
        ("gpg: x\n[GNUPG:] GOODMDC [GNUPG:] DECRYPTION_OKAY\n", False),
    ],
)
def test_decryption_decision(stream: str, ok: bool) -> None:
    assert decide_decryption(parse_status(stream), 0).ok is ok
