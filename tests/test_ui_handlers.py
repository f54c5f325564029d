"""The web chat's event functions on a real Desk over a real index (no server, no browser)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from conftest import run_cli, settings_for
from newsdesk import Desk
from newsdesk.cite import coverage_line, source_line
from newsdesk.errors import UsageError
from newsdesk.types import Answer
from ui_fixtures import MARKUP, MARKUP_TITLE, REFUSED, REKOGNITION, html_article, zorblat_article

# isort: split
# (after ui_fixtures, which finds newsdesk_ui in the work tree while it is not installed)
from newsdesk_ui import render
from newsdesk_ui.app import build_app, login
from newsdesk_ui.handlers import Handlers, history_of
from newsdesk_ui.render import Turn


def asked(handlers: Handlers, question: str, turns: list[Turn] | None = None,
          outlets: list[str] | None = None, since: str = "", until: str = "") -> list[tuple[Any, ...]]:
    """Every update the chat gets while the question is answered."""
    return list(handlers.ask(question, turns or [], outlets, since, until))


def final(updates: list[tuple[Any, ...]]) -> tuple[str, str, list[Turn]]:
    chat, sources, turns, _question, _examples = updates[-1]
    return chat, sources, turns


@pytest.fixture
def open_writable(tmp_path: Path, corpus: Path) -> Iterator[Callable[..., Desk]]:
    """open_writable(**settings) -> a Desk on a fresh index of the sample corpus."""
    desks: list[Desk] = []

    def factory(**overrides: object) -> Desk:
        desk = Desk.open(settings=settings_for(tmp_path / f"index{len(desks)}", **overrides),
                         create=True)
        desks.append(desk)
        desk.ingest([corpus])
        return desk

    yield factory
    for desk in desks:
        desk.close()


def test_the_answer_streams_in_then_shows_chips_sources_and_coverage(sample_desk: Desk) -> None:
    updates = asked(Handlers(sample_desk), REKOGNITION)
    streamed = [u[0] for u in updates[:-1]]
    assert len(streamed) >= 3 and all("nd-pending" in chat for chat in streamed)
    lengths = [len(chat) for chat in streamed]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]  # it grows piece by piece
    assert all(u[3] == "" for u in updates)  # the question box is emptied at once

    chat, sources, turns = final(updates)
    answer = turns[0].answer
    assert not answer.refused and answer.citations[0].source == "004_5c8df6fe0fbd710e.txt"
    assert "Thorn" in answer.text
    assert '<button type="button" class="nd-chip" data-turn="0" data-cite="1"' in chat
    assert f'<p class="nd-coverage">{html.escape(coverage_line(answer))}</p>' in chat
    assert "nd-pending" not in chat and "nd-refused" not in chat

    for citation in answer.citations:  # each passage is there, its quote highlighted at its span
        highlighted = re.search(
            rf'<details class="nd-source" data-cite="{citation.number}"><summary>.*?</summary>'
            r'<div class="nd-passage">(.*?)<mark>(.*?)</mark>(.*?)</div>', sources, re.S)
        assert highlighted, sources
        before, quote, after = (html.unescape(g) for g in highlighted.groups())
        assert quote == citation.quote
        assert before + quote + after == citation.passage
        assert len(before) == citation.start - citation.passage_start
        assert html.escape(source_line(citation)) in sources


def test_a_follow_up_is_asked_with_the_conversation(sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk)
    _, _, turns = final(asked(handlers, REKOGNITION))
    before = list(turns)
    chat, sources, turns2 = final(asked(handlers, "Why?", turns))

    assert turns == before  # the session's state is replaced, never changed in place
    assert [t.question for t in turns2] == [REKOGNITION, "Why?"]
    with_history = sample_desk.ask("Why?", history=history_of(turns))
    assert sample_desk.ask("Why?").refused and not with_history.refused  # the history matters
    assert turns2[1].answer.text == with_history.text
    assert 'data-turn="1" data-cite="1"' in chat and 'data-turn="0" data-cite="1"' in chat
    # the sources panel shows the latest answer's sources, keeping the first one's for its chips
    assert '<section class="nd-turn-sources" data-turn="0" hidden>' in sources
    assert '<section class="nd-turn-sources" data-turn="1">' in sources


def test_a_refusal_says_so_and_offers_related_reading_collapsed(sample_desk: Desk) -> None:
    chat, sources, turns = final(asked(Handlers(sample_desk), REFUSED))
    answer = turns[0].answer
    assert answer.refused and answer.related
    assert '<div class="nd-answer nd-refused">' in chat
    assert render.REFUSAL_LABEL in chat and html.escape("The archive doesn’t say.") in chat
    assert "nd-chip" not in chat and "nd-copy" not in chat and "nd-coverage" not in chat
    assert "<details class=\"nd-related\"><summary>" in chat and "<details open" not in chat
    for passage in answer.related:
        assert html.escape(source_line(passage)) in chat and html.escape(passage.text) in chat
    assert "cites no source" in sources


def test_filters_apply_to_the_question(sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk)
    chat, _, turns = final(asked(handlers, REKOGNITION, outlets=["The Daily Dot"]))
    assert {c.outlet for c in turns[0].answer.citations} == {"The Daily Dot"}
    assert "Only The Daily Dot" in chat

    _, _, turns = final(asked(handlers, REKOGNITION, since="2030-01-01"))
    assert turns[0].answer.refused and turns[0].filters == "Only since 2030-01-01"

    with pytest.raises(gr.Error, match="not a date"):
        asked(handlers, REKOGNITION, since="soon")
    with pytest.raises(gr.Error, match="Type a question"):
        asked(handlers, "   ")


def test_copy_holds_the_answer_and_its_numbered_sources(sample_desk: Desk) -> None:
    chat, _, turns = final(asked(Handlers(sample_desk), REKOGNITION))
    answer = turns[0].answer
    text = render.copy_text(answer)
    assert text.startswith(answer.text + "\n")
    for c in answer.citations:
        assert f"[{c.number}] {source_line(c)}\n    “{c.quote}”" in text
    assert f'data-copy="{html.escape(text)}"' in chat


def test_clear_forgets_the_conversation(sample_desk: Desk) -> None:
    chat, sources, turns, examples = Handlers(sample_desk).clear()
    assert turns == [] and "nd-empty" in chat and render.EMPTY_SOURCES[:20] in sources
    assert examples["visible"] is True


def test_questions_and_article_text_are_escaped(open_writable: Callable[..., Desk],
                                                tmp_path: Path) -> None:
    handlers = Handlers(open_writable())
    report = handlers.add_files([str(html_article(tmp_path / "up"))], "")[0]
    assert "added 1" in report
    question = "What did the Quillfeather <i>gala</i> raise money for?"
    chat, sources, turns = final(asked(handlers, question))
    assert turns[0].answer.citations[0].source == "markup.txt"
    for page in (chat, sources):
        assert "<script" not in page and "<b>" not in page and "<i>" not in page
        assert html.escape(MARKUP) in page
    assert html.escape(question) in chat
    rows = handlers.archive_search("quillfeather")[0]  # the table shows text, never HTML
    assert rows == [[MARKUP_TITLE, "—", "—", 1, "markup.txt"]]


def test_uploads_are_added_and_failures_read_as_in_the_cli(open_writable: Callable[..., Desk],
                                                           tmp_path: Path) -> None:
    desk = open_writable(max_file_bytes=4000)
    handlers = Handlers(desk)
    up = tmp_path / "up"
    good = zorblat_article(up)
    broken = up / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    large = up / "large.txt"
    large.write_text("A long sentence about nothing in particular. " * 120, encoding="utf-8")
    unsupported = up / "scan.pdf"
    unsupported.write_bytes(b"%PDF-1.4")

    out = handlers.add_files([str(p) for p in (good, broken, large, unsupported)], "")
    report, rows, remove_choices, outlets, counts, upload = out
    assert "added 1 · updated 0 · unchanged 0 · skipped 1 · failed 2" in report
    assert "skipped (unsupported type): scan.pdf" in report
    cli = run_cli("ingest", "--index-dir", str(tmp_path / "cli"), str(broken), str(large),
                  env={"NEWSDESK_MAX_FILE_MB": str(4000 / 1048576)})
    failures = [line.split(": ", 2) for line in cli.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 2
    for _, path, reason in failures:  # the same reason, named by the file the user uploaded
        assert html.escape(f"failed: {Path(path).name}: {reason}") in report
    assert str(up) not in report and "newsdesk-upload-" not in report

    assert ["Zorblat kite festival returns to Tacoma this August", "—", "—", 1, "zorblat.txt"] in rows
    assert ("Zorblat kite festival returns to Tacoma this August · zorblat.txt", "zorblat.txt") \
        in remove_choices["choices"]
    assert "6 articles" in counts and upload is None and outlets["choices"] == ["GeekWire", "The Daily Dot"]

    _, _, turns = final(asked(handlers, "When does the Zorblat kite festival return to Tacoma?"))
    assert [c.source for c in turns[0].answer.citations] == ["zorblat.txt"]

    # the same name uploaded again with new text updates the article
    zorblat_article(tmp_path / "again").write_text(
        "Zorblat kite festival returns to Tacoma this August\n\nThe Zorblat festival moved to "
        "September because of the heron migration, organizers said.\n", encoding="utf-8")
    report = handlers.add_files([str(tmp_path / "again" / "zorblat.txt")], "")[0]
    assert "updated 1" in report
    _, _, turns = final(asked(handlers, "Why did the Zorblat festival move to September?"))
    assert "heron migration" in turns[0].answer.text


def test_remove_takes_an_article_out_of_the_next_answers(open_writable: Callable[..., Desk]) -> None:
    handlers = Handlers(open_writable())
    _, _, turns = final(asked(handlers, REKOGNITION))
    cited = turns[0].answer.citations[0].source
    report, rows, remove_choices, _, counts = handlers.remove(cited, "")
    assert f"Removed {cited}." in report and "4 articles" in counts
    assert cited not in [r[-1] for r in rows]
    assert cited not in [value for _, value in remove_choices["choices"]]
    _, _, turns = final(asked(handlers, REKOGNITION))
    assert cited not in {c.source for c in turns[0].answer.citations}
    assert "is not in the archive" in handlers.remove(cited, "")[0]
    assert "Choose an article" in handlers.remove(None, "")[0]


def test_the_archive_table_is_searched_by_title(sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk)
    assert len(handlers.archive_search("")[0]) == 5
    rows, choices, _ = handlers.archive_search("moratorium")
    assert rows == [["Amazon Extends Moratorium on Police Use of Facial Recognition Software",
                     "—", "—", 2, "003_c4a1611d945e26cc.txt"]]
    assert [value for _, value in choices["choices"]] == ["003_c4a1611d945e26cc.txt"]
    assert handlers.archive_search("no such words")[0] == []
    _, _, outlets, counts = handlers.archive_view("")
    assert outlets["choices"] == ["GeekWire", "The Daily Dot"] and "5 articles · 10 chunks" in counts
    assert "listing" not in counts


def test_a_big_archive_lists_the_newest_articles_and_search_finds_the_rest(
        sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk, row_limit=2)
    rows, choices, counts = handlers.archive_search("")
    newest = [a.id for a in sample_desk.articles()][:2]
    assert [r[-1] for r in rows] == newest == [value for _, value in choices["choices"]]
    assert "5 articles" in counts and "listing the newest 2 of 5 articles" in counts
    rows, _, counts = handlers.archive_search(".TXT")  # file names match too
    assert len(rows) == 2 and "listing the newest 2 of 5 matching articles" in counts
    rows, _, counts = handlers.archive_search("moratorium")  # one match: listed, no note
    assert len(rows) == 1 and "listing" not in counts


def test_answering_goes_on_while_an_ingest_is_running(open_writable: Callable[..., Desk],
                                                      tmp_path: Path) -> None:
    desk = open_writable()
    folder = tmp_path / "slow"
    folder.mkdir()
    fifo = folder / "wire.txt"
    os.mkfifo(fifo)  # the ingest waits on reading it, in the middle of its run
    reports: list[Any] = []
    ingest = threading.Thread(target=lambda: reports.append(desk.ingest([folder])), daemon=True)
    ingest.start()
    try:
        while desk.archive.write_lock.acquire(blocking=False):  # until the ingest holds it
            desk.archive.write_lock.release()
            assert ingest.is_alive()
        _, _, turns = final(asked(Handlers(desk), REKOGNITION))
        assert not turns[0].answer.refused
        assert ingest.is_alive()  # answered while the ingest was still running
    finally:
        with open(fifo, "w", encoding="utf-8") as writer:
            writer.write("Wire story about a ferry\n\nThe ferry to Bainbridge Island was late.\n")
        ingest.join(60)
    assert reports and reports[0].added == ["wire.txt"]


def test_the_api_answers_with_the_answer_as_a_dict(sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk)
    data = handlers.api_ask(REKOGNITION)
    assert data == sample_desk.ask(REKOGNITION).to_dict() | {"timings": data["timings"]}
    history = [{"role": "user", "content": REKOGNITION}, {"role": "assistant", "content": data["text"]}]
    assert not handlers.api_ask("Why?", history)["refused"]
    dot = handlers.api_ask(REKOGNITION, [], {"outlets": ["The Daily Dot"]})
    assert {c["outlet"] for c in dot["citations"]} == {"The Daily Dot"}
    with pytest.raises(gr.Error, match="history"):
        handlers.api_ask("Why?", [{"speaker": "me"}])
    with pytest.raises(gr.Error, match="unknown filter"):
        handlers.api_ask(REKOGNITION, [], {"publisher": "x"})
    assert {a["id"] for a in handlers.api_articles()} == {r[-1] for r in handlers.archive_search("")[0]}


def test_the_app_exposes_ask_and_keeps_writes_apart_from_answering(sample_desk: Desk) -> None:
    app = build_app(sample_desk)
    public = {f.api_name: f for f in app.fns.values() if f.api_visibility == "public"}
    assert set(public) == {"ask", "articles"}
    assert public["ask"].fn.__name__ == "api_ask" and public["articles"].fn.__name__ == "api_articles"
    by_name = {f.name: f for f in app.fns.values()}
    assert by_name["add_files"].concurrency_id == by_name["confirm_remove"].concurrency_id \
        == "archive-writes"
    assert by_name["add_files"].concurrency_limit == 1
    assert by_name["ask"].concurrency_id == "ask" != by_name["add_files"].concurrency_id
    assert app._queue.default_concurrency_limit == 2


def test_a_login_is_required_off_the_loopback_address() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert login(host, None) is None
    assert login("0.0.0.0", "ann:s3cret:x") == ("ann", "s3cret:x")
    for host in ("0.0.0.0", "192.168.1.20", "::", "newsdesk.example"):
        with pytest.raises(UsageError, match="--auth USER:PASS"):
            login(host, None)
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(UsageError, match="must be USER:PASS"):
            login("127.0.0.1", bad)


def test_render_never_passes_html_through() -> None:
    answer = Answer(question="q", text="The archive doesn’t say.", refused=True)
    turn = Turn("<img src=x onerror=alert(1)>", answer, filters="Only <GeekWire>")
    page = render.conversation([turn]) + render.sources([turn])
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Only &lt;GeekWire&gt;" in page
    assert render.conversation([], ("<b>q</b>", "text [1] and <i>more</i>")).count("<b>") == 0


def test_newsdesk_ui_is_installed_with_newsdesk(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", "import newsdesk_ui.app"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        "`newsdesk serve` imports newsdesk_ui, which is not installed: list \"ui/newsdesk_ui\" in "
        "[tool.hatch.build.targets.wheel] packages in pyproject.toml and reinstall "
        f"(pip install -e .)\n{done.stderr[-600:]}")
