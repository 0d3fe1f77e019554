"""Opening the database in WAL mode and migrating its schema forward."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from store.audit import AuditMixin
from store.errors import SchemaTooNew, StoreError
from store.keys import KeysMixin
from store.outbox import OutboxMixin
from store.quarantine import QuarantineMixin
from store.schema import MIGRATIONS
from store.spool import SpoolMixin
from store.upns import UpnsMixin


class Store(SpoolMixin, OutboxMixin, QuarantineMixin, UpnsMixin, KeysMixin, AuditMixin):
    """The gateway's database: every table's operations on one shared connection."""

    def schema_version(self) -> int:
        with self.lock:
            return _current_version(self.db.conn)


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
    path = Path(path)
    try:
        # The database contains quarantined mail and password hashes, so only its owner may read it.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        connection = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot open database {path}: {error}; check that the folder is writable") from None

    _migrate(connection, path)
    return Store(path, connection)


def _current_version(connection: sqlite3.Connection) -> int:
    row = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    version = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return int(version or 0)


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
        )
        current = _current_version(connection)
        if current > len(MIGRATIONS):
            connection.execute("ROLLBACK")
            raise SchemaTooNew(
                f"database {path} has schema version {current}, newer than this gateway knows "
                f"({len(MIGRATIONS)}); run a gateway version at least as new as the one that wrote it"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version (version, applied) VALUES (?, julianday('now'))", (version,)
            )
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise StoreError(f"cannot migrate database {path}: {error}") from None
