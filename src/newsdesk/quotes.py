"""From a chosen sentence to a statement of the answer: the neighbours it needs, and the other
articles that carry the same words (so that the answer cites every one of them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsdesk.archive import Archive
from newsdesk.catalog import ChunkRow, StoredArticle
from newsdesk.chunk import sentence_spans
from newsdesk.question import lexicon

if TYPE_CHECKING:
    from newsdesk.evidence import Sentence

SAME_STATEMENT = 0.8  # word overlap (of the shorter) at which two sentences say the same
MIN_STATEMENT_WORDS = 8  # shorter sentences are matched only in collapsed copies
MAX_WORDS = 60  # a continuing sentence is added only while the quote stays this short
# A sentence that goes on about the person just quoted: "She said…", "“…,” she added."
_PERSONAL = re.compile(r"^[“\"‘']?(?:He|She|They)\b|[,”\"]\s+(?:he|she|they)\s+(?:said|added|says|"
                       r"told|wrote|explained|noted|warned|argued)\b")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Quote:
    """Consecutive sentences of one article, with the chunk they were found in."""

    article: StoredArticle
    start: int
    end: int
    passage_start: int
    passage_end: int
    field: str = ""  # for a fact from the article's metadata: author, outlet, date or title

    @property
    def text(self) -> str:
        """The quoted text, verbatim (the metadata field's value for a metadata quote)."""
        if self.field:
            return str(getattr(self.article.article, self.field))
        return self.article.article.text[self.start:self.end]

    @property
    def passage(self) -> str:
        """The chunk the quote came from."""
        return self.article.article.text[self.passage_start:self.passage_end]


@dataclass(frozen=True, slots=True)
class Statement:
    """One sentence (or two joined ones) of the answer, and the same words in other articles."""

    quotes: tuple[Quote, ...]
    wording: str = ""  # how a statement drawn from metadata reads; empty: its first quote

    @property
    def text(self) -> str:
        """The statement as the answer shows it."""
        return self.wording or self.quotes[0].text


def statement(archive: Archive, candidate: Sentence, describes: bool = False) -> Statement:
    """The candidate sentence, with the one before when it leans on it ("It found…"), the one
    after when it introduces it (":") or, for a question about what someone said or did, when
    it goes on about them ("She said…"); and its copies elsewhere."""
    start, end = candidate.start, candidate.end
    text = candidate.article.article.text
    sentence = text[start:end]
    spans = sentence_spans(text)
    index = next((i for i, (a, _) in enumerate(spans) if a == start), None)
    if index is not None:
        if index > 0 and _leans_back(sentence) and "\n\n" not in text[spans[index - 1][1]:start]:
            start = spans[index - 1][0]
        following = text[spans[index + 1][0]:spans[index + 1][1]] if index + 1 < len(spans) else ""
        if following and (sentence.rstrip().endswith(":")
                          or (describes and _PERSONAL.search(following)
                              and len((sentence + following).split()) <= MAX_WORDS)):
            end = spans[index + 1][1]
    passage_start = min(start, candidate.passage[0])
    passage_end = max(end, candidate.passage[1])
    quote = Quote(candidate.article, start, end, passage_start, passage_end)
    return Statement((quote, *_elsewhere(archive, quote, candidate.duplicates)))


def merge(statements: list[Statement]) -> list[Statement]:
    """Drop a statement whose main quote lies inside another's."""
    out: list[Statement] = []
    for st in statements:
        q = st.quotes[0]
        if any(_inside(q, o.quotes[0]) for o in out):
            continue
        out = [o for o in out if not _inside(o.quotes[0], q)]
        out.append(st)
    return out


def _inside(small: Quote, big: Quote) -> bool:
    return (small.article.article.id == big.article.article.id
            and big.start <= small.start and small.end <= big.end)


def _elsewhere(archive: Archive, quote: Quote,
               duplicates: list[tuple[ChunkRow, StoredArticle]]) -> list[Quote]:
    """The same statement in other articles: in the copies its passage was collapsed with
    (syndicated stories), and, for a statement long enough to be told apart, anywhere (an
    agency's statement carried by several outlets)."""
    words = _content_words(quote.text)
    found: dict[str, Quote] = {}
    for row, stored in duplicates:
        _same_in(quote, words, row, stored, found, exact=True)
    if len(words) >= MIN_STATEMENT_WORDS:
        catalog = archive.catalog
        hits = archive.keyword().search(quote.text, 10)
        rows = catalog.chunk_rows_by_rid([rid for rid, _ in hits])
        others = [r for r in rows.values() if r.article_id != quote.article.article.id]
        articles = catalog.articles(sorted({r.article_id for r in others}))
        for row in others:
            _same_in(quote, words, row, articles[row.article_id], found, exact=False)
    return list(found.values())


def _same_in(quote: Quote, words: set[str], row: ChunkRow, stored: StoredArticle,
             found: dict[str, Quote], exact: bool) -> None:
    """Add the sentence of this chunk that says what the quote says, if there is one."""
    if row.article_id in found or row.article_id == quote.article.article.id:
        return
    text = stored.article.text
    for start, end in sentence_spans(text, row.start, row.end):
        theirs = _content_words(text[start:end])
        overlap = len(words & theirs) / max(1, min(len(words), len(theirs)))
        if (exact and text[start:end] == quote.text) or (
                len(theirs) >= MIN_STATEMENT_WORDS and overlap >= SAME_STATEMENT):
            found[row.article_id] = Quote(stored, start, end, row.start, row.end)
            return


def _leans_back(sentence: str) -> bool:
    """Whether a sentence starts by pointing at the one before ("It found…", "She added…")."""
    lowered = sentence.lstrip("“\"‘' ").lower()
    return any(re.match(rf"{re.escape(opener)}\b", lowered) for opener in lexicon().anaphora)


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 2}
