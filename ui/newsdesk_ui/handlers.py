"""The web chat's event functions, bound to one Desk.

Per-user state (the conversation) lives only in what Gradio hands each call from the browser
session's gr.State; this object holds nothing but the Desk that every session shares.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from newsdesk.errors import LimitError, NewsdeskError
from newsdesk.limits import RateLimiter, recent_history
from newsdesk.types import Answer, ArticleInfo
from newsdesk_ui import render
from newsdesk_ui.render import Turn

if TYPE_CHECKING:
    from newsdesk.desk import Desk

ArchiveView = tuple[list[list[str | int]], Any, Any, str]
ArchiveListing = tuple[list[list[str | int]], Any, str]
ROW_LIMIT = 500  # articles the archive tab lists at once (newest first); search finds the rest
EXAMPLE_COUNT = 3  # example questions on an empty chat
# Headlines turned into example questions this way were answered, citing their own article, for
# 60 of 60 sampled BBC headlines (and 9 of 33 of the multilingual web pages'): each candidate
# is asked once and kept only when it is.
EXAMPLE_FORM = "What does the archive say about {title}?"
_EXAMPLE_CANDIDATES = 12  # newest headlines tried
_EXAMPLE_TITLE_CHARS = 90  # longer headlines make unwieldy buttons


def history_of(turns: Sequence[Turn]) -> list[dict[str, str]]:
    """The conversation so far in the form `Desk.ask` takes."""
    history: list[dict[str, str]] = []
    for turn in turns:
        history += [{"role": "user", "content": turn.question},
                    {"role": "assistant", "content": turn.answer.text}]
    return history


def client_of(request: gr.Request | None) -> str:
    """Who is asking, for the rate limit: the client's address."""
    client = getattr(request, "client", None) if request is not None else None
    return str(getattr(client, "host", "") or "unknown")


def filters_of(outlets: Sequence[str] | None, since: str | None, until: str | None) -> dict[str, Any]:
    """The filter fields of the chat as `Desk.ask` takes them (empty fields do not filter)."""
    return {"outlets": list(outlets or []), "since": (since or "").strip(),
            "until": (until or "").strip()}


def filters_label(filters: dict[str, Any]) -> str:
    """How the filters a question was asked with are shown beside it ("" when none)."""
    parts = []
    if filters["outlets"]:
        parts.append(", ".join(filters["outlets"]))
    if filters["since"]:
        parts.append(f"since {filters['since']}")
    if filters["until"]:
        parts.append(f"until {filters['until']}")
    return "Only " + " · ".join(parts) if parts else ""


class Handlers:
    """Everything the web chat's events call, on the one Desk the app was built on."""

    def __init__(self, desk: Desk, row_limit: int = ROW_LIMIT) -> None:
        self.desk = desk
        self.row_limit = row_limit
        self.rate = RateLimiter(desk.settings.chat_rate)
        self._examples: tuple[tuple[str, ...], list[str]] = ((), [])  # (from articles, questions)
        self._examples_lock = threading.Lock()

    # -- chat ----------------------------------------------------------------------------
    def ask(self, question: str, turns: list[Turn], outlets: list[str] | None, since: str,
            until: str, request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream the answer into the chat; the last update adds the turn and its sources.
        A question over the limits gets a notice in the chat instead of an answer.

        Yields (chat html, sources html, turns, question box, examples row).
        """
        question = (question or "").strip()
        if not question:
            raise gr.Error("Type a question first.")
        filters = filters_of(outlets, since, until)
        history = recent_history(history_of(turns), self.desk.settings)
        text = ""
        answer: Answer | None = None
        try:
            self.rate.take(client_of(request))
            for item in self.desk.ask_stream(question, history=history, filters=filters):
                if isinstance(item, Answer):
                    answer = item
                    continue
                text += item
                yield (render.conversation(turns, (question, text)), gr.skip(), turns, "",
                       gr.update(visible=False))
        except LimitError as exc:
            yield (render.conversation(turns, notice=f"Not asked: {exc}."), gr.skip(), turns,
                   gr.skip(), gr.skip())
            return
        except NewsdeskError as exc:
            raise gr.Error(str(exc)) from exc
        if answer is None:  # ask_stream always ends with the Answer; anything else is a bug
            raise RuntimeError("Desk.ask_stream ended without an Answer")
        if answer.note:  # the model failed or was not supported: say so beside the answer
            gr.Warning(answer.note)
        turns = [*turns, Turn(question, answer, filters_label(filters))]
        yield (render.conversation(turns), render.sources(turns), turns, "",
               gr.update(visible=False))

    def clear(self) -> tuple[str, str, list[Turn], Any]:
        """Forget this browser's conversation: (chat html, sources html, turns, examples row)."""
        return (render.conversation([]), render.sources([]), [],
                gr.update(visible=bool(self.examples())))

    def examples(self) -> list[str]:
        """Up to EXAMPLE_COUNT questions drawn from the newest headlines of the archive, each
        answered from its own article (none for an archive without headlines)."""
        candidates = [a for a in self.desk.articles()
                      if a.title and len(a.title) <= _EXAMPLE_TITLE_CHARS][:_EXAMPLE_CANDIDATES]
        key = tuple(f"{a.id}|{a.title}" for a in candidates)
        with self._examples_lock:
            if self._examples[0] == key:
                return self._examples[1]
            found: list[str] = []
            for article in candidates:
                question = EXAMPLE_FORM.format(title=article.title.rstrip(" .?!"))
                answer = self.desk.ask(question)
                if not answer.refused and any(c.source == article.id for c in answer.citations):
                    found.append(question)
                if len(found) == EXAMPLE_COUNT:
                    break
            self._examples = (key, found)
            return found

    def examples_view(self) -> tuple[Any, ...]:
        """(examples row, *example buttons): shown with the archive's questions, or hidden."""
        found = self.examples()
        buttons = [gr.update(value=found[i], visible=True) if i < len(found)
                   else gr.update(visible=False) for i in range(EXAMPLE_COUNT)]
        return (gr.update(visible=bool(found)), *buttons)

    # -- the API ---------------------------------------------------------------------------
    def api_ask(self, question: str, history: list[dict[str, str]] | None = None,
                filters: dict[str, Any] | None = None,
                request: gr.Request | None = None) -> dict[str, Any]:
        """Answer a question from the archive: the Answer as a dict (text with [n] markers,
        citations with quote, passage and character span, refused, related passages).

        history: earlier turns as [{"role": "user" | "assistant", "content": str}, ...];
        filters: {"outlets": [...], "since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}.
        """
        try:
            self.rate.take(client_of(request))
            return self.desk.ask(question, history=history or [], filters=filters or None).to_dict()
        except NewsdeskError as exc:
            raise gr.Error(str(exc)) from exc

    def api_articles(self) -> list[dict[str, Any]]:
        """The indexed articles: id, title, outlet, author, date, url, chunks."""
        return [a.to_dict() for a in self.desk.articles()]

    # -- the archive ---------------------------------------------------------------------
    def archive_search(self, query: str) -> ArchiveListing:
        """(table rows, remove choices, counts line) for the articles whose title matches."""
        return self._listing(self.desk.articles(), query or "")

    def archive_view(self, query: str) -> ArchiveView:
        """(table rows, remove choices, outlet filter choices, counts line), all fresh."""
        articles = self.desk.articles()
        rows, choices, counts = self._listing(articles, query or "")
        outlets = sorted({a.outlet for a in articles if a.outlet}, key=str.casefold)
        return rows, choices, gr.update(choices=outlets), counts

    def _listing(self, articles: Sequence[ArticleInfo], query: str) -> ArchiveListing:
        found = render.matching_articles(articles, query)
        shown = found[:self.row_limit]
        line = f"{len(articles):,} articles · {sum(a.chunks for a in articles):,} chunks in the archive"
        if len(shown) < len(found):
            which = "matching articles" if query.strip() else "articles"
            line += (f" · listing the newest {len(shown):,} of {len(found):,} {which}; "
                     "search titles to find the others")
        choices = [(f"{a.title} · {a.id}" if a.title else a.id, a.id) for a in shown]
        return (render.article_rows(shown), gr.update(choices=choices, value=None),
                render.message(line))

    def add_files(self, files: list[str] | None, query: str,
                  progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
                  ) -> tuple[Any, ...]:
        """Ingest uploaded files through the Desk: (report html, *archive view, cleared upload)."""
        if not files:
            return (render.message("Choose files to add."), *self.archive_view(query), None)
        progress(0, desc=f"Adding {len(files)} file{'s' if len(files) != 1 else ''}")
        # Each upload is ingested from a private copy named as the user named it: the file name
        # becomes the article id, and uploading a changed file of the same name updates it.
        with tempfile.TemporaryDirectory(prefix="newsdesk-upload-") as folder:
            names: dict[str, str] = {}
            staged: list[Path] = []
            for i, upload in enumerate(files):
                source = Path(upload)
                target = Path(folder) / str(i) / source.name
                target.parent.mkdir()
                shutil.copyfile(source, target)
                names[str(target)] = source.name
                staged.append(target)
            try:
                report = self.desk.ingest(staged, progress=True)
            except NewsdeskError as exc:
                raise gr.Error(str(exc)) from exc
        return (render.ingest_report(report, names), *self.archive_view(query), None)

    def ask_remove(self, article_id: str | None) -> tuple[Any, ...]:
        """Ask to confirm a removal, naming the article: (confirmation row, its text, the
        article it names, report)."""
        info = next((a for a in self.desk.articles() if a.id == article_id), None)
        if info is None:
            text = f"{article_id} is not in the archive." if article_id else \
                "Choose an article to remove."
            return gr.update(visible=False), "", None, render.message(text)
        name = f"“{info.title}” ({info.id})" if info.title else info.id
        return (gr.update(visible=True),
                render.message(f"Remove {name} from the archive? Its passages will no longer be "
                               "searched or cited.", kind="confirm"), info.id, "")

    def cancel_remove(self) -> tuple[Any, str, None]:
        """Close the confirmation: (confirmation row, its text, no article)."""
        return gr.update(visible=False), "", None

    def confirm_remove(self, article_id: str | None, query: str) -> tuple[Any, ...]:
        """Remove the article the confirmation named: (report, *archive view, *closed
        confirmation)."""
        return (*self.remove(article_id, query), *self.cancel_remove())

    def remove(self, article_id: str | None, query: str) -> tuple[Any, ...]:
        """Remove one article: (report html, *archive view)."""
        if not article_id:
            return (render.message("Choose an article to remove."), *self.archive_view(query))
        try:
            removed = self.desk.remove([article_id])
        except NewsdeskError as exc:
            raise gr.Error(str(exc)) from exc
        text = f"Removed {article_id}." if removed else f"{article_id} is not in the archive."
        return (render.message(text), *self.archive_view(query))
