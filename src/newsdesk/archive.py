"""An index folder — manifest, catalog, vectors, keyword index — and the order of writes
that keeps them consistent through crashes.

Write protocol for a batch: mark the index dirty; write the new vectors (deterministic ids,
so repeating a write is harmless); commit the catalog rows in one transaction; delete the
vectors those rows replaced. The catalog is the source of truth: a vector it does not know is
never returned, and `finish` (or the next writer, seeing the dirty mark) deletes it. The
keyword index records the catalog generation it was built from and is brought up to date (by
the change, or rebuilt) when they differ.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from newsdesk.catalog import Catalog, StoredArticle, date_number, outlet_key
from newsdesk.chunk import TOKENIZER
from newsdesk.embed import DEFAULT_EMBEDDER, Embedder, embedder_dim, embedder_model_id
from newsdesk.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from newsdesk.keyword import ANALYSER, KeywordIndex
from newsdesk.store import FORMAT_VERSION, MANIFEST, Manifest, VectorStore
from newsdesk.types import Article, Chunk

log = logging.getLogger(__name__)

SPLITTER = "sentencex-by-language"  # sentences split by the rules of each article's language
_CATALOG = "catalog.sqlite"
_CHROMA = "chroma"
_KEYWORD = "bm25"
_LOCK = "write.lock"
_OWNED = (MANIFEST, _CATALOG, _CATALOG + "-wal", _CATALOG + "-shm", _CHROMA, _KEYWORD,
          _KEYWORD + ".tmp-*", _KEYWORD + ".old-*")


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article ready to be written: its catalog row and its chunks."""

    stored: StoredArticle
    chunks: list[Chunk]


def wanted_manifest(embedder: str, chunk_tokens: int) -> Manifest:
    """The manifest an index built with these settings has."""
    return Manifest(FORMAT_VERSION, embedder, embedder_model_id(embedder), embedder_dim(embedder),
                    chunk_tokens, TOKENIZER, SPLITTER, ANALYSER)


class _FolderLock:
    """An exclusive advisory lock on an index folder: one writing process per index."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = open(index_dir / _LOCK, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            self._handle.close()
            raise IndexBusyError(
                f"{index_dir} is being written by {holder}; wait for it to finish "
                "(while `newsdesk serve` runs, add articles through its Archive tab)") from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"newsdesk process {os.getpid()}\n")
        self._handle.flush()

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class Archive:
    """One index folder. Writing takes the folder's lock, held until the archive is closed."""

    def __init__(self, index_dir: Path, manifest: Manifest, lock: _FolderLock | None) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self._lock = lock
        self.catalog = Catalog(index_dir / _CATALOG)
        try:
            self.vectors = VectorStore(index_dir / _CHROMA, manifest.dim)
        except BaseException:
            self.catalog.close()
            raise
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.Lock()
        self.write_lock = threading.RLock()  # writers in one process take turns
        try:
            if lock is not None:
                self._repair()
            self.verify()
        except BaseException:
            self.vectors.close()
            self.catalog.close()
            raise

    @classmethod
    def open(cls, index_dir: Path, embedder: str | None, chunk_tokens: int, *,
             create: bool = False, rebuild: bool = False) -> Archive:
        """Open an index; `create` makes it if missing and `rebuild` wipes it first (both lock it)."""
        lock = _FolderLock(index_dir) if (create or rebuild) else None
        try:
            if rebuild:
                wipe(index_dir)
            found = Manifest.read(index_dir)
            if found is None:
                if lock is None:
                    raise IndexMissingError(
                        f"there is no index at {index_dir}; build one with "
                        f"`newsdesk ingest --index-dir {index_dir} PATH...`")
                found = wanted_manifest(embedder or DEFAULT_EMBEDDER, chunk_tokens)
                found.write(index_dir)
            else:
                found.check(wanted_manifest(embedder or found.embedder, chunk_tokens), index_dir)
            return cls(index_dir, found, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        """Close the catalog, release Chroma's hold on the folder and the write lock."""
        self.vectors.close()
        self.catalog.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def acquire_write(self) -> None:
        """Take the folder's write lock (if not held yet); raises IndexBusyError if another has it."""
        with self.write_lock:
            if self._lock is None:
                self._lock = _FolderLock(self.index_dir)
                self._repair()

    def _repair(self) -> None:
        if self.catalog.get_meta("dirty") == "1":
            self._reconcile()

    def verify(self) -> None:
        """Raise IndexCorruptError when the catalog and the vectors disagree in a way no write
        explains: vectors lost (chroma/ deleted or damaged) or catalog rows lost. By the write
        order, vectors outnumber passages only while a write is under way or unfinished."""
        before = (self.catalog.get_meta("dirty"), self.catalog.generation)
        passages = self.catalog.counts()[1]
        vectors = self.vectors.count()
        if vectors == passages or (before[0] == "1" and vectors > passages):
            return
        if (self.catalog.get_meta("dirty"), self.catalog.generation) != before:
            return  # another process wrote meanwhile; its counts were read mid-change
        repair = f"`newsdesk check --repair --index-dir {self.index_dir}`"
        if vectors < passages:
            raise IndexCorruptError(
                f"{passages - vectors:,} of the {passages:,} passages in {self.index_dir} have no "
                f"vector (the vector store {self.index_dir / _CHROMA} was deleted or damaged); run "
                f"{repair} to embed them again from the catalog")
        raise IndexCorruptError(
            f"the vector store in {self.index_dir} holds {vectors:,} vectors but the catalog only "
            f"{passages:,} passages (catalog.sqlite lost rows: was it replaced or truncated?); run "
            f"{repair} to keep what the catalog holds, or `newsdesk ingest --rebuild --index-dir "
            f"{self.index_dir} PATH...` to rebuild it from your files")

    # -- writing ------------------------------------------------------------------------
    def finish_writing(self, tokens: Mapping[str, str] | None = None) -> None:
        """After a run of writes that all completed: keyword index up to date, dirty mark cleared.

        `tokens` may hold the keyword tokens of chunks written in this run (by chunk id). A run
        that raised leaves the mark set, and the next writer removes what it left behind.
        """
        self.keyword(tokens)
        self.catalog.set_meta("dirty", "0")

    def write(self, items: Sequence[Prepared], vectors: np.ndarray,
              files: Sequence[tuple[str, str, str, Sequence[str]]],
              gone: Sequence[str] = ()) -> None:
        """Write articles (their chunks' vectors in order) and the records of finished files,
        and remove the articles in `gone` (records those files no longer hold), at once."""
        self.catalog.set_meta("dirty", "1")
        chunks = [(item.stored.article, c) for item in items for c in item.chunks]
        if chunks:
            self.vectors.upsert([c.id for _, c in chunks], vectors,
                                [vector_metadata(a) for a, _ in chunks])
        stale: list[str] = []
        with self.catalog.transaction() as db:
            stale += self.catalog.remove_articles(db, gone)
            for item in items:
                stale += self.catalog.replace_articles(db, item.stored, item.chunks)
            for path, root, fingerprint, article_ids in files:
                self.catalog.record_file(db, path, root, fingerprint, article_ids)
        self.vectors.delete(stale)

    def remove(self, article_ids: Sequence[str]) -> None:
        """Remove articles from the catalog, then their vectors."""
        self.catalog.set_meta("dirty", "1")
        with self.catalog.transaction() as db:
            stale = self.catalog.remove_articles(db, article_ids)
        self.vectors.delete(stale)

    def _reconcile(self) -> None:
        """After an interrupted write: drop the vectors the catalog does not know. A chunk of the
        catalog without its vector cannot come from an interrupted write (vectors go first), so
        it means the Chroma files were damaged."""
        known = self.catalog.all_chunk_ids()
        stored = self.vectors.ids()
        orphans = sorted(stored - known)
        if orphans:
            log.info("removing %d vectors left by an interrupted write", len(orphans))
            self.vectors.delete(orphans)
        missing = known - stored
        if missing:
            raise IndexCorruptError(
                f"{len(missing)} passages in {self.index_dir} have no vector (the Chroma files "
                f"were damaged); run `newsdesk check --repair --index-dir {self.index_dir}` to "
                "embed them again from the catalog")

    # -- reading ------------------------------------------------------------------------
    def keyword(self, tokens: Mapping[str, str] | None = None) -> KeywordIndex:
        """The keyword index for the catalog's current generation: loaded, updated by what
        changed, or rebuilt."""
        generation = self.catalog.generation
        with self._keyword_lock:
            index = self._keyword
            if index is None or index.generation != generation:
                index = KeywordIndex.load(self.index_dir / _KEYWORD) or index
            if index is None or index.generation != generation:
                updated = None
                if index is not None:
                    updated = index.updated(self.catalog.chunk_keys(), generation,
                                            self.catalog.chunks_by_rid, tokens)
                index = updated or KeywordIndex.build(self.catalog.all_chunks(), generation, tokens)
                try:
                    index.save(self.index_dir / _KEYWORD)
                except OSError as exc:  # a read-only index still answers from memory
                    log.warning("cannot save the keyword index in %s: %s", self.index_dir, exc)
            self._keyword = index
            return index


def vector_metadata(article: Article) -> dict[str, str | int]:
    """The filter fields stored with each vector of an article."""
    return {"article": article.id, "outlet": outlet_key(article.outlet),
            "date": date_number(article.date), "language": article.language}


def wipe(index_dir: Path) -> None:
    """Delete an index's own files from its folder (anything else there is left alone)."""
    for pattern in _OWNED:
        for path in index_dir.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def embed_chunks(embedder: Embedder, items: Sequence[Prepared]) -> np.ndarray:
    """Vectors for every chunk of the items, in order."""
    return embedder.embed([c.text for item in items for c in item.chunks])
