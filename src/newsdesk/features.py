"""What the answer model sees of each candidate sentence: one row of numbers per sentence.

A sentence is described by how much of the question it (and the sentences beside it) covers,
what it adds that the question does not already say (a name, figure, date, reason), where it
stands (passage rank, place in the article), and for a follow-up how it relates to the previous
answer. Every feature is a ratio, a count squashed to [0, 1), a similarity or a flag, so that one
fitted model serves archives of any size and style.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from newsdesk import facts, keyword
from newsdesk.evidence import ANSWERS, Evidence, positions
from newsdesk.question import CLASSES, Question

_TERMS = ("cover", "cover_rel", "cover_window", "cover_exact", "cover_local", "local_window",
          "predicate", "predicate_local", "bigrams", "prev_local", "next_local", "head_in",
          "dense", "dense_rel", "article_cover", "article_cover_rel")
_ANSWER = ("novel", "new_names", "rare_names", "slot_context", "slot_item", "answer_items",
           "answer_near", "count_head")
_SHAPE = ("article_names", "reason_cue", "quoted", "leans_back", "passage_rank", "article_rank",
          "position", "lead", "length", "in_hit", "said", "near_said", "followup")
FEATURES: tuple[str, ...] = (
    *_TERMS, *_ANSWER, *_SHAPE,
    *(f"class_{c}" for c in CLASSES),
    *(f"{c}×{k}" for c in CLASSES for k in facts.KINDS),
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}


def column(name: str) -> int:
    """The index of a feature in the matrix."""
    return _COLUMN[name]


def matrices(evidence: Evidence) -> list[np.ndarray]:
    """The feature matrix of each part of the question (the whole, when it has none)."""
    return [matrix(evidence, part) for part in evidence.question.parts or (evidence.question,)]


def matrix(evidence: Evidence, part: Question) -> np.ndarray:
    """One row per candidate sentence of the evidence, one column per name in FEATURES."""
    rows = np.zeros((len(evidence.sentences), len(FEATURES)), dtype=np.float32)
    if not evidence.sentences:
        return rows
    _terms(rows, evidence, part)
    _answers(rows, evidence, part)
    rows[:, [_COLUMN[n] for n in _SHAPE]] = _shape(evidence)
    cls = part.answer_class
    rows[:, _COLUMN[f"class_{cls}"]] = 1.0
    for i, items in enumerate(evidence.items):
        for kind in facts.KINDS:
            if items[kind]:
                rows[i, _COLUMN[f"{cls}×{kind}"]] = 1.0
    return rows


def _set(rows: np.ndarray, name: str, values: np.ndarray | float) -> None:
    rows[:, _COLUMN[name]] = values


# -- how much of the question a sentence covers ---------------------------------------------
@dataclass(frozen=True, slots=True)
class _Terms:
    """A part's terms and, per candidate sentence, where they are found."""

    names: list[str]
    weight: np.ndarray  # the term's weight in the question times its IDF in the archive
    predicate: np.ndarray  # 1 for the terms that are not names
    exact: np.ndarray  # (sentences, terms): the sentence holds the term
    soft: np.ndarray  # ... or a close word, by its similarity
    window: np.ndarray  # ... the sentence or one beside it holds it
    before: np.ndarray  # ... the sentence before
    after: np.ndarray  # ... the sentence after
    article: np.ndarray  # ... its article holds it
    local: np.ndarray  # the term's weight among its article's sentences (see _local)


def _terms(rows: np.ndarray, evidence: Evidence, part: Question) -> None:
    t = _term_view(evidence, part)
    total = float(t.weight.sum()) or 1.0
    predicate = t.weight * t.predicate
    _set(rows, "cover", t.soft @ t.weight / total)
    _set(rows, "cover_exact", t.exact @ t.weight / total)
    _set(rows, "cover_window", t.window @ t.weight / total)
    _set(rows, "article_cover", t.article @ t.weight / total)
    _set(rows, "predicate", t.soft @ predicate / (float(predicate.sum()) or 1.0))
    _set(rows, "cover_local", _share(t.local, t.exact))
    _set(rows, "local_window", _share(t.local, t.window))
    _set(rows, "prev_local", _share(t.local, t.before))
    _set(rows, "next_local", _share(t.local, t.after))
    _set(rows, "predicate_local", _share(t.local * t.predicate, t.exact))
    pairs = _bigrams(part.text)
    if pairs:
        _set(rows, "bigrams", np.array([len(pairs & _bigrams(s.text)) / len(pairs)
                                        for s in evidence.sentences], np.float32))
    if part.head:
        close = evidence.soft.get(part.head, {})
        _set(rows, "head_in", np.array([part.head in s.terms or bool(s.words & close.keys())
                                        for s in evidence.sentences], np.float32))
    _set(rows, "dense", evidence.dense)
    _relative(rows, "cover", "cover_rel", ratio=True)
    _relative(rows, "dense", "dense_rel", ratio=False)
    _relative(rows, "article_cover", "article_cover_rel", ratio=True)


def _term_view(evidence: Evidence, part: Question) -> _Terms:
    terms = _part_terms(part, evidence.question)
    names = list(terms)
    unseen = max(evidence.idf.values(), default=1.0)
    weight = np.array([w * evidence.idf.get(t, unseen) for t, w in terms.items()], np.float32)
    stems = {keyword.stem(n) for n in evidence.question.names}
    predicate = np.array([t not in stems for t in names], np.float32)
    n, k = len(evidence.sentences), len(names)
    views = {key: np.zeros((n, k), np.float32)
             for key in ("exact", "soft", "window", "before", "after", "article", "local")}
    term_weights = np.array([terms[t] for t in names], np.float32)
    rows: dict[str, tuple[list[int], list[int]]] = {}  # article -> candidates, their sentences
    for i, s in enumerate(evidence.sentences):
        found = rows.setdefault(s.article.article.id, ([], []))
        found[0].append(i)
        found[1].append(s.index)
    for aid, (at, where) in rows.items():
        m = _incidence(evidence.articles[aid].terms, names)
        # a zero row either side: row j + 1 is sentence j, rows j and j + 2 the ones beside it
        padded = np.zeros((len(m) + 2, k), np.float32)
        padded[1:-1] = m
        j = np.asarray(where)
        views["exact"][at] = padded[j + 1]
        views["before"][at] = padded[j]
        views["after"][at] = padded[j + 2]
        views["window"][at] = np.maximum(np.maximum(padded[j], padded[j + 1]), padded[j + 2])
        views["article"][at] = m.max(axis=0) if len(m) else 0.0
        views["local"][at] = _local(m, term_weights)
    views["soft"] = np.maximum(views["exact"], np.stack(
        [evidence.closeness(t) for t in names], axis=1) if names else views["exact"])
    return _Terms(names, weight, predicate, **views)


def _incidence(sentences: Sequence[frozenset[str]], terms: Sequence[str]) -> np.ndarray:
    """(sentences, terms): whether each sentence of an article holds each term."""
    return np.array([[t in s for t in terms] for s in sentences], np.float32).reshape(
        len(sentences), len(terms))


def _local(incidence: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """How much each term tells an article's sentences apart: its weight times its IDF among
    them (a name the whole article repeats says little about where the answer is; a word one
    sentence alone holds says much). Terms the article lacks get none."""
    found = incidence.sum(axis=0)
    n = max(1, len(incidence))
    with np.errstate(divide="ignore"):
        idf = np.where(found > 0, np.log1p(n / np.maximum(found, 1)), 0.0)
    return (weight * idf).astype(np.float32)


def _share(weights: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Row by row: the share of the weights on the terms held."""
    total = weights.sum(axis=1)
    return np.where(total > 0, (weights * held).sum(axis=1) / np.maximum(total, 1e-9), 0.0)


def _relative(rows: np.ndarray, source: str, target: str, *, ratio: bool) -> None:
    values = rows[:, _COLUMN[source]]
    top = float(values.max()) if len(values) else 0.0
    if ratio:
        rows[:, _COLUMN[target]] = values / top if top > 0 else 0.0
    else:
        rows[:, _COLUMN[target]] = values - top


def _part_terms(part: Question, whole: Question) -> dict[str, float]:
    """A part's terms, plus what the whole question names and what earlier turns said."""
    terms = dict(part.terms)
    if part is not whole:
        for name in whole.names:
            terms.setdefault(keyword.stem(name), 0.5)
        for term, weight in whole.terms.items():
            if weight < 1.0:
                terms.setdefault(term, weight)
    return terms


@lru_cache(maxsize=65536)
def _bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Adjacent content-word stems ("first hit", "hit uk"): a phrase of the question found
    again says more than its words found apart."""
    return frozenset(itertools.pairwise(keyword.tokenize([text])[0]))


# -- what a sentence adds ---------------------------------------------------------------------
def _answers(rows: np.ndarray, evidence: Evidence, part: Question) -> None:
    cls = part.answer_class
    own = set(_part_terms(part, evidence.question))
    slots = evidence.slots(part)
    close_head = evidence.soft.get(part.head, {})
    for i, (s, items) in enumerate(zip(evidence.sentences, evidence.items, strict=True)):
        row = rows[i]
        wanted = [item for kind in ANSWERS[cls] for item in items[kind]]
        row[_COLUMN["novel"]] = len(s.terms - own) / len(s.terms) if s.terms else 0.0
        row[_COLUMN["new_names"]] = _squash(len(items["name"]))
        row[_COLUMN["rare_names"]] = _rare_share(items["name"],
                                                 evidence.articles[s.article.article.id].lowered)
        row[_COLUMN["answer_items"]] = _squash(len(wanted))
        row[_COLUMN["answer_near"]] = _nearness(wanted, s.text, own)
        row[_COLUMN["slot_context"]], row[_COLUMN["slot_item"]] = slots[i]
        row[_COLUMN["count_head"]] = float(
            cls == "number" and bool(part.head)
            and _counts_head(items["number"], s.text, part.head, close_head))


def _squash(count: float) -> float:
    """A count mapped to [0, 1): 0 → 0, 1 → 0.5, 3 → 0.75."""
    return count / (1.0 + count)


def _rare_share(names: Sequence[facts.Item], lowered: str) -> float:
    """The share of a sentence's new names that its article (lower-cased) mentions once or
    twice: an answer is often named once; the story's subject everywhere."""
    if not names:
        return 0.0
    return sum(1 for n in names if lowered.count(n.text) <= 2) / len(names)


def _nearness(items: Sequence[facts.Item], text: str, terms: set[str]) -> float:
    """1 / (1 + words between a wanted item and the nearest question term in the sentence)."""
    if not items:
        return 0.0
    matched = [i for i, stem in enumerate(positions(text)) if stem in terms]
    if not matched:
        return 0.0
    return 1.0 / (1.0 + min(abs(item.position - m) for item in items for m in matched))


def _counts_head(numbers: Sequence[facts.Item], text: str, head: str,
                 close: dict[str, float]) -> bool:
    """Whether a number counts what the question counts ("1,200 nurses" for "how many nurses")."""
    stems = positions(text)
    words = text.split()
    for item in numbers:
        for k in range(item.position + 1, min(len(stems), item.position + 4)):
            if stems[k] == head or words[k].strip(".,;:!?\"“”‘’'()").lower() in close:
                return True
    return False


# -- where a sentence stands -------------------------------------------------------------------
def _shape(evidence: Evidence) -> np.ndarray:
    """The part-independent columns (_SHAPE), computed once per question."""
    if evidence.shape is None:
        whole = evidence.question
        cues = evidence.reason_cues
        shape = np.zeros((len(evidence.sentences), len(_SHAPE)), np.float32)
        for i, s in enumerate(evidence.sentences):
            cue, quoted, leans, length = _text_shape(s.text, cues)
            shape[i] = (
                _names_share(whole.names, evidence.articles[s.article.article.id].lowered),
                cue,
                quoted,
                leans,
                1.0 / (1 + s.rank),
                1.0 / (1 + s.article_rank),
                1.0 / (1 + s.index),
                s.index == 0,
                length,
                s.rank < len(evidence.hits),
                bool(whole.said) and s.text in whole.said,
                evidence.said_at.get((s.article.article.id, s.index), 0.0),
                whole.followup,
            )
        evidence.shape = shape
    return evidence.shape


@lru_cache(maxsize=65536)
def _text_shape(text: str, cues: re.Pattern[str]) -> tuple[bool, bool, bool, float]:
    """The columns of _SHAPE that depend on a sentence's text alone: a reason cue, a quote
    mark, whether it leans back on the sentence before, its length."""
    return (bool(cues.search(text)), any(q in text for q in "“\"‘"), Evidence.leans_back(text),
            _squash(len(text.split()) / 10))


def _names_share(names: Sequence[str], lowered: str) -> float:
    if not names:
        return 1.0
    return sum(1 for n in names if n in lowered) / len(names)

