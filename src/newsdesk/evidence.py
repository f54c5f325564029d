"""The evidence an answer is chosen from: the sentences of the retrieved passages and of the
best articles, with what the answer model needs to know about each (features.py turns them
into numbers; answer.py chooses among them)."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np

from newsdesk import facts, keyword
from newsdesk.archive import Archive
from newsdesk.catalog import ChunkRow, StoredArticle
from newsdesk.chunk import paragraph_spans, sentence_spans
from newsdesk.embed import word_vectors
from newsdesk.question import Question, lexicon
from newsdesk.retrieve import Hit

# Both thresholds are cosine similarities in wordllama's space, a property of the embedder
# rather than of any archive: from 0.5 a word is a near-synonym ("purchase" ~ "buy"), from
# 0.65 another form of the same name ("Twitter" ~ "tweet").
SOFT_MATCH = 0.5  # word similarity from which a different word counts for a question term
SAME_NAME = 0.65  # word similarity from which a name counts as mentioned
WHOLE_ARTICLES = 2  # every sentence of the best this many articles is a candidate
# Which kinds of item answer each class of question (the rest of the class × kind table is
# learned: a "who" question is often answered by a name that is not shaped like a person's).
ANSWERS: dict[str, tuple[str, ...]] = {
    "person": ("person", "name"), "name": ("name", "person"), "when": ("date",),
    "number": ("number", "percent"), "money": ("money",), "duration": ("duration",),
    "why": (), "open": ()}
_TOKEN = re.compile(r"\S+")
_STRIP = ".,;:!?\"“”‘’'()[]"


@dataclass(slots=True)
class Sentence:
    """A candidate sentence and where it stands."""

    article: StoredArticle
    index: int  # its place among its article's sentences
    start: int
    end: int
    passage: tuple[int, int]  # the chunk (or paragraph) that holds it
    rank: int  # of the best retrieved passage holding it; len(hits) when none does
    article_rank: int
    duplicates: list[tuple[ChunkRow, StoredArticle]] = field(default_factory=list)
    text: str = ""
    terms: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()


@dataclass(slots=True)
class ArticleView:
    """An article's sentences as the evidence reads them."""

    stored: StoredArticle
    spans: list[tuple[int, int]]
    terms: list[frozenset[str]]  # per sentence: stems
    words: list[frozenset[str]]  # per sentence: lower-cased words
    lowered: str = ""  # the whole text, lower-cased

    def __post_init__(self) -> None:
        self.lowered = self.stored.article.text.lower()


@lru_cache(maxsize=4096)
def _analysed(article_id: str, fingerprint: str, text: str
              ) -> tuple[list[tuple[int, int]], list[frozenset[str]], list[frozenset[str]]]:
    """An article's sentence spans, and each sentence's stems and words (kept for the articles
    asked about most; the fingerprint keys a changed article apart)."""
    spans = sentence_spans(text)
    sentences = [text[a:b] for a, b in spans]
    terms = [frozenset(t) for t in keyword.tokenize(sentences)]
    return spans, terms, [frozenset(keyword.words(s)) for s in sentences]


class Evidence:
    """The candidate sentences for one question: those of the retrieved passages and every
    sentence of the best articles, read once for all the parts of the question."""

    def __init__(self, archive: Archive, question: Question, vector: np.ndarray,
                 hits: Sequence[Hit], whole: int = WHOLE_ARTICLES) -> None:
        self.question = question
        self.hits = list(hits)
        self.articles: dict[str, ArticleView] = {}
        self.sentences = self._collect(whole)
        texts = [s.text for s in self.sentences]
        self.dense = (sentence_vectors(texts) @ vector) if texts else np.zeros(0, np.float32)
        self.known: set[str] = set().union(*(_mid_names(t) for t in texts))
        self.idf = archive.keyword().idf(question.terms)
        self.soft = _soft_matches(question, self.sentences)
        self.said_at = _said_positions(question.said, self.articles) if question.said else {}
        # the answer-like items of each candidate that the question does not already hold
        self.items = [facts.found(s.text, question.text, question.names, self.known)
                      for s in self.sentences]
        self.shape: np.ndarray | None = None  # features.py's part-independent columns
        self.reason_cues = _reason_cues()
        self._closeness: dict[str, np.ndarray] = {}

    def closeness(self, term: str) -> np.ndarray:
        """Per candidate: the similarity of its closest word to a question term (0 when no
        word comes within SOFT_MATCH); exact matches are not counted here."""
        found = self._closeness.get(term)
        if found is None:
            close = self.soft.get(term)
            found = np.zeros(len(self.sentences), np.float32)
            if close:
                keys = close.keys()
                for i, s in enumerate(self.sentences):
                    common = s.words & keys
                    if common:
                        found[i] = max(close[w] for w in common)
            self._closeness[term] = found
        return found

    def missing_names(self) -> list[str]:
        """The question's own names that no candidate sentence mentions, nor a close word
        ("Twitter" ~ "tweet")."""
        text = " ".join(s.text for s in self.sentences).lower()
        missing = [n for n in self.question.names if n not in text]
        if not missing:
            return []
        vocabulary = sorted({w for s in self.sentences for w in s.words})
        if not vocabulary:
            return missing
        similar = word_vectors(missing) @ _word_table(vocabulary).T
        return [n for n, row in zip(missing, similar, strict=True) if row.max() < SAME_NAME]

    def slots(self, part: Question) -> list[tuple[float, float]]:
        """Per sentence: how close the question's wh-phrase ("which song") comes to the words
        around one of the sentence's candidate answers ("first hit … with Ms Jackson"), and to
        the candidate itself; the best candidate counts."""
        kinds = ANSWERS[part.answer_class] or ("name", "number")
        owners: list[int] = []
        texts: list[str] = []
        for i, (s, found) in enumerate(zip(self.sentences, self.items, strict=True)):
            words = s.text.split()
            for item in (it for kind in kinds for it in found[kind]):
                size = len(item.text.split())
                around = words[max(0, item.position - 3):item.position] + \
                    words[item.position + size:item.position + size + 3]
                owners.append(i)
                texts += [" ".join(around), item.text]
        out = [(0.0, 0.0)] * len(self.sentences)
        if not part.slot or not owners:
            return out
        similar = sentence_vectors(texts) @ word_vectors([part.slot])[0]
        for owner, near, itself in zip(owners, similar[0::2], similar[1::2], strict=True):
            best = out[owner]
            out[owner] = (max(best[0], float(near)), max(best[1], float(itself)))
        return out

    @staticmethod
    def leans_back(sentence: str) -> bool:
        """Whether a sentence starts by pointing at the one before ("It found…")."""
        return _leans_back(sentence)

    # -- the candidates -------------------------------------------------------------------
    def _collect(self, whole: int) -> list[Sentence]:
        ranks: dict[str, int] = {}
        for hit in self.hits:
            ranks.setdefault(hit.article.article.id, len(ranks))
        chosen: dict[tuple[str, int], Sentence] = {}
        for rank, hit in enumerate(self.hits):
            article = self._article(hit.article)
            for index, (start, end) in enumerate(article.spans):
                inside = hit.row.start <= start and end <= hit.row.end
                if not inside and ranks[hit.article.article.id] >= whole:
                    continue
                key = (hit.article.article.id, index)
                current = chosen.get(key)
                if current is not None and (current.rank <= rank or not inside):
                    continue
                passage = (hit.row.start, hit.row.end) if inside else _paragraph(
                    hit.article.article.text, start, end)
                chosen[key] = Sentence(
                    hit.article, index, start, end, passage, rank if inside else len(self.hits),
                    ranks[hit.article.article.id], list(hit.duplicates) if inside else [],
                    hit.article.article.text[start:end], article.terms[index],
                    article.words[index])
        return sorted(chosen.values(), key=lambda s: (s.article_rank, s.index))

    def _article(self, stored: StoredArticle) -> ArticleView:
        found = self.articles.get(stored.article.id)
        if found is None:
            found = ArticleView(stored, *_analysed(stored.article.id, stored.fingerprint,
                                                   stored.article.text))
            self.articles[stored.article.id] = found
        return found


_VECTORS: dict[str, np.ndarray] = {}  # text -> its word_vectors row; bounded below
_VECTORS_LIMIT = 100_000
_VECTORS_LOCK = threading.Lock()


def sentence_vectors(texts: Sequence[str]) -> np.ndarray:
    """word_vectors(texts), each text embedded once per process. The same numbers: wordllama
    sums a text's token vectors in order and normalises each row alone, so a text's vector
    does not depend on the others in its batch."""
    if not texts:
        return word_vectors([])
    with _VECTORS_LOCK:
        missing = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
        if len(_VECTORS) + len(missing) > _VECTORS_LIMIT:
            _VECTORS.clear()
            missing = list(dict.fromkeys(texts))
        if missing:
            _VECTORS.update(zip(missing, word_vectors(missing), strict=True))
        return np.vstack([_VECTORS[t] for t in texts])


@lru_cache(maxsize=65536)
def _mid_names(sentence: str) -> frozenset[str]:
    return frozenset(facts.mid_sentence_names([sentence]))


@lru_cache(maxsize=65536)
def _leans_back(sentence: str) -> bool:
    lowered = sentence.lstrip("“\"‘' ").lower()
    return lowered.startswith(_openers())


@cache
def _openers() -> tuple[str, ...]:
    return tuple(opener + " " for opener in lexicon().anaphora)


@lru_cache(maxsize=65536)
def positions(text: str) -> tuple[str, ...]:
    """The stem of each whitespace-separated word (facts.Item positions count these)."""
    return tuple(keyword.stem(w.strip(_STRIP).lower()) for w in _TOKEN.findall(text))


@cache
def _reason_cues() -> re.Pattern[str]:
    cues = lexicon().reason_cues
    return re.compile(r"\b(?:" + "|".join(re.escape(c) for c in cues) + r")\b", re.IGNORECASE)


def _paragraph(text: str, start: int, end: int) -> tuple[int, int]:
    """The paragraph holding text[start:end] (the passage shown for a sentence no retrieved
    chunk holds)."""
    for a, b in _paragraphs(text):
        if a <= start and end <= b:
            return a, b
    return start, end


@lru_cache(maxsize=256)
def _paragraphs(text: str) -> list[tuple[int, int]]:
    return paragraph_spans(text)


def _said_positions(said: str, articles: dict[str, ArticleView]) -> dict[tuple[str, int], float]:
    """Closeness of each sentence to where the previous answer was quoted from: 1 / (1 + its
    distance in sentences), for the articles it was quoted from."""
    out: dict[tuple[str, int], float] = {}
    for aid, article in articles.items():
        text = article.stored.article.text
        quoted = [i for i, (a, b) in enumerate(article.spans) if text[a:b] in said]
        for i in range(len(article.spans)) if quoted else ():
            out[(aid, i)] = 1.0 / (1 + min(abs(i - q) for q in quoted))
    return out


_INDEX: dict[str, int] = {}  # word -> its row in _TABLE; both bounded below
_TABLE: list[np.ndarray] = []
_TABLE_LIMIT = 200_000


def _word_table(words: Sequence[str]) -> np.ndarray:
    """The vectors of single words, each embedded once per process."""
    missing = [w for w in dict.fromkeys(words) if w not in _INDEX]
    if missing:
        if len(_INDEX) + len(missing) > _TABLE_LIMIT:
            _INDEX.clear()
            _TABLE.clear()
            missing = list(dict.fromkeys(words))
        _TABLE.append(word_vectors(missing))
        offset = len(_INDEX)
        for i, word in enumerate(missing):
            _INDEX[word] = offset + i
    table = _TABLE[0] if len(_TABLE) == 1 else np.vstack(_TABLE)
    if len(_TABLE) > 1:
        _TABLE[:] = [table]
    return table[[_INDEX[w] for w in words]] if words else np.zeros((0, table.shape[1]))


def _soft_matches(question: Question, sentences: Sequence[Sentence]) -> dict[str, dict[str, float]]:
    """For each question term, the candidates' words similar enough to count for it."""
    vocabulary = sorted({w for s in sentences for w in s.words})
    heads = [p.head for p in (question, *question.parts) if p.head]
    terms = [t for t in dict.fromkeys([*question.terms, *heads]) if t in question.surface]
    if not vocabulary or not terms:
        return {}
    similar = word_vectors([question.surface[t] for t in terms]) @ _word_table(vocabulary).T
    out: dict[str, dict[str, float]] = {}
    for row, term in zip(similar, terms, strict=True):
        close = np.flatnonzero(row >= SOFT_MATCH)
        out[term] = {vocabulary[i]: float(row[i]) for i in close}
    return out
