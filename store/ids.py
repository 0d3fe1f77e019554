"""Identifiers for queue, outbox and quarantine entries."""

import secrets


def new_id() -> str:
    """Return a random 16-hex-digit id, short enough to quote in an SMTP reply."""
    return secrets.token_hex(8).upper()
