"""Keystore records: attendees' certificates and public keys, and the gateway's own."""

from __future__ import annotations

import json
import time
from typing import Any

from store.base import StoreBase


class KeysMixin(StoreBase):
    def put_key(self, record: dict[str, Any]) -> None:
        """Insert or replace one key by fingerprint, with the addresses it binds.

        ``record`` has ``fingerprint``, ``kind``, ``addresses`` (a list),
        ``not_after`` (Unix time or None), ``revoked``, ``own`` and ``material``.
        """
        addresses = sorted({address.lower() for address in record["addresses"]})
        with self.transaction() as db:
            db.execute("DELETE FROM key_addresses WHERE fingerprint = ?", (record["fingerprint"],))
            db.table("keys").upsert(
                {
                    "fingerprint": record["fingerprint"],
                    "kind": record["kind"],
                    "addresses": json.dumps(addresses),
                    "not_after": record.get("not_after"),
                    "revoked": int(bool(record.get("revoked", False))),
                    "own": int(bool(record.get("own", False))),
                    "material": record["material"],
                    "imported": time.time(),
                },
                pk="fingerprint",
            )
            for address in addresses:
                db.table("key_addresses").insert({"address": address, "fingerprint": record["fingerprint"]})

    def keys_for_address(self, address: str) -> list[dict[str, Any]]:
        """Keys that bind ``address`` (compared in lower case), newest import first."""
        rows = self.query(
            "SELECT keys.* FROM key_addresses JOIN keys USING (fingerprint) "
            "WHERE key_addresses.address = ? ORDER BY keys.imported DESC",
            (address.lower(),),
        )
        return [_decode(row) for row in rows]

    def get_key(self, fingerprint: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM keys WHERE fingerprint = ?", (fingerprint,))
        return _decode(rows[0]) if rows else None

    def list_keys(self) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.query("SELECT * FROM keys ORDER BY imported")]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["addresses"] = json.loads(row["addresses"])
    row["revoked"] = bool(row["revoked"])
    row["own"] = bool(row["own"])
    return row
