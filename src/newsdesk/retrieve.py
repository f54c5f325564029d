"""Hybrid retrieval: dense (Chroma) and BM25, fused by reciprocal rank, filtered, de-duplicated."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from newsdesk.archive import Archive
from newsdesk.catalog import ChunkRow, StoredArticle, date_number, outlet_key
from newsdesk.clean import normalise_date
from newsdesk.errors import UsageError
from newsdesk.types import Passage, SourceRef

_WORDS = re.compile(r"\w+")
_SHINGLE = 5
_DUPLICATE = 0.6  # Jaccard similarity of word 5-grams above which two passages are one


@dataclass(frozen=True, slots=True)
class Filters:
    """Which articles a search may draw on; empty fields do not filter."""

    outlets: tuple[str, ...] = ()
    since: str = ""
    until: str = ""
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # ISO 639-1 codes, as `newsdesk list` shows them

    @property
    def active(self) -> bool:
        """Whether anything is filtered out."""
        return bool(self.outlets or self.since or self.until or self.sources or self.languages)

    @classmethod
    def coerce(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        """Filters from a mapping such as {"outlet": "GeekWire", "since": "2021-01-01"}."""
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        known = {"outlet", "outlets", "since", "until", "source", "sources", "language",
                 "languages"}
        unknown = set(value) - known
        if unknown:
            raise UsageError(f"unknown filter field(s) {sorted(unknown)}; use {sorted(known)}")
        return cls(
            outlets=_strings(value, "outlet") + _strings(value, "outlets"),
            since=_day(value, "since"),
            until=_day(value, "until"),
            sources=_strings(value, "source") + _strings(value, "sources"),
            languages=tuple(x.lower() for x in _strings(value, "language")
                            + _strings(value, "languages")),
        )

    def where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma `where` clause on the vectors' metadata."""
        clauses: list[dict[str, Any]] = []
        if self.outlets:
            clauses.append({"outlet": {"$in": [outlet_key(o) for o in self.outlets]}})
        if self.since:
            clauses.append({"date": {"$gte": date_number(self.since)}})
        if self.until:
            clauses.append({"date": {"$lte": date_number(self.until)}})
            clauses.append({"date": {"$gt": 0}})
        if self.sources:
            clauses.append({"article": {"$in": list(self.sources)}})
        if self.languages:
            clauses.append({"language": {"$in": list(self.languages)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _strings(value: Mapping[str, Any], key: str) -> tuple[str, ...]:
    item = value.get(key)
    if item is None or item == "":
        return ()
    items = [item] if isinstance(item, str) else list(item)
    if not all(isinstance(i, str) and i.strip() for i in items):
        raise UsageError(f"filter '{key}' must be a string or a list of strings")
    return tuple(i.strip() for i in items)


def _day(value: Mapping[str, Any], key: str) -> str:
    raw = value.get(key)
    if raw is None or raw == "":
        return ""
    day = normalise_date(str(raw))
    if not day:
        raise UsageError(f"filter '{key}': {raw!r} is not a date (use YYYY-MM-DD)")
    return day


@dataclass(slots=True)
class Hit:
    """A retrieved chunk with the signals that ranked it (kept for the answerer)."""

    row: ChunkRow
    article: StoredArticle
    fused: float
    dense: float = 0.0
    keyword: float = 0.0
    duplicates: list[tuple[ChunkRow, StoredArticle]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The chunk's text."""
        return self.article.article.text[self.row.start:self.row.end]

    def passage(self) -> Passage:
        """The public view of this hit."""
        a = self.article.article
        return Passage(
            id=self.row.id, source=a.id, title=a.title, outlet=a.outlet, date=a.date,
            text=self.text, start=self.row.start, end=self.row.end, score=round(self.fused, 6),
            also_in=tuple(SourceRef(d.article.id, d.article.title, d.article.outlet, d.article.date,
                                    r.start, r.end) for r, d in self.duplicates))


class Retriever:
    """Ranks chunks for a query: dense and keyword lists fused by reciprocal rank."""

    def __init__(self, archive: Archive, *, mode: str, candidates: int, rrf_k: int,
                 dense_weight: float = 1.0) -> None:
        self.archive = archive
        self.mode = mode
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight

    def search(self, query: str, vector: np.ndarray, k: int, filters: Filters) -> list[Hit]:
        """The k best hits, near-duplicates collapsed into the best of each group."""
        catalog = self.archive.catalog
        dense: list[tuple[str, float]] = []
        keyword: list[tuple[int, float]] = []
        if self.mode in ("hybrid", "dense"):
            dense = self.archive.vectors.query(vector, self.candidates, filters.where())
        if self.mode in ("hybrid", "bm25"):
            allowed = None
            if filters.active:
                allowed = np.asarray(catalog.matching_article_rids(
                    filters.outlets, filters.since, filters.until, filters.sources,
                    filters.languages), dtype=np.int64)
            keyword = self.archive.keyword().search(query, self.candidates, allowed)
        by_id = catalog.chunk_rows_by_id([cid for cid, _ in dense])
        by_rid = catalog.chunk_rows_by_rid([rid for rid, _ in keyword])
        scores: dict[int, list[float]] = {}  # chunk rid -> [fused, dense sim, bm25]
        rows: dict[int, ChunkRow] = {}
        for rank, (cid, sim) in enumerate(r for r in dense if r[0] in by_id):
            row = by_id[cid]
            rows[row.rid] = row
            entry = scores.setdefault(row.rid, [0.0, 0.0, 0.0])
            entry[0] += self.dense_weight / (self.rrf_k + rank + 1)
            entry[1] = sim
        for rank, (rid, score) in enumerate(r for r in keyword if r[0] in by_rid):
            rows[rid] = by_rid[rid]
            entry = scores.setdefault(rid, [0.0, 0.0, 0.0])
            entry[0] += 1.0 / (self.rrf_k + rank + 1)
            entry[2] = score
        ranked = sorted(scores, key=lambda rid: (-scores[rid][0], rid))[: k * 2]
        articles = catalog.articles(sorted({rows[rid].article_id for rid in ranked}))
        hits = [Hit(rows[rid], articles[rows[rid].article_id], fused=scores[rid][0],
                    dense=scores[rid][1], keyword=scores[rid][2]) for rid in ranked]
        return collapse_duplicates(hits)[:k]


def shingles(text: str) -> set[tuple[str, ...]]:
    """Word 5-grams of a text, lower-cased (for near-duplicate detection)."""
    words = [w.lower() for w in _WORDS.findall(text)]
    if len(words) < _SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def collapse_duplicates(hits: Sequence[Hit]) -> list[Hit]:
    """Merge hits whose texts are near-identical (syndicated copies) into the best-ranked one."""
    kept: list[tuple[Hit, set[tuple[str, ...]]]] = []
    for hit in hits:
        grams = shingles(hit.text)
        for best, best_grams in kept:
            union = len(grams | best_grams)
            if (union and len(grams & best_grams) / union >= _DUPLICATE
                    and hit.article.article.id != best.article.article.id):
                best.duplicates.append((hit.row, hit.article))
                break
        else:
            kept.append((replace(hit, duplicates=list(hit.duplicates)), grams))
    return [hit for hit, _ in kept]


def matching(hits: Sequence[Hit], query: str) -> list[Hit]:
    """The hits whose passage holds at least one word of the query (as the keyword index reads
    words: stemmed, stop words left out), in their order; none for a query of no such word."""
    from newsdesk.keyword import tokenize

    terms = set(tokenize([query])[0])
    if not terms:
        return []
    return [hit for hit, words in zip(hits, tokenize([h.text for h in hits]), strict=True)
            if not terms.isdisjoint(words)]
