"""The one place that imports chromadb, and the manifest that says how an index was built."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.errors import IndexCorruptError, IndexMismatchError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_COLLECTION = "passages"
# ef_construction 64 and 5,000-vector batches: 20 % faster writes than Chroma's defaults with
# the same recall@10 (1.000 on 20,000 wordllama vectors, measured with benchmarks/ingest.py).
_HNSW = {"space": "cosine", "ef_construction": 64, "ef_search": 100, "max_neighbors": 16,
         "batch_size": 5000, "sync_threshold": 5000}


_SOURCES = {"embedder": " (from NEWSDESK_EMBEDDER or --embedder; unset it to use the index's)"}


@dataclass(frozen=True, slots=True)
class Manifest:
    """How an index was built; an index is only ever opened with the same settings."""

    format: int
    embedder: str
    model: str
    dim: int
    chunk_tokens: int
    tokenizer: str
    splitter: str
    analyser: str = "words-en-snowball/0"  # of the keyword index; indexes before it had this one

    @classmethod
    def read(cls, index_dir: Path) -> Manifest | None:
        """The manifest of an index, or None when the folder holds no index yet."""
        path = index_dir / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__
                          if k in data or k != "analyser"})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(
                f"{path} cannot be read ({exc}); run `newsdesk ingest --rebuild PATH...`"
            ) from exc

    def write(self, index_dir: Path) -> None:
        """Write atomically (a crash leaves the old manifest or the new one)."""
        path = index_dir / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def check(self, wanted: Manifest, index_dir: Path) -> None:
        """Raise IndexMismatchError naming each difference and how to rebuild."""
        diffs = [
            f"{name}: index has {getattr(self, name)!r}, settings ask for {getattr(wanted, name)!r}"
            + _SOURCES.get(name, "")
            for name in ("format", "embedder", "model", "dim", "chunk_tokens", "tokenizer",
                         "splitter", "analyser")
            if getattr(self, name) != getattr(wanted, name)
        ]
        if diffs:
            raise IndexMismatchError(
                f"the index at {index_dir} was built with other settings ({'; '.join(diffs)}). "
                f"Run `newsdesk ingest --rebuild --index-dir {index_dir} PATH...` to rebuild it "
                "with the current settings, or use the settings it was built with."
            )


class VectorStore:
    """Vectors and filter fields in an embedded Chroma collection; no documents are stored."""

    def __init__(self, path: Path, dim: int) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from chromadb.errors import ChromaError

        self.dim = dim
        try:
            self._client = chromadb.PersistentClient(
                path=str(path),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
        except ChromaError as exc:
            _forget_system(path)
            raise IndexCorruptError(
                f"the vector store {path} is damaged ({exc}); run `newsdesk check --repair "
                f"--index-dir {path.parent}` to embed the passages again from the catalog"
            ) from exc
        self._collection = self._client.get_or_create_collection(
            name=_COLLECTION,
            configuration={"hnsw": _HNSW},  # type: ignore[arg-type]
            metadata={"dim": dim},
            embedding_function=None,
        )
        self._max_batch = int(self._client.get_max_batch_size())

    def close(self) -> None:
        """Release Chroma's system for this path (required before the folder is reused)."""
        self._client.close()  # type: ignore[attr-defined]

    def count(self) -> int:
        """Number of vectors."""
        return int(self._collection.count())

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Write vectors; ids are deterministic, so writing the same chunk twice is harmless."""
        for i in range(0, len(ids), self._max_batch):
            self._collection.upsert(
                ids=list(ids[i:i + self._max_batch]),
                embeddings=vectors[i:i + self._max_batch],
                metadatas=[dict(m) for m in metadatas[i:i + self._max_batch]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        for i in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=list(ids[i:i + self._max_batch]))

    def ids(self) -> set[str]:
        """Every id in the collection (used to repair after an interrupted write)."""
        out: set[str] = set()
        offset = 0
        while True:
            page = self._collection.get(include=[], limit=self._max_batch, offset=offset)
            out.update(page["ids"])
            if len(page["ids"]) < self._max_batch:
                return out
            offset += self._max_batch

    def query(
        self, vector: np.ndarray, n: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The n nearest ids with cosine similarity, best first."""
        if n <= 0:
            return []
        result = self._collection.query(
            query_embeddings=vector.reshape(1, -1),
            n_results=n,
            where=dict(where) if where else None,
            include=["distances"],
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]


def _forget_system(path: Path) -> None:
    """Drop the system Chroma cached for a path whose files it could not open, so that the
    path can be opened again in this process once it is repaired (Chroma has no public way)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
