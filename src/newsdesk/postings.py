"""Chunks added to a keyword index since its main bm25s index was built, as postings in numpy
arrays, scored with the main index's statistics (document count, document frequencies,
average length, k1, b) so that their scores compare with the main index's own.

A segment is never changed in place (a question may be using it): removing chunks from it
gives a copy with those rows masked out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_ARRAYS = ("rids", "articles", "keys", "lengths", "vocab", "indptr", "docs", "tfs")


class Postings:
    """One segment of added chunks: (chunk rid, article rid, key) rows and their postings."""

    def __init__(self, arrays: Mapping[str, np.ndarray], tokens: Sequence[str],
                 live: np.ndarray | None = None) -> None:
        self.rids, self.articles, self.keys = arrays["rids"], arrays["articles"], arrays["keys"]
        self.lengths = arrays["lengths"]
        self._indptr, self._docs, self._tfs = arrays["indptr"], arrays["docs"], arrays["tfs"]
        self._arrays = dict(arrays)
        self._column = {str(term): i for i, term in enumerate(arrays["vocab"])}
        self.tokens = tokens  # space-joined, one per chunk: kept to carry into a merged segment
        self.live = live  # None: every row is live; else 1.0 / 0.0 per row

    @classmethod
    def build(cls, rows: Sequence[tuple[int, int, int]], tokens: Sequence[str]) -> Postings:
        """A segment of (chunk rid, article rid, key) rows with their space-joined tokens."""
        terms: list[str] = []
        docs: list[int] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for doc, joined in enumerate(tokens):
            counts = Counter(joined.split())
            terms += counts
            docs += [doc] * len(counts)
            tfs += counts.values()
            lengths.append(sum(counts.values()))
        vocab, term_ids = np.unique(np.asarray(terms, dtype=str), return_inverse=True)
        order = np.lexsort((np.asarray(docs, dtype=np.int64), term_ids))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=len(vocab)), out=indptr[1:])
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        return cls({
            "rids": table[:, 0], "articles": table[:, 1], "keys": table[:, 2],
            "lengths": np.asarray(lengths, dtype=np.float32), "vocab": vocab, "indptr": indptr,
            "docs": np.asarray(docs, dtype=np.int32)[order],
            "tfs": np.asarray(tfs, dtype=np.float32)[order],
        }, list(tokens))

    @classmethod
    def merged(cls, segments: Sequence[Postings]) -> Postings | None:
        """One segment of the live rows of several, in order (None when none is left)."""
        rows: list[tuple[int, int, int]] = []
        tokens: list[str] = []
        for segment in segments:
            for i in segment.live_rows():
                rows.append((int(segment.rids[i]), int(segment.articles[i]), int(segment.keys[i])))
                tokens.append(segment.tokens[i])
        return cls.build(rows, tokens) if rows else None

    def live_rows(self) -> list[int]:
        """Positions of the rows not removed."""
        if self.live is None:
            return list(range(len(self.rids)))
        return np.flatnonzero(self.live).tolist()

    @property
    def size(self) -> int:
        """How many chunks it holds (removed ones not counted)."""
        return len(self.rids) if self.live is None else int(self.live.sum())

    def without(self, keys: np.ndarray) -> Postings:
        """This segment with the rows of these keys removed (itself if it holds none)."""
        gone = np.isin(self.keys, keys)
        if not gone.any():
            return self
        live = np.ones(len(self.rids), np.float32) if self.live is None else self.live.copy()
        live[gone] = 0
        return Postings(self._arrays, self.tokens, live)

    def frequency(self, term: str) -> int:
        """How many live chunks hold a stemmed term."""
        column = self._column.get(term)
        if column is None:
            return 0
        docs = self._docs[self._indptr[column]:self._indptr[column + 1]]
        return len(docs) if self.live is None else int(self.live[docs].sum())

    def scores(self, terms: Sequence[str], idf: Mapping[str, float], k1: float, b: float,
               avgdl: float) -> np.ndarray:
        """BM25 (Lucene variant, as bm25s computes it) of every chunk for the query terms."""
        out = np.zeros(len(self.rids), dtype=np.float32)
        norm = k1 * ((1 - b) + b * self.lengths / avgdl)
        for term in terms:
            column = self._column.get(term)
            if column is None:
                continue
            span = slice(self._indptr[column], self._indptr[column + 1])
            docs, tfs = self._docs[span], self._tfs[span]
            out[docs] += idf[term] * tfs / (tfs + norm[docs])
        return out if self.live is None else out * self.live

    def save(self, path: Path, tokens_path: Path) -> None:
        """Write the arrays (no pickles) and the tokens; only a segment without removed rows."""
        if self.live is not None:
            raise ValueError("merge a segment before saving it")
        arrays: dict[str, Any] = self._arrays
        np.savez(path, **arrays)
        tokens_path.write_text("\n".join(self.tokens), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, tokens_path: Path) -> Postings:
        """A segment saved by `save`."""
        with np.load(path) as saved:
            arrays = {name: saved[name] for name in _ARRAYS}
        text = tokens_path.read_text(encoding="utf-8")
        tokens = text.split("\n") if len(arrays["rids"]) else []
        return cls(arrays, tokens)
