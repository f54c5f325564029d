"""Locks between the processes that share an index folder (advisory `flock`s on small files).

- the write lock: one writing process at a time, named in the message the others get;
- the open lock: every process with the index open holds it shared, so that a rebuild, which
  deletes the files under them, can tell that they are there;
- the vectors lock: readers of the embedded Chroma hold it shared while they search, the
  writer exclusively while it writes; its content is a stamp that changes with every write,
  which tells a reader that its in-memory copy of the vectors is out of date.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsdesk.errors import IndexBusyError

_STAMP_BYTES = 32


def this_process() -> str:
    """How another process's error message names this one: pid and command."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv and sys.argv[0] else ""
    return f"newsdesk process {os.getpid()}" + (f" ({command})" if command else "")


class FolderLock:
    """An exclusive lock on a file, taken without waiting; the holder writes its name into it."""

    def __init__(self, path: Path, busy: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(self._fd)
            raise IndexBusyError(busy.format(holder=holder or "another process")) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (this_process() + "\n").encode(), 0)

    def release(self) -> None:
        """Let the next writer in."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class OpenLock:
    """Held shared by every open archive of a folder, for as long as it is open."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    @staticmethod
    @contextmanager
    def alone(path: Path) -> Iterator[bool]:
        """Hold the lock exclusively for the block, if no other open archive (in any process)
        holds it: yields whether it could; opening archives wait until the block ends."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock if it was taken

    def release(self) -> None:
        """Stop holding the folder open."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class StampedLock:
    """A shared/exclusive lock across processes and threads, with a stamp of the last write.

    A process holds one `flock` on the file for all its threads: shared while any of its
    threads reads, exclusive while one writes (its other threads wait).
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    def stamp(self) -> str:
        """The stamp the last writer left (read while holding the lock)."""
        return os.pread(self._fd, _STAMP_BYTES, 0).decode("ascii", "replace")

    def new_stamp(self) -> str:
        """Mark a write: every reader holding an older stamp reloads (call it exclusively)."""
        stamp = uuid.uuid4().hex
        os.pwrite(self._fd, stamp.encode("ascii"), 0)
        return stamp

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Read: other processes may read too, none writes."""
        with self._cond:
            while self._writing:
                self._cond.wait()
            if self._readers == 0:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Write (or reload): nobody else reads or writes meanwhile."""
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def close(self) -> None:
        """Close the file (the lock must not be held)."""
        os.close(self._fd)
