"""Numbering, quoting and spans: the only place citations are made and answer text is formatted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from newsdesk.answer import Draft
from newsdesk.quotes import Quote
from newsdesk.retrieve import Hit
from newsdesk.types import Answer, AnswerSentence, Citation, DroppedSentence, Passage

REFUSAL = "The archive doesn’t say."
EMPTY_ARCHIVE = "The archive is empty: add articles with `newsdesk ingest PATH` first."
RELATED = 3


def build_answer(question: str, draft: Draft, hits: Sequence[Hit],
                 timings: Mapping[str, float]) -> Answer:
    """The Answer for a draft: [n] markers numbered by first appearance, one per quote."""
    retrieved = tuple(hit.passage() for hit in hits)
    if draft.refused:
        return Answer(question=question, text=REFUSAL, refused=True, retrieved=retrieved,
                      related=retrieved[:RELATED], timings=dict(timings))
    numbers: dict[tuple[str, int, int], int] = {}
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for statement in draft.statements:
        marks: list[int] = []
        for quote in statement.quotes:
            key = (quote.article.article.id, quote.start, quote.end)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                citations.append(_citation(numbers[key], quote))
            if numbers[key] not in marks:
                marks.append(numbers[key])
        sentences.append(AnswerSentence(statement.text, tuple(marks),
                                        tuple(citations[n - 1].quote for n in marks)))
    dates = [_dated(s.quotes[0].article.article.date) if draft.dated else ""
             for s in draft.statements]
    text = " ".join(f"{d}{s.text} {''.join(f'[{n}]' for n in s.citations)}"
                    for d, s in zip(dates, sentences, strict=True))
    return Answer(question=question, text=text, citations=tuple(citations), refused=False,
                  retrieved=retrieved, sentences=tuple(sentences), timings=dict(timings))


def _citation(number: int, quote: Quote) -> Citation:
    article = quote.article.article
    return Citation(number=number, source=article.id, title=article.title, outlet=article.outlet,
                    date=article.date, quote=quote.text, passage=quote.passage, start=quote.start,
                    end=quote.end, passage_start=quote.passage_start, field=quote.field)


def _dated(iso: str) -> str:
    """How a statement says its article's date in a question about time: "(18 May 2021) "."""
    if not iso:
        return "(undated) "
    from datetime import date

    day = date.fromisoformat(iso)
    return f"({day.day} {day:%B %Y}) "


def empty_archive_answer(question: str) -> Answer:
    """What asking an archive with no articles gives."""
    return Answer(question=question, text=EMPTY_ARCHIVE, refused=True)


def stream_pieces(text: str, words: int = 3) -> Iterator[str]:
    """The answer text in small pieces (a few words each), as a reader sees it arrive."""
    tokens = text.split(" ")
    for i in range(0, len(tokens), words):
        piece = " ".join(tokens[i:i + words])
        yield piece if i + words >= len(tokens) else piece + " "


def coverage_line(answer: Answer) -> str:
    """What an answer draws on: "3 articles · GeekWire, The Daily Dot · Jun 2020 – May 2021"."""
    if answer.refused or not answer.citations:
        return ""
    sources = {c.source: c for c in answer.citations}
    count = len(sources)
    parts = [f"{count} article{'s' if count != 1 else ''}"]
    outlets = sorted({c.outlet for c in sources.values() if c.outlet})
    if outlets:
        parts.append(", ".join(outlets))
    dates = sorted(c.date for c in sources.values() if c.date)
    if dates:
        first, last = _month(dates[0]), _month(dates[-1])
        parts.append(first if first == last else f"{first} – {last}")
    return " · ".join(parts)


def plain_text(answer: Answer, width: int | None = None) -> str:
    """The answer with its coverage line and numbered sources and quotes, as plain text (the
    terminal's rendering, and what the web chat copies); `width` wraps the quotes."""
    import textwrap

    def wrapped(text: str, indent: str) -> list[str]:
        if width is None:
            return [indent + text]
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)

    lines = [answer.text]
    if mode_line(answer):
        lines += ["", mode_line(answer)]
    if answer.refused:
        if answer.related:
            lines += ["", "Closest passages:"]
            for p in answer.related:
                lines.append(f"  · {source_line(p)}")
                lines += wrapped(clip(p.text), "      ")
        return "\n".join(lines)
    lines += ["", coverage_line(answer), "", "Sources"]
    for c in answer.citations:
        lines.append(f"[{c.number}] {source_line(c)}")
        lines += wrapped(f"“{c.quote}”", "    ")
    return "\n".join(lines)


def mode_line(answer: Answer) -> str:
    """Which mode answered, for a reader: "" for a plain extractive answer."""
    if answer.mode == "generative":
        line = "Written by the language model; every sentence was checked against the passage it cites"
        if answer.dropped:
            count = len(answer.dropped)
            line += f" ({count} sentence{'s' if count != 1 else ''} that failed the check left out)"
        return line + (f". Note: {answer.note}" if answer.note else ".")
    return f"Note: {answer.note}." if answer.note else ""


def clip(text: str, limit: int = 240) -> str:
    """A passage shortened to about `limit` characters, at a word, for a listing."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _month(iso: str) -> str:
    from datetime import date

    return date.fromisoformat(iso).strftime("%b %Y")


def source_line(passage: Passage | Citation) -> str:
    """How a source is named to a reader: title, outlet, date, file."""
    parts = [passage.title, passage.outlet, passage.date, passage.source]
    return " · ".join(p for p in parts if p)


class Numbering:
    """Citation numbers for a generative answer, given as its sentences pass the check: by
    first appearance, one per distinct quote (the same rule as `build_answer`)."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, int, int], int] = {}
        self.citations: list[Citation] = []

    def mark(self, quotes: Sequence[Quote]) -> tuple[int, ...]:
        """The numbers of these supporting quotes, numbering the new ones."""
        marks: list[int] = []
        for quote in quotes:
            key = (quote.article.article.id, quote.start, quote.end)
            if key not in self._numbers:
                self._numbers[key] = len(self._numbers) + 1
                self.citations.append(_citation(self._numbers[key], quote))
            if self._numbers[key] not in marks:
                marks.append(self._numbers[key])
        return tuple(marks)


def sentence_text(sentence: AnswerSentence) -> str:
    """One answer sentence with its [n] markers, as the answer's text carries it."""
    return f"{sentence.text} {''.join(f'[{n}]' for n in sentence.citations)}"


def generative_answer(question: str, sentences: Sequence[AnswerSentence], numbering: Numbering,
                      hits: Sequence[Hit], timings: Mapping[str, float],
                      dropped: Sequence[DroppedSentence], note: str = "") -> Answer:
    """The Answer made of the model's sentences that passed the check."""
    return Answer(question=question, text=" ".join(sentence_text(s) for s in sentences),
                  citations=tuple(numbering.citations), refused=False,
                  retrieved=tuple(hit.passage() for hit in hits), sentences=tuple(sentences),
                  timings=dict(timings), mode="generative", dropped=tuple(dropped), note=note)
