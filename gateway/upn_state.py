"""State changes of dynamic UPNs that several commands and jobs share."""

from __future__ import annotations

import time

from crypto.errors import OtpError
from crypto.otp import VerifierState, current_challenge, verify
from store.db import Store


def revoke_upn(store: Store, address: str, reason: str) -> None:
    """Revoke a UPN and forget every credential it had, in one durable transaction."""
    with store.transaction(durable=True):
        store.update_upn(
            address, state="revoked", revoked=time.time(), reason=reason,
            signup_token_hash=None, signup_expires=None, password_hash=None, otp_last=None,
        )
        store.audit("upn", "revoked", reason, upn=address)


def activate_upn(store: Store, address: str, method: str, reason: str) -> bool:
    """Make an ``invited`` UPN ``active``; returns False when it was in another state.

    Joins the caller's transaction when there is one.
    """
    with store.transaction(durable=True):
        row = store.get_upn(address)
        if row is None or row["state"] != "invited":
            return False
        store.update_upn(address, state="active", activated=time.time(), method=method)
        store.audit("activation", "activated", reason, upn=address)
        return True


def verifier_state(row: dict[str, object]) -> VerifierState | None:
    """Read the RFC 2289 verifier state stored on a UPN row; None for a UPN without a key."""
    if not row.get("otp_last") or not row.get("otp_seed"):
        return None
    return VerifierState(
        algorithm=str(row["otp_algorithm"]),
        seed=str(row["otp_seed"]),
        sequence=int(row["otp_sequence"]),  # type: ignore[call-overload]
        last_password=bytes.fromhex(str(row["otp_last"])),
    )


def state_columns(state: VerifierState) -> dict[str, object]:
    """Return the UPN columns that store a verifier state."""
    return {
        "otp_algorithm": state.algorithm,
        "otp_seed": state.seed,
        "otp_sequence": state.sequence,
        "otp_last": state.last_password.hex(),
    }


def current_challenge_text(row: dict[str, object]) -> str | None:
    """Return the challenge a keyed UPN must respond to next, e.g. ``otp-md5 498 gwk3x9``, or None without a key."""
    state = verifier_state(row)
    if state is None or row.get("state") in ("held", "revoked"):
        return None
    return str(current_challenge(state))


def spend_otp(store: Store, address: str, response: str) -> VerifierState | None:
    """Check one one-time password for a UPN and, when it is right, spend it.

    Returns the new verifier state, or None when the UPN has no key, is
    held or revoked, or the response is wrong, replayed or malformed. The
    check and the update run in one write transaction, so two concurrent
    uses of the same password cannot both succeed.
    """
    with store.transaction(durable=True):
        row = store.get_upn(address)
        if row is None or row["state"] in ("held", "revoked"):
            return None
        state = verifier_state(row)
        if state is None:
            return None
        try:
            new_state = verify(state, response)
        except OtpError:
            return None
        store.update_upn(address, **state_columns(new_state))
        return new_state
