"""A SQLite file shared by the threads of this process and by other processes (WAL mode:
readers never wait for the writer, nor it for them).

Writes and plain reads go through one shared connection, one thread at a time. A `snapshot`
gives the thread its own connection inside a read transaction, so that every read of the block
sees the same committed state whatever other threads and processes write meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from newsdesk.errors import IndexCorruptError

_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def damaged(path: Path, exc: BaseException) -> IndexCorruptError:
    """The error for a catalog file SQLite cannot read, saying how to repair the index."""
    index = path.parent
    return IndexCorruptError(
        f"the catalog {path} is damaged ({exc}); run `newsdesk check --repair --index-dir "
        f"{index}` to keep what it still holds, or `newsdesk ingest --rebuild --index-dir {index} "
        "PATH...` to rebuild the index from your files")


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error says the database file itself is damaged."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in _DAMAGED


@contextmanager
def _guarded(path: Path) -> Iterator[None]:
    """A damaged database file met in the block becomes an IndexCorruptError that says how
    to repair, wherever it is met."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise damaged(path, exc) from exc
        raise


class Database:
    """The connections to one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._local = threading.local()  # this thread's snapshot connection, while it has one
        self._snapshots: set[sqlite3.Connection] = set()
        try:
            with self._lock, _guarded(path):
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self._db.close()
            raise

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
        own: _Own | None = getattr(self._local, "own", None)
        if own is None:  # closed when its thread ends (worker threads come and go)
            own = _Own(sqlite3.connect(self._path, check_same_thread=False,
                                       isolation_level=None))
            with self._lock:
                self._snapshots.add(own.db)
            weakref.finalize(own, _forget, self._lock, self._snapshots, own.db)
            self._local.own = own
        db = own.db
        with _guarded(self._path):
            db.execute("BEGIN")
            try:
                self._local.db = db
                yield db
            finally:
                self._local.db = None
                _end(db)  # read only: ending it by rolling back changes nothing

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """The connection a read goes to: this thread's snapshot, else the shared one."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        return nullcontext(db) if db is not None else self.writing()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The shared connection, for this thread alone (each statement commits by itself)."""
        with self._lock, _guarded(self._path):
            yield self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements that commit together, or not at all."""
        with self._lock, _guarded(self._path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                _end(self._db)
                raise
            self._db.execute("COMMIT")


class _Own:
    """A thread's own snapshot connection (the thread-local holds it; gone with the thread)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


def _forget(lock: threading.RLock, snapshots: set[sqlite3.Connection],
            db: sqlite3.Connection) -> None:
    """Close a snapshot connection whose thread ended (unless the database closed it)."""
    with lock:
        if db in snapshots:
            snapshots.discard(db)
            db.close()


def _end(db: sqlite3.Connection) -> None:
    """Roll back a transaction that may already be over (SQLite rolls back by itself after a
    full disk or an I/O error; a closed database has none), never masking the error under way."""
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass
