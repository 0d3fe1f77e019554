"""The connection, its lock and transactions, shared by every table module.

sqlite-utils 4 commits every call on its own, so anything that must be
atomic runs inside ``StoreBase.transaction()``, which starts with ``BEGIN
IMMEDIATE`` (taking the write lock up front, so two writers never deadlock
on a lock upgrade) and, when ``durable`` is set, commits with
``synchronous=FULL`` so an acknowledged message survives a power loss.
sqlite-utils calls made inside it become savepoints.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils


class StoreBase:
    """One connection to the gateway's database, safe to share between threads.

    Calls are serialised by a lock: SQLite allows one writer at a time
    anyway, and the service runs store calls in worker threads.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.db = sqlite_utils.Database(connection)
        self.lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self, durable: bool = False) -> Iterator[sqlite_utils.Database]:
        """Run the block as one write transaction; ``durable`` forces a full fsync at commit."""
        with self.lock:
            conn = self.db.conn
            if conn.in_transaction:
                # Nested use joins the outer transaction as a savepoint.
                with self.db.atomic():
                    yield self.db
                return
            if durable:
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous=NORMAL")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a read and return its rows as dicts."""
        with self.lock:
            return list(self.db.query(sql, params))

    def close(self) -> None:
        with self.lock:
            self.db.close()
