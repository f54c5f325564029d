"""Plain frozen data passed between the pipeline stages and returned to callers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned article: the text citations point into, and what is known about it."""

    id: str
    text: str
    title: str = ""
    outlet: str = ""
    author: str = ""
    date: str = ""  # ISO 8601 day, or empty when the article does not state it
    url: str = ""
    language: str = ""  # ISO 639-1 code as detected from the text, or empty when unknown


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of an article's text, sized for the embedder, with its character span."""

    id: str
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """An indexed article as listed to users."""

    id: str
    title: str
    outlet: str
    author: str
    date: str
    url: str
    chunks: int
    language: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One article in which a passage's statement appears, and where."""

    source: str
    title: str
    outlet: str
    date: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved piece of an article, ranked; `also_in` holds near-duplicates elsewhere."""

    id: str
    source: str
    title: str
    outlet: str
    date: str
    text: str
    start: int
    end: int
    score: float
    also_in: tuple[SourceRef, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """Every article carrying this passage, its own first."""
        return (self.source, *(ref.source for ref in self.also_in))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        data = asdict(self)
        data["sources"] = list(self.sources)
        return data


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source of an answer: the exact quote and where it sits in its article."""

    number: int
    source: str
    title: str
    outlet: str
    date: str
    quote: str
    passage: str
    start: int
    end: int
    passage_start: int = 0
    field: str = ""  # set when the quote is the article's metadata (author, outlet, date, title)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """One sentence of an answer and the citation numbers it carries.

    `support` holds, for each of its citations, the exact quote of the cited article: in
    generative mode the one the check found the sentence's names, figures, dates and words in
    (`passed` says that it passed); in extractive mode the sentence as each article has it.
    """

    text: str
    citations: tuple[int, ...]
    support: tuple[str, ...] = ()
    passed: bool = True


@dataclass(frozen=True, slots=True)
class DroppedSentence:
    """A sentence the model wrote that its cited passages do not support, and why."""

    text: str
    cited: tuple[int, ...]  # the passage numbers it cited, as the model numbered them
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Answer:
    """What `Desk.ask` returns: text with [n] markers, its citations, or a refusal."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    retrieved: tuple[Passage, ...] = ()
    sentences: tuple[AnswerSentence, ...] = ()
    related: tuple[Passage, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    mode: str = "extractive"  # "generative" when a language model wrote it (and it was checked)
    dropped: tuple[DroppedSentence, ...] = ()  # what the model wrote that failed the check
    note: str = ""  # why a generative answer was not given, when the extractive one stands in

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "question": self.question,
            "text": self.text,
            "mode": self.mode,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [asdict(s) for s in self.sentences],
            "dropped": [d.to_dict() for d in self.dropped],
            "note": self.note,
            "retrieved": [p.to_dict() for p in self.retrieved],
            "related": [p.to_dict() for p in self.related],
            "timings": dict(self.timings),
        }

    def to_json(self, indent: int | None = None) -> str:
        """The answer as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


@dataclass(frozen=True, slots=True)
class Failure:
    """A file or record that could not be ingested, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did; `to_dict` has exactly the keys of `newsdesk ingest --json`."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_articles: list[Failure] = field(default_factory=list)  # navigation pages, with why
    failed: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": self.skipped,
            "not_articles": [{"path": f.path, "reason": f.reason} for f in self.not_articles],
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }

    @property
    def changed(self) -> bool:
        """Whether the index content changed."""
        return bool(self.added or self.updated or self.removed)
