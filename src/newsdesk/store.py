"""The one place that imports chromadb, and the manifest that says how an index was built.

The vectors live in an embedded Chroma in the index folder, or in a Chroma server
(`NEWSDESK_CHROMA_URL`). Several processes may read an embedded Chroma while one writes:
each keeps the vectors in memory, so a reader reloads them when the writer's stamp changes
(see locks.StampedLock), and never searches while they are being written.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.errors import IndexCorruptError, IndexMismatchError, StoreUnavailableError
from newsdesk.locks import StampedLock

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EMBEDDED = "embedded"
CHROMA_DIR = "chroma"
VECTORS_LOCK = "vectors.lock"
_COLLECTION = "passages"
# ef_construction 64 and 5,000-vector batches: 20 % faster writes than Chroma's defaults with
# the same recall@10 (1.000 on 20,000 wordllama vectors, measured with benchmarks/ingest.py).
_HNSW = {"space": "cosine", "ef_construction": 64, "ef_search": 100, "max_neighbors": 16,
         "batch_size": 5000, "sync_threshold": 5000}
# The embedded Chroma writes its index to disk on every write, not every 5,000 vectors: what it
# has not written is replayed from its log by every process that loads it (3,000 vectors took
# 1.8 s), which every reader does after every write. Writing costs 0.2 s a write at 100,000.
_EMBEDDED_HNSW = {**_HNSW, "sync_threshold": 1}
_BUILD_FIELDS = ("format", "embedder", "model", "dim", "chunk_tokens", "tokenizer", "splitter",
                 "analyser")


_SOURCES = {"embedder": " (from NEWSDESK_EMBEDDER or --embedder; unset it to use the index's)"}


@dataclass(frozen=True, slots=True)
class Manifest:
    """How an index was built and where its vectors are; it is only ever opened the same way."""

    format: int
    embedder: str
    model: str
    dim: int
    chunk_tokens: int
    tokenizer: str
    splitter: str
    analyser: str = "words-en-snowball/0"  # of the keyword index; indexes before it had this one
    vectors: str = EMBEDDED  # or the URL of the Chroma server that holds them
    collection: str = _COLLECTION
    collection_id: str = ""  # the server's id for the collection (a server wiped is noticed)

    @classmethod
    def read(cls, index_dir: Path) -> Manifest | None:
        """The manifest of an index, or None when the folder holds no index yet."""
        path = index_dir / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(
                f"{path} cannot be read ({exc}); run `newsdesk ingest --rebuild PATH...`"
            ) from exc

    def write(self, index_dir: Path) -> None:
        """Write atomically (a crash leaves the old manifest or the new one)."""
        path = index_dir / MANIFEST
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def check(self, wanted: Manifest, index_dir: Path) -> None:
        """Raise IndexMismatchError naming each difference and how to rebuild."""
        diffs = [
            f"{name}: index has {getattr(self, name)!r}, settings ask for {getattr(wanted, name)!r}"
            + _SOURCES.get(name, "")
            for name in _BUILD_FIELDS if getattr(self, name) != getattr(wanted, name)
        ]
        if diffs:
            raise IndexMismatchError(
                f"the index at {index_dir} was built with other settings ({'; '.join(diffs)}). "
                f"Run `newsdesk ingest --rebuild --index-dir {index_dir} PATH...` to rebuild it "
                "with the current settings, or use the settings it was built with."
            )


@contextmanager
def _reaching(url: str) -> Iterator[None]:
    """Turn a Chroma server that cannot be reached into one clear error naming it."""
    import httpx

    try:
        yield
    except httpx.TransportError as exc:
        raise StoreUnavailableError(
            f"the Chroma server at {url} cannot be reached ({type(exc).__name__}: {exc}); start "
            "it (`chroma run --path DIR --host HOST --port PORT`) or set NEWSDESK_CHROMA_URL "
            "(--chroma-url) to where it runs. Nothing in the index is lost: run the command again "
            "once the server answers.") from exc
    except ValueError as exc:
        if "Could not connect" not in str(exc):
            raise
        raise StoreUnavailableError(
            f"the Chroma server at {url} cannot be reached (nothing answers there); start it "
            "(`chroma run --path DIR --host HOST --port PORT`) or set NEWSDESK_CHROMA_URL "
            "(--chroma-url) to where it runs. Nothing in the index is lost: run the command again "
            "once the server answers.") from exc


def _settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class _Server:
    """A collection in a Chroma server: every process sees every write at once."""

    def __init__(self, url: str, name: str, collection_id: str, create: bool) -> None:
        import chromadb

        self.url = url
        parsed = urllib.parse.urlsplit(url)
        with _reaching(url):
            self._client = chromadb.HttpClient(
                host=parsed.hostname or "", port=parsed.port or 8000,
                ssl=parsed.scheme == "https", settings=_settings())
            if create:
                self.collection = self._client.get_or_create_collection(
                    name=name, configuration={"hnsw": _HNSW},  # type: ignore[arg-type]
                    embedding_function=None)
            else:
                self.collection = self._found(name, collection_id)
            self.max_batch = int(self._client.get_max_batch_size())

    def _found(self, name: str, collection_id: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            collection = self._client.get_collection(name=name, embedding_function=None)
        except NotFoundError:
            collection = None
        if collection is None or (collection_id and str(collection.id) != collection_id):
            raise IndexMismatchError(
                f"the Chroma server at {self.url} does not hold this index's vectors (collection "
                f"{name}, id {collection_id or '?'}): it is another Chroma, or its data was "
                "deleted. Point NEWSDESK_CHROMA_URL (--chroma-url) at the server the index was "
                "built on, or rebuild it with `newsdesk ingest --rebuild --chroma-url URL PATH...`")
        return collection

    @property
    def collection_id(self) -> str:
        return str(self.collection.id)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with _reaching(self.url):
            yield self.collection

    @contextmanager
    def writing(self) -> Iterator[Any]:
        with _reaching(self.url):
            yield self.collection

    def drop(self) -> None:
        with _reaching(self.url):
            self._client.delete_collection(self.collection.name)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()


class _Embedded:
    """The embedded Chroma of one index folder, shared by every archive of this process on it
    (Chroma keeps one system per path and process)."""

    def __init__(self, index_dir: Path, key: str) -> None:
        self.key = key
        self.path = index_dir / CHROMA_DIR
        self.users = 0
        self.lock = StampedLock(index_dir / VECTORS_LOCK)
        self._client: Any = None
        self.collection: Any = None
        self._stamp = ""
        self.max_batch = 1
        try:
            with self.lock.exclusive():
                self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        """Open (or reopen) the client; the first count reads the vectors into memory. Files
        Chroma cannot read (its database or a segment) are an IndexCorruptError saying how to
        repair, and leave nothing of this path cached in the process."""
        import chromadb
        from chromadb.errors import ChromaError

        self._close_client()
        try:
            self._client = chromadb.PersistentClient(path=str(self.path), settings=_settings())
            self.collection = self._client.get_or_create_collection(
                name=_COLLECTION, configuration={"hnsw": _EMBEDDED_HNSW}, embedding_function=None)
            self._sync_every_write()
            self.collection.count()
            self.max_batch = int(self._client.get_max_batch_size())
        except ChromaError as exc:
            self._close_client()
            _forget_system(self.path)
            raise IndexCorruptError(
                f"the vector store {self.path} is damaged ({exc}); run `newsdesk check --repair "
                f"--index-dir {self.path.parent}` to embed the passages again from the catalog"
            ) from exc
        self._stamp = self.lock.stamp()

    def _sync_every_write(self) -> None:
        """An index made before the per-write sync gets it (written on its next load)."""
        from chromadb.errors import ChromaError

        sync = (self.collection.configuration_json.get("hnsw") or {}).get("sync_threshold")
        if sync == _EMBEDDED_HNSW["sync_threshold"]:
            return
        try:
            self.collection.modify(configuration={"hnsw": {"sync_threshold": 1}})
        except ChromaError as exc:  # Chroma busy with its own log ("database is locked"):
            log.info("vectors in %s keep their old sync setting for now: %s", self.path, exc)

    def _close_client(self) -> None:
        client, self._client, self.collection = self._client, None, None
        if client is not None:
            client.close()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        while True:
            with self.lock.shared():
                if self.lock.stamp() == self._stamp:
                    yield self.collection
                    return
            with self.lock.exclusive():
                if self.lock.stamp() != self._stamp:
                    log.info("the vectors in %s changed; reloading them", self.path)
                    self._load()

    @contextmanager
    def writing(self) -> Iterator[Any]:
        with self.lock.exclusive():
            if self.lock.stamp() != self._stamp:
                self._load()  # written by another process since: never write over that
            self._stamp = self.lock.new_stamp()
            yield self.collection

    def close(self) -> None:
        try:
            self._close_client()
        finally:
            self.lock.close()


_OPEN: dict[str, _Embedded] = {}
_OPEN_LOCK = threading.Lock()


def _embedded(index_dir: Path) -> _Embedded:
    key = str((index_dir / CHROMA_DIR).resolve())
    with _OPEN_LOCK:
        store = _OPEN.get(key)
        if store is None:
            store = _OPEN[key] = _Embedded(index_dir, key)
        store.users += 1
        return store


class VectorStore:
    """Vectors and filter fields in a Chroma collection; no documents are stored."""

    def __init__(self, index_dir: Path, manifest: Manifest, url: str | None = None) -> None:
        """Open the index's collection: embedded, or on the server at `url` (default: the one
        the manifest names)."""
        self.dim = manifest.dim
        self._backend: _Embedded | _Server
        if manifest.vectors == EMBEDDED:
            self._backend = _embedded(index_dir)
        else:
            self._backend = _Server(url or manifest.vectors, manifest.collection,
                                    manifest.collection_id, create=False)
        self._closed = False

    @staticmethod
    def new_collection(url: str) -> tuple[str, str]:
        """Create a collection for a new index on a Chroma server: (name, id)."""
        server = _Server(url, f"newsdesk-{uuid.uuid4().hex}", "", create=True)
        try:
            return server.collection.name, server.collection_id
        finally:
            server.close()

    @staticmethod
    def drop(manifest: Manifest) -> None:
        """Delete a server index's collection (an embedded one goes with its folder)."""
        if manifest.vectors == EMBEDDED:
            return
        server = _Server(manifest.vectors, manifest.collection, manifest.collection_id, False)
        try:
            server.drop()
        finally:
            server.close()

    def close(self) -> None:
        """Release the collection (an embedded Chroma when its last user in this process goes)."""
        if self._closed:
            return
        self._closed = True
        backend = self._backend
        if isinstance(backend, _Server):
            backend.close()
            return
        with _OPEN_LOCK:
            backend.users -= 1
            if backend.users == 0:
                del _OPEN[backend.key]
                backend.close()

    def count(self) -> int:
        """Number of vectors."""
        with self._backend.reading() as collection:
            return int(collection.count())

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Write vectors; ids are deterministic, so writing the same chunk twice is harmless."""
        step = self._backend.max_batch
        with self._backend.writing() as collection:
            for i in range(0, len(ids), step):
                collection.upsert(
                    ids=list(ids[i:i + step]), embeddings=vectors[i:i + step],
                    metadatas=[dict(m) for m in metadatas[i:i + step]])

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        if not ids:
            return
        step = self._backend.max_batch
        with self._backend.writing() as collection:
            for i in range(0, len(ids), step):
                collection.delete(ids=list(ids[i:i + step]))

    def ids(self) -> set[str]:
        """Every id in the collection (used to repair after an interrupted write)."""
        out: set[str] = set()
        step = self._backend.max_batch
        with self._backend.reading() as collection:
            while True:
                page = collection.get(include=[], limit=step, offset=len(out))
                out.update(page["ids"])
                if len(page["ids"]) < step:
                    return out

    def query(
        self, vector: np.ndarray, n: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The n nearest ids with cosine similarity, best first."""
        if n <= 0:
            return []
        with self._backend.reading() as collection:
            result = collection.query(
                query_embeddings=vector.reshape(1, -1), n_results=n,
                where=dict(where) if where else None, include=["distances"])
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]


def _forget_system(path: Path) -> None:
    """Drop the system Chroma cached for a path whose files it could not open, so that the
    path can be opened again in this process once it is repaired (Chroma has no public way)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
