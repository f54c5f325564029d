"""The keyword side of hybrid retrieval: a bm25s index over the chunks, saved beside Chroma."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The tokens, re-exported: callers know them as keyword.tokenize, .words and .stem.
from newsdesk.tokens import ANALYSER, stem, tokenize, words

__all__ = ["ANALYSER", "KeywordIndex", "chunk_key", "stem", "tokenize", "words"]

log = logging.getLogger(__name__)

_STATE = "state.json"
_VERSION = 4  # of the tokenizer and layout: an index saved by another version is rebuilt
_MAIN = "main"  # the bm25s index and its rows
_RIDS = "rids.npz"
_DELTA = "delta.npz"  # the chunks added since
_DELTA_TOKENS = "delta-tokens.txt"
_DEAD = "dead.npy"  # the main index's chunks removed since
REBUILD_SHARE = 0.1  # of the main index: past this many added + removed chunks, rebuild


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its logger to DEBUG when imported; hand the level back to the application.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def chunk_key(rid: int, chunk_id: str) -> int:
    """One number for a chunk row: its row id and its chunk id (rids can be reused by SQLite)."""
    digest = hashlib.blake2b(f"{rid}|{chunk_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _lucene_idf(documents: int, frequency: int) -> float:
    """bm25s's default ("lucene") inverse document frequency."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


class _Segment:
    """Chunks added since the main bm25s index was built, as postings in numpy arrays.

    They are scored with the main index's statistics (document count, document frequencies,
    average length, k1, b), so their scores compare with the main index's own.
    """

    _ARRAYS = ("rids", "articles", "keys", "lengths", "vocab", "indptr", "docs", "tfs")

    def __init__(self, arrays: Mapping[str, np.ndarray], tokens: Sequence[str]) -> None:
        self.rids, self.articles, self.keys = arrays["rids"], arrays["articles"], arrays["keys"]
        self.lengths = arrays["lengths"]
        self._indptr, self._docs, self._tfs = arrays["indptr"], arrays["docs"], arrays["tfs"]
        self._arrays = dict(arrays)
        self._column = {str(term): i for i, term in enumerate(arrays["vocab"])}
        self.tokens = tokens  # space-joined, one per chunk: kept to carry into the next segment

    @classmethod
    def build(cls, rows: Sequence[tuple[int, int, int]], tokens: Sequence[str]) -> _Segment:
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

    def frequency(self, term: str) -> int:
        column = self._column.get(term)
        return 0 if column is None else int(self._indptr[column + 1] - self._indptr[column])

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
        return out

    def save(self, directory: Path) -> None:
        arrays: dict[str, Any] = self._arrays  # every one a plain array: no pickles
        np.savez(directory / _DELTA, **arrays)
        (directory / _DELTA_TOKENS).write_text("\n".join(self.tokens), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> _Segment:
        with np.load(directory / _DELTA) as saved:
            arrays = {name: saved[name] for name in cls._ARRAYS}
        text = (directory / _DELTA_TOKENS).read_text(encoding="utf-8")
        tokens = text.split("\n") if len(arrays["rids"]) else []
        return cls(arrays, tokens)


class KeywordIndex:
    """BM25 over chunk texts; documents are known by their catalog row ids.

    A main bm25s index plus, after small changes, a segment of the chunks added since and a
    list of the main index's chunks that are gone: updating costs the size of the change, not
    of the archive. When the change passes REBUILD_SHARE of the main index, the whole index is
    rebuilt (the caller's job: `updated` returns None).
    """

    def __init__(self, retriever: Any, chunk_rids: np.ndarray, article_rids: np.ndarray,
                 keys: np.ndarray, generation: int, *, avgdl: float, main_id: str,
                 delta: _Segment | None = None, dead: np.ndarray | None = None) -> None:
        self._retriever = retriever
        self.chunk_rids = chunk_rids  # of the main index, dead ones included
        self.article_rids = article_rids
        self.keys = keys
        self.generation = generation
        self.avgdl = avgdl
        self.main_id = main_id
        self.delta = delta
        self.dead = dead if dead is not None else np.zeros(0, dtype=np.int64)
        self._live: np.ndarray | None = None
        if len(self.dead):
            self._live = np.ones(len(chunk_rids), dtype=np.float32)
            self._live[self.dead] = 0
        vocab = getattr(retriever, "vocab_dict", None) if retriever is not None else None
        self._vocab: dict[str, int] = vocab or {}

    @property
    def documents(self) -> int:
        """How many chunks the index holds now."""
        return len(self.chunk_rids) - len(self.dead) + (len(self.delta.rids) if self.delta else 0)

    @property
    def pending(self) -> int:
        """Chunks added or removed since the main index was built."""
        return len(self.dead) + (len(self.delta.rids) if self.delta else 0)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, str, str]], generation: int,
              known: Mapping[str, str] | None = None) -> KeywordIndex:
        """Index (chunk rid, article rid, chunk id, text) rows; `known` maps chunk ids to their
        tokens already computed (space-joined), which saves tokenizing them again."""
        bm25s = _bm25s()

        chunk_rids: list[int] = []
        article_rids: list[int] = []
        keys: list[int] = []
        ids: list[str] = []
        texts: list[str] = []
        for chunk_rid, article_rid, chunk_id, text in rows:
            chunk_rids.append(chunk_rid)
            article_rids.append(article_rid)
            keys.append(chunk_key(chunk_rid, chunk_id))
            ids.append(chunk_id)
            texts.append(text)
        tokens = [joined.split() for joined in _tokens_of(ids, texts, known or {})]
        retriever = None
        if tokens:
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        avgdl = sum(map(len, tokens)) / len(tokens) if tokens else 1.0
        return cls(retriever, np.asarray(chunk_rids, dtype=np.int64),
                   np.asarray(article_rids, dtype=np.int64), np.asarray(keys, dtype=np.int64),
                   generation, avgdl=max(avgdl, 1.0), main_id=uuid.uuid4().hex)

    def updated(
        self, live: Sequence[tuple[int, int, str]], generation: int,
        fetch: Callable[[list[int]], Sequence[tuple[int, int, str, str]]],
        known: Mapping[str, str] | None = None,
    ) -> KeywordIndex | None:
        """This index brought to the catalog's `live` (chunk rid, article rid, chunk id) rows;
        `fetch` gives the rows with texts of chunk rids it lacks. None when a rebuild is due."""
        if self._retriever is None:
            return None
        live_keys = np.fromiter((chunk_key(rid, cid) for rid, _, cid in live), dtype=np.int64,
                                count=len(live))
        dead = np.flatnonzero(~np.isin(self.keys, live_keys))
        held = self.keys if self.delta is None else np.concatenate([self.keys, self.delta.keys])
        new = [live[i] for i in np.flatnonzero(~np.isin(live_keys, held)).tolist()]
        kept: list[int] = []
        if self.delta is not None:
            kept = np.flatnonzero(np.isin(self.delta.keys, live_keys)).tolist()
        if len(dead) + len(kept) + len(new) > REBUILD_SHARE * len(self.chunk_rids):
            return None
        rows = [(int(self.delta.rids[i]), int(self.delta.articles[i]), int(self.delta.keys[i]))
                for i in kept] if self.delta is not None else []
        tokens = [self.delta.tokens[i] for i in kept] if self.delta is not None else []
        fetched = fetch([rid for rid, _, _ in new])
        rows += [(rid, article, chunk_key(rid, cid)) for rid, article, cid, _ in fetched]
        tokens += _tokens_of([r[2] for r in fetched], [r[3] for r in fetched], known or {})
        delta = _Segment.build(rows, tokens) if rows else None
        return KeywordIndex(self._retriever, self.chunk_rids, self.article_rids, self.keys,
                            generation, avgdl=self.avgdl, main_id=self.main_id, delta=delta,
                            dead=dead)

    def save(self, directory: Path) -> None:
        """Write to a fresh folder, then swap it in; a crash leaves the old or no index. A main
        index already saved in `directory` is linked, not written again."""
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if _saved_main(directory) == self.main_id:
            try:
                shutil.copytree(directory / _MAIN, tmp / _MAIN, copy_function=os.link)
            except OSError:
                shutil.rmtree(tmp / _MAIN, ignore_errors=True)
                shutil.copytree(directory / _MAIN, tmp / _MAIN)
        else:
            (tmp / _MAIN).mkdir()
            if self._retriever is not None:
                self._retriever.save(str(tmp / _MAIN), show_progress=False)
            np.savez(tmp / _MAIN / _RIDS, chunk=self.chunk_rids, article=self.article_rids,
                     key=self.keys)
        if self.delta is not None:
            self.delta.save(tmp)
        np.save(tmp / _DEAD, self.dead)
        (tmp / _STATE).write_text(json.dumps({
            "generation": self.generation, "version": _VERSION, "main": self.main_id,
            "avgdl": self.avgdl, "documents": self.documents, "delta": self.delta is not None}))
        old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> KeywordIndex | None:
        """The saved index, or None when it is missing or unreadable (it is then rebuilt)."""
        bm25s = _bm25s()

        try:
            state = json.loads((directory / _STATE).read_text())
            if state.get("version") != _VERSION:
                return None
            with np.load(directory / _MAIN / _RIDS) as rids:
                chunk_rids, article_rids, keys = rids["chunk"], rids["article"], rids["key"]
            retriever = None
            if len(chunk_rids):
                retriever = bm25s.BM25.load(str(directory / _MAIN), mmap=True,
                                            show_progress=False)
            delta = _Segment.load(directory) if state["delta"] else None
            return cls(retriever, chunk_rids, article_rids, keys, int(state["generation"]),
                       avgdl=float(state["avgdl"]), main_id=str(state["main"]), delta=delta,
                       dead=np.load(directory / _DEAD))
        except (OSError, ValueError, KeyError, IndexError) as exc:  # IndexError: read mid-swap
            log.info("keyword index at %s unreadable (%s); it will be rebuilt", directory, exc)
            return None

    def _frequency(self, term: str) -> int:
        """How many chunks of the main index hold a stemmed term."""
        column = self._vocab.get(term)
        if self._retriever is None or column is None:
            return 0
        indptr = self._retriever.scores["indptr"]
        if column + 1 >= len(indptr):
            return 0
        return int(indptr[column + 1] - indptr[column])

    def _counts(self, term: str) -> tuple[int, int]:
        """(chunks holding the term, chunks indexed) over the main index and the added ones;
        chunks removed since the last rebuild still count, as in the main index's own scores."""
        added = self.delta.frequency(term) if self.delta else 0
        return (self._frequency(term) + added,
                len(self.chunk_rids) + (len(self.delta.rids) if self.delta else 0))

    def share(self, term: str) -> float:
        """The share of chunks that hold a stemmed term."""
        found, documents = self._counts(term)
        return found / documents if documents else 0.0

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25 inverse document frequency of stemmed terms (a term never seen gets the most)."""
        out: dict[str, float] = {}
        for term in terms:
            found, documents = self._counts(term)
            out[term] = _lucene_idf(documents, found)
        return out

    def search(
        self, query: str, n: int, allowed_articles: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(chunk rid, BM25 score) for the n best chunks with a positive score."""
        if self._retriever is None or n <= 0:
            return []
        terms = tokenize([query])[0]
        found: list[tuple[int, float]] = []
        main_terms = [t for t in terms if t in self._vocab]
        if main_terms:
            mask = self._live
            if allowed_articles is not None:
                allowed = np.isin(self.article_rids, allowed_articles).astype(np.float32)
                mask = allowed if mask is None else mask * allowed
            k = min(n, len(self.chunk_rids))
            docs, scores = self._retriever.retrieve(
                [main_terms], k=k, show_progress=False, weight_mask=mask, n_threads=0)
            found += [(int(self.chunk_rids[d]), float(s))
                      for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        if self.delta is not None:
            documents = len(self.chunk_rids)
            idf = {t: _lucene_idf(documents, self._frequency(t)) for t in terms}
            scores = self.delta.scores(terms, idf, self._retriever.k1, self._retriever.b,
                                       self.avgdl)
            if allowed_articles is not None:
                scores *= np.isin(self.delta.articles, allowed_articles)
            top = np.argsort(-scores, kind="stable")[:n]
            found += [(int(self.delta.rids[i]), float(scores[i])) for i in top if scores[i] > 0]
            found.sort(key=lambda hit: -hit[1])
        return found[:n]


def _tokens_of(ids: Sequence[str], texts: Sequence[str], known: Mapping[str, str]) -> list[str]:
    """Space-joined tokens of each text, taken from `known` (by chunk id) where it has them."""
    out = [known.get(chunk_id) for chunk_id in ids]
    todo = [i for i, joined in enumerate(out) if joined is None]
    for i, found in zip(todo, tokenize([texts[i] for i in todo]) if todo else [], strict=True):
        out[i] = " ".join(found)
    return [joined or "" for joined in out]


def _saved_main(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / _STATE).read_text())["main"])
    except (OSError, ValueError, KeyError):
        return None
