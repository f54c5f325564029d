"""Desk: the composition root that the CLI, the web chat, the Python API and evaluation call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from newsdesk.archive import Archive
from newsdesk.config import Settings
from newsdesk.embed import Embedder, load_embedder
from newsdesk.ingest import Ingestor
from newsdesk.types import ArticleInfo, IngestReport

log = logging.getLogger(__name__)


class Desk:
    """An open archive with its models: ingest, list, search and ask all go through here."""

    def __init__(self, settings: Settings, archive: Archive) -> None:
        self.settings = settings
        self.archive = archive
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: str | Path | None = None, *, settings: Settings | None = None,
             create: bool = False, rebuild: bool = False) -> Desk:
        """Open the index at index_dir (default: NEWSDESK_INDEX_DIR, else ./index).

        `create` makes an empty index when there is none; `rebuild` wipes it first.
        """
        settings = settings or Settings.from_env()
        if index_dir is not None:
            settings = settings.with_(index_dir=Path(index_dir))
        archive = Archive.open(settings.index_dir, settings.embedder, settings.chunk_tokens,
                               create=create, rebuild=rebuild)
        return cls(settings, archive)

    def close(self) -> None:
        """Release the index (required before another process may write to it)."""
        self.archive.close()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def index_dir(self) -> Path:
        """Where the index lives."""
        return self.archive.index_dir

    @property
    def embedder(self) -> Embedder:
        """The embedding model the index was built with (loaded on first use)."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.archive.manifest.embedder)
            return self._embedder

    def ingest(self, paths: Sequence[str | Path], *, prune: bool = False,
               progress: bool = False) -> IngestReport:
        """Add or update articles from files and folders; see `newsdesk ingest`."""
        ingestor = Ingestor(self.archive, self.embedder, self.settings.max_file_bytes)
        return ingestor.run([Path(p) for p in paths], prune=prune, progress=progress)

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles, newest first."""
        return self.archive.catalog.list_articles()

    def remove(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles by id; returns the ids that were indexed."""
        self.archive.acquire_write()
        with self.archive.write_lock:
            known = [a for a in article_ids if self.archive.catalog.article(a) is not None]
            if known:
                self.archive.remove(known)
            self.archive.finish_writing()
        return known
