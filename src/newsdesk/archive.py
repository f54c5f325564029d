"""An index folder — manifest, catalog, vectors, keyword index — and the order of writes
that keeps them consistent through crashes and for the other processes reading it.

Write protocol for a batch: mark the index dirty; write the new vectors (deterministic ids,
so repeating a write is harmless); commit the catalog rows in one transaction; delete the
vectors those rows replaced. The catalog is the source of truth: a vector it does not know is
never returned, and `finish_writing` (or the next writer, seeing the dirty mark) deletes it.
The keyword index records the catalog generation it was built from and is brought up to date
(by the catalog's log of changes, or rebuilt) when they differ.

Any number of processes may have the folder open; one at a time writes (`writing`, which
takes the folder's write lock for the length of the write). A question is answered inside
`reading`: one committed state of the catalog, and the keyword index brought to it, so that
a reader sees every article whose write has committed — all of its passages, in both
searches — and nothing of one that has not.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from newsdesk.catalog import Catalog, StoredArticle, date_number, outlet_key
from newsdesk.chunk import TOKENIZER
from newsdesk.embed import DEFAULT_EMBEDDER, Embedder, embedder_dim, embedder_model_id
from newsdesk.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    StoreUnavailableError,
)
from newsdesk.keyword import ANALYSER, REBUILD_SHARE, KeywordIndex, saved_state
from newsdesk.locks import FolderLock, OpenLock
from newsdesk.store import CHROMA_DIR, EMBEDDED, FORMAT_VERSION, MANIFEST, Manifest, VectorStore
from newsdesk.types import Article, Chunk

log = logging.getLogger(__name__)

SPLITTER = "sentencex-by-language"  # sentences split by the rules of each article's language
_CATALOG = "catalog.sqlite"
_KEYWORD = "bm25"
_LOCK = "write.lock"
_OPEN = "open.lock"
_OWNED = (MANIFEST, "manifest.tmp-*", _CATALOG, _CATALOG + "-wal", _CATALOG + "-shm", CHROMA_DIR,
          _KEYWORD, _KEYWORD + ".tmp-*", _KEYWORD + ".old-*")
_BUSY = "{index_dir} is being written by {{holder}}; wait for it to finish, then try again"


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article ready to be written: its catalog row and its chunks."""

    stored: StoredArticle
    chunks: list[Chunk]


def wanted_manifest(embedder: str, chunk_tokens: int) -> Manifest:
    """The manifest an index built with these settings has (vectors embedded)."""
    return Manifest(FORMAT_VERSION, embedder, embedder_model_id(embedder), embedder_dim(embedder),
                    chunk_tokens, TOKENIZER, SPLITTER, ANALYSER)


class Archive:
    """One index folder, open for reading; `writing` makes this process its writer for a while."""

    def __init__(self, index_dir: Path, manifest: Manifest, chroma_url: str | None = None) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self._open = OpenLock(index_dir / _OPEN)
        self._lock: FolderLock | None = None
        try:
            self.catalog = Catalog(index_dir / _CATALOG)
            try:
                self.vectors = VectorStore(index_dir, manifest, chroma_url)
            except BaseException:
                self.catalog.close()
                raise
        except BaseException:
            self._open.release()
            raise
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.Lock()
        self._local = threading.local()  # the keyword index pinned by `reading`
        self.write_lock = threading.RLock()  # writers in one process take turns
        self._closed = False
        try:
            self.verify()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, index_dir: Path, embedder: str | None, chunk_tokens: int, *,
             chroma_url: str | None = None, create: bool = False,
             rebuild: bool = False) -> Archive:
        """Open an index; `create` makes it if missing and `rebuild` wipes it first (both take
        the write lock while they do). `chroma_url`: the Chroma server of a new index, or the
        one an existing index's vectors are on (default: the one it was built on)."""
        if not (create or rebuild):
            return cls._existing(index_dir, embedder, chunk_tokens, chroma_url)
        lock = FolderLock(index_dir / _LOCK, _BUSY.format(index_dir=index_dir))
        try:
            fresh = None
            with alone(index_dir, "rebuilding") if rebuild else nullcontext():
                if rebuild:  # the new collection first: a server that is down stops it here
                    fresh = _new_manifest(embedder or DEFAULT_EMBEDDER, chunk_tokens, chroma_url)
                    _clear(index_dir)
                found = Manifest.read(index_dir)
                if found is None:
                    found = fresh or _new_manifest(embedder or DEFAULT_EMBEDDER, chunk_tokens,
                                                   chroma_url)
                    found.write(index_dir)
            archive = cls._existing(index_dir, embedder, chunk_tokens, chroma_url)
            try:
                archive._repair()
            except BaseException:
                archive.close()
                raise
            return archive
        finally:
            lock.release()

    @classmethod
    def _existing(cls, index_dir: Path, embedder: str | None, chunk_tokens: int,
                  chroma_url: str | None) -> Archive:
        found = Manifest.read(index_dir)
        if found is None:
            raise IndexMissingError(
                f"there is no index at {index_dir}; build one with "
                f"`newsdesk ingest --index-dir {index_dir} PATH...`")
        found.check(wanted_manifest(embedder or found.embedder, chunk_tokens), index_dir)
        if chroma_url and found.vectors == EMBEDDED:
            raise IndexMismatchError(
                f"the index at {index_dir} keeps its vectors in its own folder (embedded Chroma), "
                f"not in the Chroma server at {chroma_url}. Unset NEWSDESK_CHROMA_URL "
                "(--chroma-url) to open it as it is, or move it to the server with `newsdesk "
                f"ingest --rebuild --chroma-url {chroma_url} --index-dir {index_dir} PATH...`")
        return cls(index_dir, found, chroma_url)

    def close(self) -> None:
        """Close the catalog and release the vectors and the folder (again: nothing happens)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.vectors.close()
        finally:
            try:
                self.catalog.close()
            finally:
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None
                self._open.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Be the index's one writer for the block: takes the folder's write lock (raises
        IndexBusyError naming the process that has it) and repairs what a crashed writer left."""
        with self.write_lock:
            took = self._lock is None
            if took:
                self._lock = FolderLock(self.index_dir / _LOCK, _BUSY.format(index_dir=self.index_dir))
            try:
                if took:
                    self._repair()
                yield
            finally:
                if took and self._lock is not None:
                    self._lock.release()
                    self._lock = None

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
                f"vector (the vector store {self._where()} was deleted or damaged); run "
                f"{repair} to embed them again from the catalog")
        raise IndexCorruptError(
            f"the vector store in {self.index_dir} holds {vectors:,} vectors but the catalog only "
            f"{passages:,} passages (catalog.sqlite lost rows: was it replaced or truncated?); run "
            f"{repair} to keep what the catalog holds, or `newsdesk ingest --rebuild --index-dir "
            f"{self.index_dir} PATH...` to rebuild it from your files")

    def _where(self) -> str:
        if self.manifest.vectors == EMBEDDED:
            return str(self.index_dir / CHROMA_DIR)
        return f"(collection {self.manifest.collection} on {self.manifest.vectors})"

    # -- writing (inside `writing`) ---------------------------------------------------------
    def finish_writing(self, tokens: Mapping[str, str] | None = None) -> None:
        """After a run of writes that all completed: keyword index up to date, dirty mark cleared.

        `tokens` may hold the keyword tokens of chunks written in this run (by chunk id). A run
        that raised leaves the mark set, and the next writer removes what it left behind.
        """
        self._must_be_writing()
        self.keyword(tokens)
        self.catalog.set_meta("dirty", "0")

    def write(self, items: Sequence[Prepared], vectors: np.ndarray,
              files: Sequence[tuple[str, str, str, Sequence[str]]],
              gone: Sequence[str] = ()) -> None:
        """Write articles (their chunks' vectors in order) and the records of finished files,
        and remove the articles in `gone` (records those files no longer hold), at once."""
        self._must_be_writing()
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
        self._must_be_writing()
        self.catalog.set_meta("dirty", "1")
        with self.catalog.transaction() as db:
            stale = self.catalog.remove_articles(db, article_ids)
        self.vectors.delete(stale)

    def _must_be_writing(self) -> None:
        if self._lock is None:
            raise RuntimeError("Archive writes must happen inside Archive.writing()")

    def _reconcile(self) -> None:
        """After an interrupted write: drop the vectors the catalog does not know. A chunk of the
        catalog without its vector cannot come from an interrupted write (vectors go first), so
        it means the vector files were damaged."""
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

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Answer from one committed state: every catalog read of this thread sees it, and
        `keyword()` returns the keyword index brought to it."""
        if getattr(self._local, "keyword", None) is not None:
            yield
            return
        with self.catalog.snapshot() as generation:
            self._local.keyword = self._keyword_at(generation, None, save=False)
            try:
                yield
            finally:
                self._local.keyword = None

    def keyword(self, tokens: Mapping[str, str] | None = None) -> KeywordIndex:
        """The keyword index for the catalog's current generation (inside `reading`: for its
        state). The writer saves what it brings up to date; readers keep theirs in memory."""
        pinned: KeywordIndex | None = getattr(self._local, "keyword", None)
        if pinned is not None:
            return pinned
        return self._keyword_at(self.catalog.generation, tokens, save=self._lock is not None)

    def _keyword_at(self, generation: int, tokens: Mapping[str, str] | None,
                    save: bool) -> KeywordIndex:
        with self._keyword_lock:
            index = self._keyword
            if index is not None and not save and index.generation >= generation:
                return index
            if index is not None and save and index.generation == generation and \
                    saved_state(self.index_dir / _KEYWORD) == (generation, index.main_id):
                return index
            index = self._brought_to(generation, tokens, save)
            self._keyword = index
            return index

    def _brought_to(self, generation: int, tokens: Mapping[str, str] | None,
                    save: bool) -> KeywordIndex:
        """The cached or the saved keyword index (whichever is newer) updated by what changed;
        else rebuilt, by the writer or by a reader that has none it can update."""
        index = self._keyword
        saved = saved_state(self.index_dir / _KEYWORD)
        if saved is not None and (index is None or saved[0] > index.generation or (
                saved[0] >= index.generation and saved[1] != index.main_id)):
            index = self._load() or index  # newer, or rebuilt since: what everyone else reads
        if index is not None and index.generation == generation:
            return self._saved(index, rebuilt=False) if save else index
        if index is not None and index.generation > generation and not save:
            return index  # newer than this question's state: its extra chunks are not found
        if index is not None and index.generation < generation:
            updated = self._updated(index, generation, tokens, save)
            if updated is not None:
                return self._saved(updated, rebuilt=False) if save else updated
        built = KeywordIndex.build(self.catalog.all_chunks(), generation, tokens)
        return self._saved(built, rebuilt=True) if save else self._saved_if_free(built)

    def _load(self) -> KeywordIndex | None:
        for _ in range(3):
            loaded = KeywordIndex.load(self.index_dir / _KEYWORD)
            if loaded is not None:
                return loaded
            time.sleep(0.05)  # read while the writer swapped a new one in: look again
        return None

    def _updated(self, index: KeywordIndex, generation: int, tokens: Mapping[str, str] | None,
                 writer: bool) -> KeywordIndex | None:
        """The index updated by the catalog's log (or, for an index older than the log, by
        reading every chunk). The writer rebuilds instead past REBUILD_SHARE; a reader updates
        its copy in memory whatever the size, until the writer has saved a rebuilt one."""
        room = REBUILD_SHARE * len(index.chunk_rids) - index.pending
        if writer and self.catalog.changes_count_since(index.generation) > 2 * room:
            return None  # far more change than an update takes: not worth reading the log
        changes = self.catalog.changes_since(index.generation)
        if changes is not None:
            updated = index.changed(changes, generation, self.catalog.chunks_by_rid, tokens)
        else:
            updated = index.updated(self.catalog.chunk_keys(), generation,
                                    self.catalog.chunks_by_rid, tokens)
        return None if updated is None or (writer and updated.due) else updated

    def _saved(self, index: KeywordIndex, rebuilt: bool) -> KeywordIndex:
        """The writer saves the index in the form everyone loads (segments merged)."""
        index = index.compacted()
        saved = saved_state(self.index_dir / _KEYWORD)
        if not rebuilt and saved == (index.generation, index.main_id):
            return index
        try:
            index.save(self.index_dir / _KEYWORD)
        except OSError as exc:  # a read-only index still answers from memory
            log.warning("cannot save the keyword index in %s: %s", self.index_dir, exc)
            return index
        if rebuilt:
            self.catalog.trim_changes(index.generation)
        return index

    def _saved_if_free(self, index: KeywordIndex) -> KeywordIndex:
        """A reader that had to rebuild the keyword index saves it unless a writer is at work."""
        try:
            lock = FolderLock(self.index_dir / _LOCK, _BUSY.format(index_dir=self.index_dir))
        except IndexBusyError:
            return index
        try:
            saved = KeywordIndex.load(self.index_dir / _KEYWORD)  # missing or damaged?
            if saved is None or saved.generation < index.generation:
                return self._saved(index, rebuilt=True)
            return index
        finally:
            lock.release()


def _new_manifest(embedder: str, chunk_tokens: int, chroma_url: str | None) -> Manifest:
    manifest = wanted_manifest(embedder, chunk_tokens)
    if chroma_url is None:
        return manifest
    name, collection_id = VectorStore.new_collection(chroma_url)
    return replace(manifest, vectors=chroma_url, collection=name, collection_id=collection_id)


@contextmanager
def alone(index_dir: Path, doing: str) -> Iterator[None]:
    """For the block, no other process has the index open, and none can open it (an `ask` or
    `serve` started meanwhile waits): a rebuild or a repair replaces files under readers' feet."""
    with OpenLock.alone(index_dir / _OPEN) as free:
        if not free:
            raise IndexBusyError(
                f"{index_dir} is open in other processes (a `newsdesk serve`, `ask` or a Python "
                f"Desk); stop them before {doing} it" + (
                    ", or rebuild into another --index-dir" if doing == "rebuilding" else ""))
        yield


def _clear(index_dir: Path) -> None:
    """Empty the folder for a rebuild, and delete the old index's collection on its server."""
    try:
        old = Manifest.read(index_dir)
    except IndexCorruptError:
        old = None
    if old is not None and old.vectors != EMBEDDED:
        try:
            VectorStore.drop(old)
        except (StoreUnavailableError, IndexMismatchError) as exc:  # the rebuild goes on
            log.warning("could not delete the old vectors (collection %s on %s): %s",
                        old.collection, old.vectors, exc)
    wipe(index_dir)


def discard(index_dir: Path) -> None:
    """Delete an index that nobody has open: its folder's files and its server collection."""
    _clear(index_dir)


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
