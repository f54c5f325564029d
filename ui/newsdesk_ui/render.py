"""Answers, sources and archive reports as HTML for the web chat; every text is escaped.

Only rendering lives here: the Answer (its sentences, citations, spans and related passages)
comes from the Desk, and sources are named with `newsdesk.cite`'s own lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from newsdesk.cite import coverage_line, mode_line, plain_text, source_line
from newsdesk.types import Answer, ArticleInfo, Citation, IngestReport

_MARKER = re.compile(r"\[(\d{1,3})\]")

EMPTY_CHAT = ("Ask a question about the archive. Every sentence of the answer is quoted from an "
              "article; click a numbered chip to see the passage it comes from.")
EMPTY_SOURCES = "The sources of an answer are listed here. Click one, or a chip in the answer, " \
                "to read the passage with the quoted sentence highlighted."
REFUSAL_LABEL = "Not in the archive"
GENERATIVE_LABEL = "Written by the language model · every sentence checked against its source"
_SOURCES_TITLE = '<h3 class="nd-sources-title">Sources</h3>'


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a conversation: the question, the filters it was asked with, its Answer."""

    question: str
    answer: Answer
    filters: str = ""


def _e(text: str) -> str:
    return escape(text, quote=True)


# -- the conversation --------------------------------------------------------------------
def conversation(turns: Sequence[Turn], pending: tuple[str, str] | None = None,
                 notice: str = "") -> str:
    """The chat: every turn, then the question being answered and its text so far, or a
    notice saying why a question was not asked."""
    parts = [_turn(i, t) for i, t in enumerate(turns)]
    if pending is not None:
        question, text = pending
        parts.append(f'<div class="nd-turn nd-pending">{_question(question, "")}'
                     f'<div class="nd-answer nd-streaming"><p class="nd-text">'
                     f'{_streamed(text) or "…"}</p></div></div>')
    if notice:
        parts.append(f'<p class="nd-notice" role="status">{_e(notice)}</p>')
    if not parts:
        return f'<div class="nd-chat nd-empty"><p>{_e(EMPTY_CHAT)}</p></div>'
    return f'<div class="nd-chat">{"".join(parts)}</div>'


def _turn(index: int, turn: Turn) -> str:
    body = _refusal(turn.answer) if turn.answer.refused else _answer(index, turn.answer)
    return f'<div class="nd-turn" data-turn="{index}">{_question(turn.question, turn.filters)}{body}</div>'


def _question(question: str, filters: str) -> str:
    note = f'<p class="nd-filters">{_e(filters)}</p>' if filters else ""
    return f'<div class="nd-question"><p>{_e(question)}</p>{note}</div>'


def _answer(index: int, answer: Answer) -> str:
    by_number = {c.number: c for c in answer.citations}
    sentences = " ".join(
        _e(s.text) + "".join(_chip(index, by_number[n]) for n in s.citations)
        for s in answer.sentences)
    return (f'<div class="nd-answer" data-mode="{_e(answer.mode)}">{_mode(answer)}'
            f'<p class="nd-text">{sentences}</p>'
            f'<p class="nd-coverage">{_e(coverage_line(answer))}</p>'
            f'<div class="nd-actions"><button type="button" class="nd-copy" '
            f'data-copy="{_e(copy_text(answer))}">Copy answer with sources</button></div></div>')


def _mode(answer: Answer) -> str:
    """Which mode answered: a label over a generative answer, the note over one that stands
    in for it."""
    if answer.mode == "generative":
        return (f'<p class="nd-mode nd-generative" title="{_e(mode_line(answer))}">'
                f'{GENERATIVE_LABEL}</p>')
    if answer.note:
        return f'<p class="nd-mode nd-note">{_e(mode_line(answer))}</p>'
    return ""


def _chip(index: int, citation: Citation) -> str:
    return (f'<button type="button" class="nd-chip" data-turn="{index}" '
            f'data-cite="{citation.number}" title="{_e(source_line(citation))}" '
            f'aria-label="source {citation.number}">{citation.number}</button>')


def _streamed(text: str) -> str:
    """Text still arriving: its [n] markers look like chips (clickable once it is complete)."""
    return _MARKER.sub(r'<span class="nd-chip nd-inert">\1</span>', _e(text))


def _refusal(answer: Answer) -> str:
    related = ""
    if answer.related:
        items = "".join(f'<li><p class="nd-source-line">{_e(source_line(p))}</p>'
                        f'<div class="nd-passage">{_e(p.text)}</div></li>'
                        for p in answer.related)
        related = (f'<details class="nd-related"><summary>Related reading: the '
                   f'{len(answer.related)} closest passages (they do not answer the question)'
                   f'</summary><ol>{items}</ol></details>')
    return (f'<div class="nd-answer nd-refused"><p class="nd-refusal-label">{REFUSAL_LABEL}</p>'
            f'{_mode(answer)}'
            f'<p class="nd-text">{_e(answer.text)}</p>{related}</div>')


def copy_text(answer: Answer) -> str:
    """The answer as plain text with its numbered sources, for the clipboard."""
    return plain_text(answer)


# -- the sources panel --------------------------------------------------------------------
def sources(turns: Sequence[Turn]) -> str:
    """The sources of every answer; the latest answer's are shown, the others hidden until
    one of their chips is clicked."""
    if not turns:
        return f'<div class="nd-sources">{_SOURCES_TITLE}<p class="nd-hint">{_e(EMPTY_SOURCES)}</p></div>'
    last = len(turns) - 1
    sections = "".join(_turn_sources(i, t, hidden=i != last) for i, t in enumerate(turns))
    return f'<div class="nd-sources">{_SOURCES_TITLE}{sections}</div>'


def _turn_sources(index: int, turn: Turn, hidden: bool) -> str:
    head = f'<p class="nd-for">Cited in the answer to “{_e(turn.question)}”</p>'
    if turn.answer.citations:
        items = "".join(_source(c) for c in turn.answer.citations)
        body = f'<ol class="nd-source-list">{items}</ol>'
    else:
        body = (f'<p class="nd-hint">{_e(turn.answer.text)} This answer cites no source; the '
                f'closest passages are under it, as related reading.</p>')
    return (f'<section class="nd-turn-sources" data-turn="{index}"{" hidden" if hidden else ""}>'
            f'{head}{body}</section>')


def _source(citation: Citation) -> str:
    return (f'<li><details class="nd-source" data-cite="{citation.number}"><summary>'
            f'<span class="nd-num">{citation.number}</span> {_e(source_line(citation))}</summary>'
            f'{passage(citation)}</details></li>')


def passage(citation: Citation) -> str:
    """The citation's passage with its quote highlighted at the citation's character span."""
    start = citation.start - citation.passage_start
    end = citation.end - citation.passage_start
    text = citation.passage
    return (f'<div class="nd-passage">{_e(text[:start])}<mark>{_e(text[start:end])}</mark>'
            f'{_e(text[end:])}</div>')


# -- the archive tab ----------------------------------------------------------------------
ARTICLE_COLUMNS = ["Title", "Outlet", "Date", "Chunks", "File"]


def matching_articles(articles: Sequence[ArticleInfo], query: str) -> list[ArticleInfo]:
    """The articles whose title (or file name) contains the query."""
    needle = query.strip().casefold()
    return [a for a in articles if needle in a.title.casefold() or needle in a.id.casefold()]


def article_rows(articles: Sequence[ArticleInfo]) -> list[list[str | int]]:
    """Table rows of the articles."""
    return [[a.title or "—", a.outlet or "—", a.date or "—", a.chunks, a.id] for a in articles]


def ingest_report(report: IngestReport, names: Mapping[str, str]) -> str:
    """What adding files did, with one "path: reason" line per failure (as the CLI prints);
    `names` maps the paths that were ingested to the names the user uploaded them as."""
    def named(text: str) -> str:
        for path, name in names.items():
            text = text.replace(path, name)
        return text

    counts = " · ".join(f"{name} {len(getattr(report, name))}" for name in
                        ("added", "updated", "unchanged", "skipped", "failed"))
    lines = [f'<p class="nd-counts">{_e(counts)}</p>']
    if report.added or report.updated:
        lines.append(f'<p>Ready to ask about: {_e(", ".join(report.added + report.updated))}</p>')
    if report.skipped:
        lines.append(f'<p class="nd-skipped">skipped (unsupported type): '
                     f'{_e(named(", ".join(report.skipped)))}</p>')
    lines += [f'<p class="nd-failed">failed: {_e(named(f.path))}: {_e(named(f.reason))}</p>'
              for f in report.failed]
    lines += [f'<p class="nd-notice">note: {_e(named(n))}</p>' for n in report.notices]
    return f'<div class="nd-report">{"".join(lines)}</div>'


def message(text: str, kind: str = "info") -> str:
    """A one-line status message."""
    return f'<div class="nd-report"><p class="nd-{_e(kind)}">{_e(text)}</p></div>'

