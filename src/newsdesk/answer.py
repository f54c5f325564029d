"""Composing the extractive answer: the sentences that hold what the question asks for, or an
honest refusal.

Every candidate sentence of the retrieved articles is scored by a fitted model over the
features in evidence.py (see rules/answer_model.json and benchmarks/calibrate.py, which fitted
it on one archive and checked it on others). Each part of the question gets its best sentence,
and one more where another comes close (up to three in all; four for a question of several
parts). A question is refused only on evidence: a second fitted model reads how well the best
sentence answers — its score, whether it holds the kind of thing asked for, whether the archive
mentions what the question names — against a threshold set for few false refusals.
Questions about an article itself (who wrote it, when it was published) are answered from its
metadata; questions about the latest, the first, or how something changed order the evidence
by date and say the dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from newsdesk import keyword, quotes
from newsdesk.archive import Archive
from newsdesk.catalog import StoredArticle
from newsdesk.chunk import sentence_spans
from newsdesk.evidence import ANSWERS, Evidence, Sentence
from newsdesk.features import column, matrices
from newsdesk.metadata import about_article, metadata_statement
from newsdesk.model import AnswerModel, load_model, refusal_features
from newsdesk.question import Question, time_order
from newsdesk.quotes import Statement
from newsdesk.retrieve import Hit


@dataclass(frozen=True, slots=True)
class Draft:
    """The composed answer before citations are numbered."""

    statements: tuple[Statement, ...]
    refused: bool
    confidence: float  # the refusal model's probability that the archive answers
    reason: str = ""
    dated: bool = False  # whether each statement should say its article's date


@dataclass(frozen=True, slots=True)
class Ranked:
    """The candidates of one part of a question, best first, with their probabilities."""

    order: list[int]
    probability: np.ndarray


class Composer:
    """Chooses answer sentences from retrieved hits with the fitted answer model."""

    def __init__(self, archive: Archive, max_sentences: int,
                 model: AnswerModel | None = None) -> None:
        self.archive = archive
        self.max_sentences = max_sentences
        self.model = model or load_model()

    def compose(self, question: Question, vector: np.ndarray, hits: Sequence[Hit]) -> Draft:
        """The answer's statements, or a refusal with its reason; `vector` is the question's
        own words as `word_vectors` embeds them."""
        if not hits:
            return Draft((), True, 0.0, "nothing retrieved")
        if not question.terms:  # "Why?" with nothing before it: nothing to look for
            return Draft((), True, 0.0, "the question names nothing the archive could hold")
        field = about_article(question.text)
        told = metadata_statement(_meant(question, hits), field) if field else None
        if told is not None:
            return Draft((told,), False, 1.0)
        evidence = Evidence(self.archive, question, vector, hits)
        if not evidence.sentences:
            return Draft((), True, 0.0, "the retrieved passages hold no sentences")
        return self.decide(question, evidence, matrices(evidence))

    def decide(self, question: Question, evidence: Evidence,
               matrices: Sequence[np.ndarray]) -> Draft:
        """The answer from scored evidence (one feature matrix per part of the question)."""
        parts = question.parts or (question,)
        ranked = [self._rank(matrix) for matrix in matrices]
        answerable = self.model.answerable(
            refusal_features(evidence, question, matrices, [r.probability for r in ranked]))
        if answerable < self.model.threshold:
            return Draft((), True, answerable, _reason(evidence, question, matrices, ranked))
        order = time_order(question.text)
        chosen = self._choose(evidence, ranked, order, limit=self._limit(parts))
        statements = [quotes.statement(self.archive, s, describes=question.answer_class == "open")
                      for s in chosen]
        return Draft(tuple(quotes.merge(statements)), False, answerable, dated=bool(order))

    def _limit(self, parts: Sequence[Question]) -> int:
        return min(self.max_sentences, self.model.max_sentences + (len(parts) > 1))

    def _rank(self, matrix: np.ndarray) -> Ranked:
        scores = self.model.sentence_scores(matrix)
        return Ranked(list(np.argsort(-scores, kind="stable")), 1.0 / (1.0 + np.exp(-scores)))

    def _choose(self, evidence: Evidence, ranked: Sequence[Ranked], order: str,
                limit: int) -> list[Sentence]:
        """Each part's best sentence, then its close seconds from the same article while the
        answer stays short; for a question about time, the close candidates of every dated
        article, in date order."""
        sentences = evidence.sentences
        picks: list[list[int]] = []
        for part in ranked:
            best = part.order[0]
            top = part.probability[best]
            close = [i for i in part.order[:self.model.candidates * 4]
                     if part.probability[i] >= self.model.ratio * top]
            if order:
                close = _by_date(part, sentences, order)
            else:  # a second article would be a second story: the best one's sentences only
                close = [i for i in close
                         if sentences[i].article.article.id == sentences[best].article.article.id]
            picks.append(close[:self.model.candidates])
        chosen: list[Sentence] = []
        words = 0
        for depth in range(max(len(p) for p in picks)):
            for close in picks:
                if depth >= len(close) or len(chosen) >= limit:
                    continue
                candidate = sentences[close[depth]]
                size = len(candidate.text.split())
                if depth and words + size > self.model.words:
                    continue
                if not any(_same(candidate, c) for c in chosen):
                    chosen.append(candidate)
                    words += size
        if order == "change":
            chosen.sort(key=lambda s: s.article.article.date or "9999")
        return chosen


def _meant(question: Question, hits: Sequence[Hit]) -> StoredArticle:
    """The article a question about "it" means: in a follow-up, the retrieved article whose
    sentence is closest to the previous answer; otherwise the best retrieved one."""
    if not question.said:
        return hits[0].article
    said = set(keyword.words(question.said))
    best, score = hits[0].article, 0.0
    for hit in hits:
        for start, end in sentence_spans(hit.text):
            words = set(keyword.words(hit.text[start:end]))
            share = len(words & said) / len(words) if words else 0.0
            if share > score:
                best, score = hit.article, share
    return best


def _same(a: Sentence, b: Sentence) -> bool:
    """The same place, or nearly the same words (a copy, as another article or a pull quote
    has it)."""
    if a.article.article.id == b.article.article.id and a.index == b.index:
        return True
    shorter = min(len(a.words), len(b.words))
    return bool(shorter) and len(a.words & b.words) / shorter >= quotes.SAME_STATEMENT


def _by_date(ranked: Ranked, sentences: Sequence[Sentence], order: str) -> list[int]:
    """For a question about time: the best sentence of each retrieved article, newest first
    for "the latest", oldest first for "the first" and "how did it change" (undated articles
    last, best first)."""
    best: dict[str, int] = {}
    for i in ranked.order:
        best.setdefault(sentences[i].article.article.id, i)
    newest = order == "latest"
    dated = sorted((i for i in best.values() if sentences[i].article.article.date),
                   key=lambda i: sentences[i].article.article.date, reverse=newest)
    return dated + [i for i in best.values() if not sentences[i].article.article.date]


def _reason(evidence: Evidence, question: Question, matrices: Sequence[np.ndarray],
            ranked: Sequence[Ranked]) -> str:
    """Why the archive is taken not to answer, in the terms of the evidence."""
    missing = evidence.missing_names()
    if missing:
        return f"no retrieved passage mentions {', '.join(missing)}"
    kinds = ANSWERS[question.answer_class]
    if kinds and not any(matrix[r.order[0], column("answer_items")] > 0
                         for matrix, r in zip(matrices, ranked, strict=True)):
        return f"no retrieved sentence holds the {' or '.join(kinds)} asked for"
    best = max(float(r.probability[r.order[0]]) for r in ranked)
    return f"the closest sentence is unlikely to answer it (p = {best:.2f})"
