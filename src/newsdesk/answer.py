"""Composing the extractive answer: the sentences that answer, or an honest refusal.

Each candidate sentence (from the retrieved passages) is scored by how much of the question it
covers (IDF-weighted stems), its dense similarity to the question, whether it holds the kind of
answer wanted, and its passage's rank. A question with several parts gets the best sentence for
each. The archive is said not to answer when the best sentences lack the wanted kind of answer,
cover too little of the question, or when the question names something no passage mentions.
The weights and thresholds were calibrated on tests/data/questions.jsonl (see the README).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from newsdesk import facts, keyword, quotes
from newsdesk.archive import Archive
from newsdesk.chunk import sentence_spans
from newsdesk.embed import word_vectors
from newsdesk.keyword import tokenize
from newsdesk.question import Question
from newsdesk.quotes import Statement
from newsdesk.retrieve import Hit

W_COVER, W_DENSE, W_RANK, W_HEAD = 1.0, 0.6, 0.15, 0.2
# A follow-up's answer should not just repeat the previous one: a question after a fact may
# find it there again, a question for more detail must find something new.
REPEAT_PENALTY = {"typed": 0.8, "open": 0.6}
W_NEAR_SAID = 0.3  # a follow-up usually asks about what stands next to the previous answer
W_VOTE = 0.3  # for an answer that several retrieved sentences give
VOTERS = 10  # the best sentences that vote
NEAR_HEAD = 4  # words between an answer and the noun the question asks about
MIN_COVER = 0.0  # least IDF-weighted share of the question the best sentence holds (see MIN_SCORE)
MIN_SCORE = 0.58  # least combined score of the best sentence (calibrated, see the README)
SOFT_MATCH = 0.5  # word similarity from which a different word counts for a question term
SAME_NAME = 0.65  # word similarity from which a name counts as mentioned ("Twitter" ~ "tweet")
RARE_NAME = 0.3  # a name in fewer than this share of chunks is what the question is about:
                 # the answer must stand next to it
EXTRA_SENTENCE = 0.8  # another sentence joins only when it scores this share of the best


@dataclass(frozen=True, slots=True)
class Draft:
    """The composed answer before citations are numbered."""

    statements: tuple[Statement, ...]
    refused: bool
    confidence: float
    reason: str = ""
    cover: float = 0.0  # the least share of its part of the question a chosen sentence covers
    said: float = 0.0  # the least share of a part's descriptive words a chosen sentence holds


@dataclass(slots=True)
class _Sentence:
    hit: Hit
    rank: int
    start: int
    end: int
    text: str
    terms: set[str]
    words: set[str] = field(default_factory=set)
    dense: float = 0.0
    score: float = 0.0
    kind_ok: bool = True
    cover: float = 0.0
    answers: tuple[str, ...] = ()  # the items of the wanted kind it holds
    said: float = 0.0  # share of the question's own descriptive words it holds (not names)


@dataclass(slots=True)
class _Pool:
    """The candidate sentences, and what scoring them needs."""

    sentences: list[_Sentence]
    known: set[str]  # words seen capitalised mid-sentence (proper names)
    idf: dict[str, float] = field(default_factory=dict)
    # soft matching: similarity of each question term to each word of the pool
    soft: dict[str, dict[str, float]] = field(default_factory=dict)
    # for a follow-up: sentences near the previous answer, by (article, start) -> closeness
    near_said: dict[tuple[str, int], float] = field(default_factory=dict)
    # the question's rare names, and the sentences that mention them or stand next to one
    people: set[str] = field(default_factory=set)  # words of names shaped like a person's
    required: tuple[str, ...] = ()
    beside_required: set[tuple[str, int]] = field(default_factory=set)


class Composer:
    """Chooses answer sentences from retrieved hits."""

    def __init__(self, archive: Archive, max_sentences: int, min_cover: float = MIN_COVER,
                 min_score: float = MIN_SCORE) -> None:
        self.archive = archive
        self.max_sentences = max_sentences
        self.min_cover = min_cover
        self.min_score = min_score

    def compose(self, question: Question, vector: np.ndarray, hits: Sequence[Hit]) -> Draft:
        """The answer's statements, or a refusal with its reason; `vector` is the question's
        own words as `word_vectors` embeds them."""
        if not hits:
            return Draft((), True, 0.0, "nothing retrieved")
        pool = self._pool(question, vector, hits)
        missing = [n for n in question.names if not self._mentioned(n, pool)]
        if missing:
            return Draft((), True, 0.0, f"no passage mentions {', '.join(missing)}")
        chosen: list[_Sentence] = []
        bests: list[_Sentence] = []
        refusals: list[Draft] = []
        for part in question.parts or (question,):
            ranked = self._rank(part, question, pool)
            refusal = self._refusal(part, question, ranked, pool)
            if refusal is not None:
                refusals.append(refusal)
                continue
            bests.append(ranked[0])
            chosen += [s for s in self._pick(part, ranked) if s not in chosen]
        if not chosen:  # a question of several parts is answered as far as the archive goes
            return refusals[0]
        describes = question.expects is None and not question.parts
        statements = [quotes.statement(self.archive, s.hit, s.start, s.end, describes)
                      for s in chosen[: self.max_sentences]]
        return Draft(tuple(quotes.merge(statements)), False, min(b.score for b in bests), "",
                     min(b.cover for b in bests), min(b.said for b in bests))

    def _refusal(self, part: Question, whole: Question, ranked: list[_Sentence],
                 pool: _Pool) -> Draft | None:
        """Why this part of the question cannot be answered from the archive, if it cannot."""
        if not ranked:
            return Draft((), True, 0.0, f"no sentence holds a {part.expects}")
        best = ranked[0]
        if best.cover < self.min_cover or best.score < self.min_score:
            return Draft((), True, best.score, f"best sentence covers {best.cover:.2f} of the "
                         f"question (score {best.score:.2f})", best.cover)
        if part.specific and not self._shows_head(best, part, whole, pool):
            return Draft((), True, best.score, f"no answer names a {part.head}", best.cover)
        if best.said == 0 and not whole.parts and not whole.followup:
            return Draft((), True, best.score, "the best sentence holds none of the words that "
                         "say what is asked", best.cover)
        return None

    def _pool(self, question: Question, vector: np.ndarray, hits: Sequence[Hit]) -> _Pool:
        sentences: list[_Sentence] = []
        seen: set[tuple[str, int]] = set()
        for rank, hit in enumerate(hits):
            text = hit.article.article.text
            for start, end in sentence_spans(text, hit.row.start, hit.row.end):
                key = (hit.article.article.id, start)
                if key in seen:
                    continue
                seen.add(key)
                sentences.append(_Sentence(hit, rank, start, end, text[start:end], set()))
        for sentence, terms in zip(sentences, tokenize([s.text for s in sentences]), strict=True):
            sentence.terms = set(terms)
            sentence.words = set(keyword.words(sentence.text))
        if sentences:
            dense = word_vectors([s.text for s in sentences]) @ vector
            for sentence, similarity in zip(sentences, dense, strict=True):
                sentence.dense = float(similarity)
        pool = _Pool(sentences, facts.mid_sentence_names(s.text for s in sentences),
                     self.archive.keyword().idf(question.terms))
        pool.people = {w for s in sentences for p in facts.people(s.text) for w in p.text.split()}
        pool.soft = _soft_matches(question, sentences)
        if question.said:
            pool.near_said = _near(question.said, hits)
        keyword_index = self.archive.keyword()
        pool.required = tuple(n for n in question.names
                              if keyword_index.share(keyword.stem(n)) < RARE_NAME)
        if pool.required:
            pool.beside_required = _beside(pool.required, hits, self._similar_words(pool))
        return pool

    def _similar_words(self, pool: _Pool) -> dict[str, set[str]]:
        """For each question name, the pool's words close enough to stand for it."""
        vocabulary = sorted({w for s in pool.sentences for w in s.words})
        if not vocabulary or not pool.required:
            return {}
        similar = word_vectors(list(pool.required)) @ word_vectors(vocabulary).T
        return {name: {vocabulary[i] for i in np.flatnonzero(row >= SAME_NAME)}
                for name, row in zip(pool.required, similar, strict=True)}

    def _mentioned(self, name: str, pool: _Pool) -> bool:
        """Whether some candidate sentence names it (or a close form: "Twitter" ~ "tweet")."""
        if any(name in s.text.lower() for s in pool.sentences):
            return True
        vocabulary = sorted({w for s in pool.sentences for w in s.words})
        if not vocabulary:
            return False
        similar = word_vectors(vocabulary) @ word_vectors([name])[0]
        return bool(similar.max() >= SAME_NAME)

    def _rank(self, part: Question, whole: Question, pool: _Pool) -> list[_Sentence]:
        """Sentences scored for one part of the question, best first; those without the
        wanted kind of answer are left out when the part wants one."""
        terms = dict(part.terms)
        if part is not whole:  # a part also concerns what the whole question names
            for name in whole.names:
                terms.setdefault(keyword.stem(name), 0.5)
            for term, weight in whole.terms.items():  # and what an earlier turn said
                if weight < 1.0:
                    terms.setdefault(term, weight)
        total = sum(w * pool.idf.get(t, 1.0) for t, w in terms.items()) or 1.0
        ranked: list[_Sentence] = []
        for s in pool.sentences:
            if pool.required and (s.hit.article.article.id, s.start) not in pool.beside_required:
                continue  # not about what the question names
            near_head = False
            if part.expects is not None:
                found = facts.items(s.text, part.expects, whole.text, whole.names, pool.known)
                if part.expects == "number" and part.head in _RATES:
                    found = found if _PERCENT.search(s.text) else []
                elif part.expects == "number" and part.head and part.head not in _MEASURES:
                    found = [i for i in found if self._head_after(i, s, part, pool)]
                if part.expects == "name" and part.head:  # "which company": not a person
                    found = [i for i in found if i.text not in pool.people]
                if not found:
                    continue
                near_head = (bool(part.head) and any(self._head_near(i, s, part, pool) for i in found)) \
                    or (part.expects in ("name", "person") and bool(part.category)
                        and facts.in_category(s.text, part.category, whole.names)) \
                    or (part.wants > 1 and len({i.text for i in found}) >= part.wants)
            cover = sum(w * pool.idf.get(t, 1.0) * _match(t, s, pool)
                        for t, w in terms.items()) / total
            said = _share(part.descriptive, s, pool)
            score = (W_COVER * cover + W_DENSE * s.dense + W_RANK / (1 + s.rank)
                     + W_HEAD * near_head)
            if whole.said:
                score += W_NEAR_SAID * pool.near_said.get((s.hit.article.article.id, s.start), 0.0)
                if s.text in whole.said:
                    score *= REPEAT_PENALTY["typed" if part.expects else "open"]
            ranked.append(_Sentence(s.hit, s.rank, s.start, s.end, s.text, s.terms, s.words,
                                    s.dense, score, True, cover, tuple(i.text for i in found)
                                    if part.expects else (), said))
        ranked.sort(key=lambda s: -s.score)
        # agreeing sources settle dates and figures; names are not voted on, since the most
        # repeated ones are the story's own subjects, not answers
        return _vote(ranked) if part.expects not in (None, "name", "person") else ranked

    def _shows_head(self, s: _Sentence, part: Question, whole: Question, pool: _Pool) -> bool:
        """Whether the sentence, or one beside it, names something as what was asked for: by
        its category words ("…Administration"), or by a new name standing by the noun asked
        about ("the security firm Mandiant")."""
        spans = sentence_spans(s.hit.article.article.text)
        index = next((i for i, (a, _) in enumerate(spans) if a == s.start), 0)
        text = s.hit.article.article.text
        for a, b in spans[max(0, index - 1):index + 2]:
            window = _Sentence(s.hit, s.rank, a, b, text[a:b], set(),
                               set(keyword.words(text[a:b])))
            if part.category and facts.in_category(window.text, part.category, whole.names):
                return True
            found = facts.items(window.text, "name", whole.text, whole.names, pool.known)
            if any(self._head_near(i, window, part, pool) for i in found):
                return True
        return False

    def _head_positions(self, s: _Sentence, part: Question, pool: _Pool) -> list[int]:
        """Word positions in the sentence that stand for the question's head noun."""
        close = pool.soft.get(part.head, {})
        return [i for i, w in enumerate(s.text.lower().split())
                if keyword.stem(w.strip(".,;:!?\"“”’'()")) == part.head
                or w.strip(".,;:!?\"“”’'()") in close]

    def _head_after(self, item: facts.Item, s: _Sentence, part: Question, pool: _Pool) -> bool:
        """A count counts only for what it counts: "1,800 partnerships" for "how many partnerships"."""
        return any(0 < p - item.position <= 3 for p in self._head_positions(s, part, pool))

    def _head_near(self, item: facts.Item, s: _Sentence, part: Question, pool: _Pool) -> bool:
        return any(abs(p - item.position) <= NEAR_HEAD for p in self._head_positions(s, part, pool))

    def _pick(self, part: Question, ranked: list[_Sentence]) -> list[_Sentence]:
        """The best sentence, plus others that add what it lacks (for lists of several)."""
        best = ranked[0]
        picked = [best]
        covered = set(best.terms)
        found = len(facts.names(best.text))
        for s in ranked[1:]:
            if len(picked) >= self.max_sentences or s.score < EXTRA_SENTENCE * best.score:
                break
            adds_terms = bool((set(part.terms) & s.terms) - covered)
            needs_items = part.wants > 1 and found < part.wants
            if needs_items or (part.wants > 1 and adds_terms):
                picked.append(s)
                covered |= s.terms
                found += len(facts.names(s.text))
        return picked

_MEASURES = frozenset({"number", "count", "total", "amount", "volum", "quantiti", "capac",
                       "distanc", "size", "length", "height", "weight", "speed", "popul", "age",
                       "temperatur"})
_RATES = frozenset({"percentag", "percent", "share", "rate", "proport", "fraction", "portion",
                    "major"})
_PERCENT = re.compile(r"%|\bpercent\b|\bper cent\b|\b(?:half|third|quarter|majority|minority)\b|"
                      r"\b\d+\s+(?:in|out of)\s+\d+\b", re.IGNORECASE)


def _vote(ranked: list[_Sentence]) -> list[_Sentence]:
    """Answers that several good sentences give are likelier right: each sentence gains in
    proportion to the support its best answer has among the best sentences."""
    support: dict[str, float] = {}
    for s in ranked[:VOTERS]:
        for answer in set(s.answers):
            support[answer] = support.get(answer, 0.0) + s.score
    top = max(support.values(), default=0.0)
    if top <= 0:
        return ranked
    for s in ranked:
        s.score += W_VOTE * max((support.get(a, 0.0) for a in s.answers), default=0.0) / top
    ranked.sort(key=lambda s: -s.score)
    return ranked


def _beside(names: Sequence[str], hits: Sequence[Hit],
            similar: dict[str, set[str]]) -> set[tuple[str, int]]:
    """Sentences (article, start) that mention every one of the names, or whose neighbour does."""
    out: set[tuple[str, int]] = set()
    for stored in {h.article.article.id: h.article for h in hits}.values():
        text = stored.article.text
        spans = sentence_spans(text)
        mentions = [_mentions(text[a:b], names, similar) for a, b in spans]
        for i, (start, _) in enumerate(spans):
            window = set().union(*mentions[max(0, i - 1):i + 2])
            if window >= set(names):
                out.add((stored.article.id, start))
    return out


def _mentions(sentence: str, names: Sequence[str], similar: dict[str, set[str]]) -> set[str]:
    lowered = sentence.lower()
    words = set(keyword.words(sentence))
    return {n for n in names if n in lowered or words & similar.get(n, set())}


_CLOSENESS = (1.0, 0.7, 0.4)  # by distance in sentences from the previous answer


def _near(said: str, hits: Sequence[Hit]) -> dict[tuple[str, int], float]:
    """Sentences of the retrieved articles close to where the previous answer was quoted from."""
    out: dict[tuple[str, int], float] = {}
    for stored in {h.article.article.id: h.article for h in hits}.values():
        text = stored.article.text
        spans = sentence_spans(text)
        quoted = [i for i, (a, b) in enumerate(spans) if text[a:b] in said]
        for i, (start, _) in enumerate(spans):
            distance = min((abs(i - q) for q in quoted), default=len(_CLOSENESS))
            if distance < len(_CLOSENESS):
                out[(stored.article.id, start)] = _CLOSENESS[distance]
    return out


def _soft_matches(question: Question, sentences: Sequence[_Sentence]) -> dict[str, dict[str, float]]:
    """For each question term, the words of the sentences similar enough to count for it."""
    vocabulary = sorted({w for s in sentences for w in s.words})
    heads = [part.head for part in (question, *question.parts) if part.head]
    terms = [t for t in dict.fromkeys([*question.terms, *heads]) if t in question.surface]
    if not vocabulary or not terms:
        return {}
    similar = word_vectors([question.surface[t] for t in terms]) @ word_vectors(vocabulary).T
    out: dict[str, dict[str, float]] = {}
    for row, term in zip(similar, terms, strict=True):
        close = np.flatnonzero(row >= SOFT_MATCH)
        out[term] = {vocabulary[i]: float(row[i]) for i in close}
    return out


def _share(terms: Sequence[str], sentence: _Sentence, pool: _Pool) -> float:
    """The IDF-weighted share of `terms` the sentence holds (1 when there are none)."""
    total = sum(pool.idf.get(t, 1.0) for t in terms)
    if not total:
        return 1.0
    return sum(pool.idf.get(t, 1.0) * _match(t, sentence, pool) for t in terms) / total


def _match(term: str, sentence: _Sentence, pool: _Pool) -> float:
    """1 when the sentence holds the term's stem, else its closest word's similarity (if close)."""
    if term in sentence.terms:
        return 1.0
    close = pool.soft.get(term)
    if not close:
        return 0.0
    return max((close[w] for w in sentence.words if w in close), default=0.0)
