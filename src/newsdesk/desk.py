"""Desk: the composition root that the CLI, the web chat, the Python API and evaluation call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from newsdesk.answer import Composer
from newsdesk.archive import Archive
from newsdesk.cite import build_answer, empty_archive_answer, stream_pieces
from newsdesk.config import Settings
from newsdesk.embed import Embedder, load_embedder, word_vectors
from newsdesk.errors import UsageError
from newsdesk.ingest import Ingestor
from newsdesk.limits import check_question
from newsdesk.question import Question, analyse
from newsdesk.retrieve import Filters, Hit, Retriever, matching
from newsdesk.types import Answer, ArticleInfo, IngestReport, Passage

if TYPE_CHECKING:
    from newsdesk.generate import Writer
    from newsdesk.integrity import CheckReport

History = Sequence[Mapping[str, str]]
FilterSpec = Filters | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Everything `ask` and `ask_stream` share before the answer is composed."""

    question: Question
    vector: np.ndarray  # the question's own words (by word_vectors), for choosing sentences
    hits: list[Hit]
    started: float
    retrieved_at: float

log = logging.getLogger(__name__)


class Desk:
    """An open archive with its models: ingest, list, search and ask all go through here."""

    def __init__(self, settings: Settings, archive: Archive) -> None:
        self.settings = settings
        self.archive = archive
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()
        self._writer: Writer | None = None  # generative mode's model, when settings.llm is set
        self._writer_lock = threading.Lock()

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
                               chroma_url=settings.chroma_url, create=create, rebuild=rebuild)
        return cls(settings, archive)

    @staticmethod
    def check(index_dir: str | Path | None = None, *, settings: Settings | None = None,
              repair: bool = False) -> CheckReport:
        """Compare the index's catalog, vectors and keyword index (`newsdesk check`); `repair`
        rebuilds what is missing or damaged from what is there. Works on an index too damaged
        to open."""
        from newsdesk.integrity import check_index

        settings = settings or Settings.from_env()
        return check_index(Path(index_dir) if index_dir is not None else settings.index_dir,
                           repair=repair)

    def close(self) -> None:
        """Release the index (required before another process may write to it) and stop the
        model server generative mode started."""
        if self._writer is not None:
            self._writer.close()
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

    # -- asking -------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, filters: FilterSpec = None) -> list[Passage]:
        """Ranked passages that hold a word of the query (hybrid retrieval, duplicates
        collapsed), at most k; no answer."""
        if not query or not query.strip():
            raise UsageError("the query is empty")
        check_question(query, None, self.settings)
        vector = self.embedder.embed([query])[0]
        with self.archive.reading():
            hits = self._retriever().search(query, vector, max(k, self.settings.candidates),
                                            Filters.coerce(filters))
            return [h.passage() for h in matching(hits, query)[:k]]  # only passages that match

    def as_retriever(self, k: int = 10, filters: FilterSpec = None) -> Any:
        """This archive's retrieval as a LlamaIndex `BaseRetriever` (nodes carry the passage's
        source, title, outlet, date and span in their metadata)."""
        from newsdesk.llama import retriever

        return retriever(self, k=k, filters=filters)

    def ask(self, question: str, history: History | None = None,
            filters: FilterSpec = None) -> Answer:
        """A short answer whose every sentence is quoted from the archive with its sources,
        or a refusal (refused=True) offering the closest passages as related reading."""
        if self.writer is None:
            return self._extractive(question, history, filters)
        prepared = self._prepared(question, history, filters)
        if prepared is None:
            return empty_archive_answer(question)
        *_, answer = self._generate(prepared)
        assert isinstance(answer, Answer)
        return answer

    def ask_stream(self, question: str, history: History | None = None,
                   filters: FilterSpec = None) -> Iterator[str | Answer]:
        """The answer's text in pieces as it is ready, then the final Answer."""
        if self.writer is not None:
            prepared = self._prepared(question, history, filters)
            if prepared is not None:
                yield from self._generate(prepared)
                return
            answer = empty_archive_answer(question)
        else:
            answer = self._extractive(question, history, filters)
        yield from stream_pieces(answer.text)
        yield answer

    def _extractive(self, question: str, history: History | None,
                    filters: FilterSpec) -> Answer:
        with self.archive.reading():  # one committed state of the archive, whoever writes
            prepared = self._prepare(question, history, filters)
            return empty_archive_answer(question) if prepared is None else self._compose(prepared)

    def _prepared(self, question: str, history: History | None,
                  filters: FilterSpec) -> _Prepared | None:
        """Generative mode's retrieval, from one committed state of the archive. No snapshot
        is held while the model writes or the stream waits: a stream may resume on another
        thread, and a snapshot belongs to its thread."""
        if not question or not question.strip():
            raise UsageError("the question is empty")
        if history:  # a follow-up is condensed by the model first
            _check_history(history)
            check_question(question, history, self.settings)
            assert self.writer is not None
            question = self.writer.condense(question, history)
        with self.archive.reading():
            return self._prepare(question, history, filters)

    def _composed(self, prepared: _Prepared) -> Answer:
        with self.archive.reading():  # the answer reads whole articles: from one state too
            return self._compose(prepared)

    # -- generative mode (settings.llm) ---------------------------------------------------
    @property
    def writer(self) -> Writer | None:
        """The generative answer step when a model is configured (created on first use)."""
        if self.settings.llm == "none":
            return None
        with self._writer_lock:
            if self._writer is None:
                from newsdesk.generate import Writer

                self._writer = Writer(self.settings)
            return self._writer

    def start_model(self) -> None:
        """Connect to the configured model now (starting llama.cpp's server for a GGUF file),
        so that a bad model setting fails before the first question."""
        if self.writer is not None:
            self.writer.start()

    def _generate(self, prepared: _Prepared) -> Iterator[str | Answer]:
        assert self.writer is not None
        return self.writer.stream(prepared.question.text, prepared.hits, prepared.started,
                                  prepared.retrieved_at, lambda: self._composed(prepared))

    def _prepare(self, question: str, history: History | None,
                 filters: FilterSpec) -> _Prepared | None:
        if not question or not question.strip():
            raise UsageError("the question is empty")
        started = time.perf_counter()
        _check_history(history)
        check_question(question, history, self.settings)
        wanted = Filters.coerce(filters)
        if self.archive.catalog.counts()[0] == 0:
            return None
        read = analyse(question, history)
        # a follow-up searches with what it refers back to, but its own words pick the sentence
        query = self.embedder.embed([read.query])[0]
        hits = self._retriever().search(read.query, query, self.settings.k, wanted)
        own = query if (self.embedder.name == "wordllama" and not read.followup) \
            else word_vectors([read.text])[0]
        return _Prepared(read, own, hits, started, time.perf_counter())

    def _compose(self, prepared: _Prepared) -> Answer:
        draft = self._composer().compose(prepared.question, prepared.vector, prepared.hits)
        done = time.perf_counter()
        timings = {"retrieve_ms": round(1000 * (prepared.retrieved_at - prepared.started), 2),
                   "compose_ms": round(1000 * (done - prepared.retrieved_at), 2),
                   "total_ms": round(1000 * (done - prepared.started), 2)}
        return build_answer(prepared.question.text, draft, prepared.hits, timings)

    def _retriever(self) -> Retriever:
        return Retriever(self.archive, mode=self.settings.retrieval,
                         candidates=self.settings.candidates, rrf_k=self.settings.rrf_k,
                         dense_weight=self.settings.dense_weight)

    def _composer(self) -> Composer:
        return Composer(self.archive, self.settings.max_sentences)

    # -- the archive ----------------------------------------------------------------------
    def articles(self) -> list[ArticleInfo]:
        """The indexed articles, newest first."""
        return self.archive.catalog.list_articles()

    def remove(self, article_ids: Sequence[str]) -> list[str]:
        """Remove articles by id; returns the ids that were indexed."""
        with self.archive.writing():
            known = [a for a in article_ids if self.archive.catalog.article(a) is not None]
            if known:
                self.archive.remove(known)
            self.archive.finish_writing()
        return known


def _check_history(history: History | None) -> None:
    for i, turn in enumerate(history or []):
        if not isinstance(turn, Mapping) or turn.get("role") not in ("user", "assistant") \
                or not isinstance(turn.get("content"), str):
            raise UsageError(
                f"history[{i}] must be {{'role': 'user' | 'assistant', 'content': str}}")


_DESKS: dict[Path, Desk] = {}
_DESKS_LOCK = threading.Lock()


def ask(question: str, history: History | None = None,
        index_dir: str | Path | None = None) -> Answer:
    """Ask the archive at index_dir (default: NEWSDESK_INDEX_DIR, else ./index); one Desk is
    opened per index and reused by later calls."""
    settings = Settings.from_env(index_dir=index_dir)
    key = settings.index_dir.resolve()
    with _DESKS_LOCK:
        desk = _DESKS.get(key)
        if desk is None:
            desk = _DESKS[key] = Desk.open(settings=settings)
    return desk.ask(question, history=history)
