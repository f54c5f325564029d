"""The keyword side of hybrid retrieval: a bm25s index over the chunks, saved beside Chroma."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The tokens, re-exported: callers know them as keyword.tokenize, .words and .stem.
from newsdesk.tokens import ANALYSER, stem, tokenize, words

__all__ = ["ANALYSER", "KeywordIndex", "chunk_key", "stem", "tokenize", "words"]
from newsdesk.postings import Postings

log = logging.getLogger(__name__)

_STATE = "state.json"
_VERSION = 4  # of the tokenizer and layout: an index saved by another version is rebuilt
_MAIN = "main"  # the bm25s index and its rows
_RIDS = "rids.npz"
_DELTA = "delta.npz"  # the chunks added since
_DELTA_TOKENS = "delta-tokens.txt"
_DEAD = "dead.npy"  # the main index's chunks removed since
REBUILD_SHARE = 0.1  # of the main index: past this many added + removed chunks, rebuild
_MAX_SEGMENTS = 16  # segments added in memory before they are merged into one


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


class KeywordIndex:
    """BM25 over chunk texts; documents are known by their catalog row ids.

    A main bm25s index plus, after changes, segments of the chunks added since (postings.py)
    and the list of the main index's chunks that are gone: updating costs the size of the
    change, not of the archive. An index is never changed in place; each update is a new one
    that shares the arrays it did not change. The writer rebuilds the whole index when the
    change passes REBUILD_SHARE of the main index, and saves it with its segments merged.
    """

    def __init__(self, retriever: Any, chunk_rids: np.ndarray, article_rids: np.ndarray,
                 keys: np.ndarray, generation: int, *, avgdl: float, main_id: str,
                 segments: Sequence[Postings] = (), dead: np.ndarray | None = None) -> None:
        self._retriever = retriever
        self.chunk_rids = chunk_rids  # of the main index, dead ones included
        self.article_rids = article_rids
        self.keys = keys
        self.generation = generation
        self.avgdl = avgdl
        self.main_id = main_id
        self.segments = tuple(s for s in segments if s.size)
        self.dead = dead if dead is not None else np.zeros(0, dtype=np.int64)
        self._live: np.ndarray | None = None
        if len(self.dead):
            self._live = np.ones(len(chunk_rids), dtype=np.float32)
            self._live[self.dead] = 0
        vocab = getattr(retriever, "vocab_dict", None) if retriever is not None else None
        self._vocab: dict[str, int] = vocab or {}

    @property
    def added(self) -> int:
        """Chunks held in the segments added since the main index was built."""
        return sum(s.size for s in self.segments)

    @property
    def documents(self) -> int:
        """How many chunks the index holds now."""
        return len(self.chunk_rids) - len(self.dead) + self.added

    @property
    def pending(self) -> int:
        """Chunks added or removed since the main index was built."""
        return len(self.dead) + self.added

    def held_keys(self) -> set[int]:
        """The chunk keys this index answers for: its main index's live ones and the added."""
        live = np.delete(self.keys, self.dead) if len(self.dead) else self.keys
        held = {int(k) for k in live}
        for segment in self.segments:
            keys = segment.keys if segment.live is None else segment.keys[segment.live > 0]
            held |= {int(k) for k in keys}
        return held

    @property
    def due(self) -> bool:
        """Whether so much changed since the main index was built that it should be rebuilt."""
        return self._retriever is None or self.pending > REBUILD_SHARE * len(self.chunk_rids)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, str, str]], generation: int,
              known: Mapping[str, str] | None = None) -> KeywordIndex:
        """Index (chunk rid, article rid, chunk id, text) rows; `known` maps chunk ids to their
        tokens already computed (space-joined), which saves tokenizing them again.

        Each chunk's tokens become vocabulary ids as it is read, which bm25s indexes as they
        are: the texts and token strings of a million chunks never sit in memory at once."""
        bm25s = _bm25s()
        known = known or {}
        chunk_rids: list[int] = []
        article_rids: list[int] = []
        keys: list[int] = []
        vocabulary: dict[str, int] = {}
        documents: list[list[int]] = []
        for chunk_rid, article_rid, chunk_id, text in rows:
            chunk_rids.append(chunk_rid)
            article_rids.append(article_rid)
            keys.append(chunk_key(chunk_rid, chunk_id))
            joined = known.get(chunk_id)
            terms = joined.split() if joined is not None else tokenize([text])[0]
            documents.append([vocabulary.setdefault(t, len(vocabulary)) for t in terms])
        retriever = None
        if documents:
            retriever = bm25s.BM25()
            retriever.index((documents, vocabulary), show_progress=False)
        avgdl = sum(map(len, documents)) / len(documents) if documents else 1.0
        return cls(retriever, np.asarray(chunk_rids, dtype=np.int64),
                   np.asarray(article_rids, dtype=np.int64), np.asarray(keys, dtype=np.int64),
                   generation, avgdl=max(avgdl, 1.0), main_id=uuid.uuid4().hex)

    def updated(
        self, live: Sequence[tuple[int, int, str]], generation: int,
        fetch: Callable[[list[int]], Sequence[tuple[int, int, str, str]]],
        known: Mapping[str, str] | None = None,
    ) -> KeywordIndex | None:
        """This index brought to the catalog's `live` (chunk rid, article rid, chunk id) rows,
        for when the catalog's log does not reach back far enough (it reads every chunk);
        `fetch` gives the rows with texts of chunk rids it lacks. None without a main index."""
        if self._retriever is None:
            return None
        live_keys = np.fromiter((chunk_key(rid, cid) for rid, _, cid in live), dtype=np.int64,
                                count=len(live))
        held = np.concatenate([self.keys, *(s.keys for s in self.segments)])
        gone = np.setdiff1d(held, live_keys)
        new = [live[i] for i in np.flatnonzero(~np.isin(live_keys, held)).tolist()]
        return self._with(gone, fetch([rid for rid, _, _ in new]), generation, known)

    def changed(
        self, changes: Sequence[tuple[int, int, str, bool]], generation: int,
        fetch: Callable[[list[int]], Sequence[tuple[int, int, str, str]]],
        known: Mapping[str, str] | None = None,
    ) -> KeywordIndex | None:
        """This index brought forward by the catalog's log of (chunk rid, article rid, chunk id,
        added) since its generation: costs the size of the change, not of the archive. None
        without a main index."""
        if self._retriever is None:
            return None
        gone: set[int] = set()
        came: dict[int, int] = {}  # key -> chunk rid, of the chunks added and still there
        for rid, _, cid, added in changes:
            key = chunk_key(rid, cid)
            came.pop(key, None)
            if added:
                came[key] = rid
            else:
                gone.add(key)
        gone_keys = np.fromiter(gone, dtype=np.int64, count=len(gone))
        return self._with(gone_keys, fetch(list(came.values())), generation, known)

    def _with(self, gone: np.ndarray, fetched: Sequence[tuple[int, int, str, str]],
              generation: int, known: Mapping[str, str] | None) -> KeywordIndex:
        """A new index: the chunks of these keys removed, the fetched (chunk rid, article rid,
        chunk id, text) rows added as a new segment."""
        dead = np.union1d(self.dead, np.flatnonzero(np.isin(self.keys, gone))).astype(np.int64)
        segments = [s.without(gone) for s in self.segments]
        if fetched:
            rows = [(rid, article, chunk_key(rid, cid)) for rid, article, cid, _ in fetched]
            tokens = _tokens_of([r[2] for r in fetched], [r[3] for r in fetched], known or {})
            segments.append(Postings.build(rows, tokens))
        if len(segments) > _MAX_SEGMENTS:
            merged = Postings.merged(segments)
            segments = [merged] if merged is not None else []
        return KeywordIndex(self._retriever, self.chunk_rids, self.article_rids, self.keys,
                            generation, avgdl=self.avgdl, main_id=self.main_id,
                            segments=segments, dead=dead)

    def compacted(self) -> KeywordIndex:
        """The same index with its segments merged into one (the form it is saved in)."""
        if len(self.segments) <= 1 and all(s.live is None for s in self.segments):
            return self
        merged = Postings.merged(self.segments)
        return KeywordIndex(self._retriever, self.chunk_rids, self.article_rids, self.keys,
                            self.generation, avgdl=self.avgdl, main_id=self.main_id,
                            segments=[merged] if merged is not None else [], dead=self.dead)

    def save(self, directory: Path) -> None:
        """Write to a fresh folder, then swap it in; a crash leaves the old or no index. A main
        index already saved in `directory` is linked, not written again. Call it on a
        `compacted` index."""
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
        segment = self.compacted().segments
        if segment:
            segment[0].save(tmp / _DELTA, tmp / _DELTA_TOKENS)
        np.save(tmp / _DEAD, self.dead)
        (tmp / _STATE).write_text(json.dumps({
            "generation": self.generation, "version": _VERSION, "main": self.main_id,
            "avgdl": self.avgdl, "documents": self.documents, "delta": bool(segment)}))
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
            segments = [Postings.load(directory / _DELTA, directory / _DELTA_TOKENS)] \
                if state["delta"] else []
            return cls(retriever, chunk_rids, article_rids, keys, int(state["generation"]),
                       avgdl=float(state["avgdl"]), main_id=str(state["main"]),
                       segments=segments, dead=np.load(directory / _DEAD))
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
        chunks removed from the main index since it was built still count, as in its scores."""
        added = sum(s.frequency(term) for s in self.segments)
        return self._frequency(term) + added, len(self.chunk_rids) + self.added

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
        if self.segments:
            documents = len(self.chunk_rids)
            idf = {t: _lucene_idf(documents, self._frequency(t)) for t in terms}
            for segment in self.segments:
                scores = segment.scores(terms, idf, self._retriever.k1, self._retriever.b,
                                        self.avgdl)
                if allowed_articles is not None:
                    scores *= np.isin(segment.articles, allowed_articles)
                top = np.argsort(-scores, kind="stable")[:n]
                found += [(int(segment.rids[i]), float(scores[i])) for i in top if scores[i] > 0]
            found.sort(key=lambda hit: -hit[1])
        return found[:n]


def _tokens_of(ids: Sequence[str], texts: Sequence[str], known: Mapping[str, str]) -> list[str]:
    """Space-joined tokens of each text, taken from `known` (by chunk id) where it has them."""
    out = [known.get(chunk_id) for chunk_id in ids]
    todo = [i for i, joined in enumerate(out) if joined is None]
    for i, found in zip(todo, tokenize([texts[i] for i in todo]) if todo else [], strict=True):
        out[i] = " ".join(found)
    return [joined or "" for joined in out]


def saved_state(directory: Path) -> tuple[int, str] | None:
    """(catalog generation, main index id) of the keyword index saved in `directory`, without
    loading it; None when there is none this version reads."""
    try:
        state = json.loads((directory / _STATE).read_text())
        if state.get("version") != _VERSION:
            return None
        return int(state["generation"]), str(state["main"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _saved_main(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / _STATE).read_text())["main"])
    except (OSError, ValueError, KeyError):
        return None
