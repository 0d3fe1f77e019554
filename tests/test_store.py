import sqlite3
from pathlib import Path

import pytest

from store.db import open_store
from store.errors import SchemaTooNew
from store.schema import MIGRATIONS


def test_new_database_is_wal_at_latest_schema(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    assert store.schema_version() == len(MIGRATIONS)
    mode = store.db.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    tables = set(store.db.table_names())
    assert {"spool", "outbox", "quarantine", "upns", "upn_events", "keys", "audit", "schema_version"} <= tables


def test_reopen_keeps_data_and_version(state_dir: Path) -> None:
    path = state_dir / "gateway.sqlite3"
    store = open_store(path)
    queue_id = store.spool_message(
        raw=b"Subject: x\r\n\r\nbody\r\n", peer="127.0.0.1", helo="h", mail_from="a@x", rcpt_tos=["b@y"], trusted=True
    )
    store.close()

    again = open_store(path)
    message = again.get_spooled(queue_id)
    assert message is not None
    assert message.raw == b"Subject: x\r\n\r\nbody\r\n"
    assert message.rcpt_tos == ("b@y",)
    assert again.schema_version() == len(MIGRATIONS)


def test_newer_schema_is_refused(state_dir: Path) -> None:
    path = state_dir / "gateway.sqlite3"
    open_store(path).close()
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO schema_version VALUES (?, 0)", (len(MIGRATIONS) + 1,))
    connection.commit()
    connection.close()
    with pytest.raises(SchemaTooNew, match=f"schema version {len(MIGRATIONS) + 1}"):
        open_store(path)


def test_transaction_rolls_back_every_write(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    queue_id = store.spool_message(raw=b"x", peer="p", helo=None, mail_from="", rcpt_tos=["r@x"], trusted=False)
    with pytest.raises(RuntimeError):
        with store.transaction(durable=True):
            store.enqueue(mail_from="", rcpt_tos=["r@x"], raw=b"x", lifetime=60, spool_id=queue_id)
            store.finish_spooled(queue_id)
            raise RuntimeError("crash between the two writes")
    assert store.get_spooled(queue_id) is not None
    assert store.outbox_list() == []


def test_spool_to_outbox_handoff_is_atomic(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    queue_id = store.spool_message(raw=b"x", peer="p", helo=None, mail_from="a@x", rcpt_tos=["r@x"], trusted=True)
    with store.transaction(durable=True):
        store.enqueue(mail_from="a@x", rcpt_tos=["r@x"], raw=b"x", lifetime=60, spool_id=queue_id)
        store.finish_spooled(queue_id)
    assert store.get_spooled(queue_id) is None
    assert [row["spool_id"] for row in store.outbox_list()] == [queue_id]


def test_keys_are_found_by_address_in_any_case(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    store.put_key({"fingerprint": "F1", "kind": "smime", "addresses": ["Guest@Remote.Example"], "material": "pem"})
    assert [row["fingerprint"] for row in store.keys_for_address("guest@remote.example")] == ["F1"]
    store.put_key({"fingerprint": "F1", "kind": "smime", "addresses": ["other@remote.example"], "material": "pem"})
    assert store.keys_for_address("guest@remote.example") == []


def test_upn_event_keeps_highest_sequence(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    store.create_upn("guest@remote.example", "mailto:Guest@remote.example", "invited")
    store.record_upn_event("guest@remote.example", "event-1", sequence=2)
    store.record_upn_event("guest@remote.example", "event-1", sequence=1)
    events = store.upn_events("guest@remote.example")
    assert [(row["uid"], row["sequence"]) for row in events] == [("event-1", 2)]
    assert store.upn_has_event("guest@remote.example", "event-1")
    assert not store.upn_has_event("guest@remote.example", "event-2")


def test_unknown_upn_state_is_rejected(state_dir: Path) -> None:
    store = open_store(state_dir / "gateway.sqlite3")
    with pytest.raises(ValueError, match="'pending' is not one of invited, held, active, revoked"):
        store.create_upn("a@x", "a@x", "pending")
