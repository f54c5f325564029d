"""A SQLite file shared by the threads of this process and by other processes (WAL mode:
readers never wait for the writer, nor it for them).

Writes and plain reads go through one shared connection, one thread at a time. A `snapshot`
gives the thread its own connection inside a read transaction, so that every read of the block
sees the same committed state whatever other threads and processes write meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path


class Database:
    """The connections to one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._local = threading.local()  # this thread's snapshot connection, while it has one
        self._snapshots: list[sqlite3.Connection] = []
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for db in self._snapshots:
                db.close()
            self._snapshots.clear()
            self._db.close()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """This thread's reads see one committed state until the block ends (a nested block
        shares it). The caller's first read fixes the state."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            yield db
            return
        db = getattr(self._local, "own", None)
        if db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            with self._lock:
                self._snapshots.append(db)
            self._local.own = db
        db.execute("BEGIN")
        try:
            self._local.db = db
            yield db
        finally:
            self._local.db = None
            db.execute("COMMIT")

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """The connection a read goes to: this thread's snapshot, else the shared one."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        return nullcontext(db) if db is not None else self.writing()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The shared connection, for this thread alone (each statement commits by itself)."""
        with self._lock:
            yield self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements that commit together, or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
