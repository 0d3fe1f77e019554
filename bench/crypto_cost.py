"""Measure one S/MIME and one OpenPGP sign+encrypt and verify, against baselines.

Keys are made per run in a temporary folder. Each figure is the median of
``--rounds`` runs, in milliseconds. Each is also given as a ratio to two
baselines measured in the same run: a SHA-256 of the same bytes, and
spawning ``openssl version``, the floor for any call that starts a process.

Run from the repository root: ``python bench/crypto_cost.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.gnupg_home import GnupgHome  # noqa: E402
from crypto.own_keys import make_pgp_key, make_smime_identity  # noqa: E402
from crypto.pgp import PgpSigner, decrypt_pgp, pgp_sign_encrypt, verify_pgp_detached  # noqa: E402
from crypto.smime import encrypt_smime, sign_smime_detached  # noqa: E402
from crypto.smime_trust import SmimeTrust  # noqa: E402
from crypto.smime_verify import verify_smime_detached  # noqa: E402

ADDRESS = "bench@example.org"
# About the size of an INVITATION mail's multipart/alternative body.
CONTENT = (b"Content-Type: text/plain\r\n\r\n" + b"x" * 76 + b"\r\n") * 40


def median_ms(function: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs per figure (default 20)")
    rounds = parser.parse_args().rounds

    with tempfile.TemporaryDirectory() as folder:
        identity = make_smime_identity(ADDRESS)
        trust = SmimeTrust(imported=(identity.certificate,))
        home = GnupgHome(Path(folder) / "gnupg")
        fingerprint = make_pgp_key(home, ADDRESS, None)
        signer = PgpSigner(fingerprint)
        smime_signature = sign_smime_detached(CONTENT, identity)
        pgp_signature = bytes(home.gpg.sign(CONTENT, keyid=fingerprint, detach=True).data)
        # A figure for a failing check would time an early exit, not the work.
        assert verify_smime_detached(CONTENT, smime_signature, ADDRESS, trust).is_valid
        assert verify_pgp_detached(CONTENT, pgp_signature, ADDRESS, home).is_valid

        figures = {
            "baseline sha256": median_ms(lambda: hashlib.sha256(CONTENT).digest(), rounds),
            "baseline openssl version": median_ms(
                lambda: subprocess.run(["openssl", "version"], capture_output=True, check=True), rounds
            ),
            "smime sign+encrypt": median_ms(
                lambda: encrypt_smime(sign_smime_detached(CONTENT, identity), identity.certificate), rounds
            ),
            "smime verify": median_ms(lambda: verify_smime_detached(CONTENT, smime_signature, ADDRESS, trust), rounds),
            "pgp sign+encrypt": median_ms(lambda: pgp_sign_encrypt(CONTENT, fingerprint, home, signer), rounds),
            "pgp verify": median_ms(lambda: verify_pgp_detached(CONTENT, pgp_signature, ADDRESS, home), rounds),
            "pgp decrypt+verify": median_ms(
                lambda: decrypt_pgp(pgp_sign_encrypt(CONTENT, fingerprint, home, signer), home, from_address=ADDRESS),
                rounds,
            ),
        }
        subprocess.run(["gpgconf", "--homedir", str(home.path), "--kill", "gpg-agent"], check=False)

    sha = figures["baseline sha256"]
    spawn = figures["baseline openssl version"]
    print(f"content {len(CONTENT)} bytes, median of {rounds} runs")
    print(f"{'operation':28} {'ms':>9} {'x sha256':>10} {'x spawn':>8}")
    for name, value in figures.items():
        print(f"{name:28} {value:9.3f} {value / sha:10.0f} {value / spawn:8.1f}")


if __name__ == "__main__":
    main()
