"""``imip-gateway otp`` run as a user would: a subprocess with the secret on standard input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.otp import compute_otp, format_words
from test_otp import RFC_2289_VECTORS, rfc_hex, vector_id

REPOSITORY = Path(__file__).resolve().parent.parent


def run_otp(arguments: list[str], secret: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway -c /nonexistent otp ARGUMENTS`` with the secret on standard input."""
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run(
        [sys.executable, "-m", "gateway", "-c", "/nonexistent", "otp", *arguments],
        input=secret,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=60,
    )


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_cli_words_vector(vector: tuple[str, str, str, int, str, str], tmp_path: Path) -> None:
    algorithm, pass_phrase, seed, sequence, _, words = vector
    result = run_otp([f"otp-{algorithm} {sequence} {seed}"], pass_phrase + "\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == words + "\n"
    assert result.stderr == ""


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_cli_hex_vector(vector: tuple[str, str, str, int, str, str], tmp_path: Path) -> None:
    algorithm, pass_phrase, seed, sequence, hex_form, _ = vector
    result = run_otp([f"otp-{algorithm} {sequence} {seed}", "--hex"], pass_phrase + "\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == rfc_hex(hex_form) + "\n"


def test_cli_secret_without_newline(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 99 TeSt"], "This is a test.", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "BAIL TUFT BITS GANG CHEF THY\n"


def test_cli_secret_crlf_stripped(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 99 TeSt"], "This is a test.\r\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "BAIL TUFT BITS GANG CHEF THY\n"


def test_cli_keeps_trailing_spaces(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 99 TeSt"], "This is a test. \n", tmp_path)
    expected = format_words(compute_otp("md5", "This is a test. ", "test", 99))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"
    assert expected != "BAIL TUFT BITS GANG CHEF THY"


def test_cli_otpkey_secret(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 498 gwk3x9", "--hex"], "MD5-0F1E2D3C4B5A69788796A5B4C3D2E1F0\n", tmp_path)
    expected = compute_otp("md5", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "gwk3x9", 498).hex()
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"


def test_cli_extended_challenge(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 499 ke1234 ext"], "This is a test.\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "BOND FOGY DRAB NE RISE MART\n"


@pytest.mark.parametrize(
    ("challenge", "reason"),
    [
        ("otp-md5 99", "it has 2 fields instead of 3, or 4 with 'ext'"),
        ("otp-sha256 99 TeSt", "'otp-sha256' is not one of otp-md4, otp-md5, otp-sha1"),
        ("otp-md5 many TeSt", "the sequence number must be an integer from 0 to 9999"),
    ],
)
def test_cli_malformed_challenge_exit_2(challenge: str, reason: str, tmp_path: Path) -> None:
    result = run_otp([challenge], "This is a test.\n", tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: imip-gateway otp")
    assert f"imip-gateway otp: error: argument CHALLENGE: invalid OTP challenge {challenge!r}: {reason};" in (
        result.stderr
    )


@pytest.mark.parametrize("secret", ["too short\n", "x" * 64 + "\n", "\n"])
def test_cli_pass_phrase_length_exit_1(secret: str, tmp_path: Path) -> None:
    length = len(secret) - 1
    result = run_otp(["otp-md5 99 TeSt"], secret, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"imip-gateway: invalid pass phrase: it has {length} characters, but RFC 2289 requires 10 to 63; "
        "enter the pass phrase or OTPKEY again\n"
    )


def test_cli_algorithm_mismatch_exit_1(tmp_path: Path) -> None:
    result = run_otp(["otp-sha1 498 gwk3x9"], "md5-0f1e2d3c4b5a69788796a5b4c3d2e1f0\n", tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "imip-gateway: the OTPKEY is for md5 but the challenge asks for sha1; "
        "answer it with the OTPKEY that came with this challenge\n"
    )


def test_cli_bad_otpkey_length_exit_1(tmp_path: Path) -> None:
    result = run_otp(["otp-sha1 498 gwk3x9"], "sha1-0f1e2d3c4b5a69788796a5b4c3d2e1f0\n", tmp_path)
    assert result.returncode == 1
    assert "invalid OTPKEY: a sha1 key has 40 hex digits, this one has 32" in result.stderr
    assert "0f1e2d3c" not in result.stderr


def test_otp_without_secret_on_stdin(tmp_path: Path) -> None:
    result = run_otp(["otp-md5 99 TeSt"], "", tmp_path)
    assert result.returncode == 1
    assert result.stderr == "imip-gateway: no secret on standard input; pipe the pass phrase or OTPKEY into the command\n"
