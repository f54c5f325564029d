"""The Archive tab and the empty chat, on a real Desk: example questions from the archive
itself, a removal confirmed by name, the article just added on top."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import CORPUS, settings_for
from newsdesk import Desk
from ui_fixtures import write_article, zorblat_article

# isort: split
from newsdesk_ui.handlers import EXAMPLE_FORM, Handlers

MORATORIUM = "Amazon Extends Moratorium on Police Use of Facial Recognition Software"
HALTING = "Amazon says it’s halting police use of facial recognition for 1 year"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Callable[..., Desk]]:
    """fresh(*folders) -> a writable Desk on a new index of those folders."""
    desks: list[Desk] = []

    def factory(*folders: Path) -> Desk:
        desk = Desk.open(settings=settings_for(tmp_path / f"index{len(desks)}"), create=True)
        desks.append(desk)
        if folders:
            desk.ingest(list(folders))
        return desk

    yield factory
    for desk in desks:
        desk.close()


def test_example_questions_come_from_the_archives_own_headlines(sample_desk: Desk) -> None:
    handlers = Handlers(sample_desk)
    questions = handlers.examples()
    # a headline becomes an example only if the answer to it cites the headline's article
    assert questions and set(questions) <= {EXAMPLE_FORM.format(title=t)
                                            for t in (MORATORIUM, HALTING)}
    for question in questions:
        cited = {c.title for c in sample_desk.ask(question).citations}
        assert any(t in cited for t in (MORATORIUM, HALTING) if t in question)
    row, *buttons = handlers.examples_view()
    assert row["visible"] is True
    assert [b.get("value") for b in buttons if b["visible"]] == questions
    for question in questions:  # each one is answered from the article it was made from
        answer = sample_desk.ask(question)
        assert not answer.refused
        titles = {c.title for c in answer.citations}
        assert titles & {MORATORIUM, HALTING}
    assert "Rekognition" not in " ".join(questions)  # nothing of the old fixed sample questions


def test_an_archive_without_headlines_shows_no_examples(fresh: Callable[..., Desk],
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "untitled"
    folder.mkdir()
    (folder / "note.txt").write_text("the ferry was late again this morning, said the captain.\n",
                                     encoding="utf-8")
    handlers = Handlers(fresh(folder))
    assert handlers.examples() == []
    row, *buttons = handlers.examples_view()
    assert row["visible"] is False and all(b["visible"] is False for b in buttons)
    assert handlers.clear()[3]["visible"] is False
    empty = Handlers(fresh())
    assert empty.examples() == [] and empty.examples_view()[0]["visible"] is False


def test_examples_follow_the_archive_as_it_changes(fresh: Callable[..., Desk], corpus: Path,
                                                   tmp_path: Path) -> None:
    handlers = Handlers(fresh(corpus))
    before = handlers.examples()
    handlers.add_files([str(zorblat_article(tmp_path / "up"))], "")
    after = handlers.examples()
    assert after[0] == EXAMPLE_FORM.format(title="Zorblat kite festival returns to Tacoma this August")
    assert after[1:] == before[:2]


def test_a_removal_is_confirmed_naming_the_article_and_removes_exactly_it(
        fresh: Callable[..., Desk], corpus: Path) -> None:
    handlers = Handlers(fresh(corpus))
    row, text, pending, report = handlers.ask_remove("003_c4a1611d945e26cc.txt")
    assert row["visible"] is True and pending == "003_c4a1611d945e26cc.txt" and report == ""
    assert f"Remove “{MORATORIUM}” (003_c4a1611d945e26cc.txt) from the archive?" in text
    assert len(handlers.desk.articles()) == 5  # nothing is removed before it is confirmed
    assert handlers.cancel_remove() == ({"__type__": "update", "visible": False}, "", None)
    assert len(handlers.desk.articles()) == 5
    # confirming removes the article the confirmation named, whatever is chosen meanwhile
    out = handlers.confirm_remove(pending, "")
    report, rows, _choices, _outlets, counts, closed, _text, cleared = out
    assert "Removed 003_c4a1611d945e26cc.txt." in report and "4 articles" in counts
    assert closed["visible"] is False and cleared is None
    assert "003_c4a1611d945e26cc.txt" not in [r[-1] for r in rows]
    untitled = handlers.ask_remove("000_ca56b235a267ddf0.txt")[1]
    assert "Remove 000_ca56b235a267ddf0.txt from the archive?" in untitled
    assert "Choose an article" in handlers.ask_remove(None)[3]
    assert "is not in the archive" in handlers.ask_remove("gone.txt")[3]


def test_the_article_just_added_is_listed_first_even_undated(fresh: Callable[..., Desk],
                                                             tmp_path: Path) -> None:
    handlers = Handlers(fresh(CORPUS))
    first = write_article(tmp_path / "a", "notes-one.txt", "First undated upload about ferries",
                          "The ferry schedule changed on Monday, the operator said.")
    handlers.add_files([str(first)], "")
    second = write_article(tmp_path / "b", "notes-two.txt", "Second undated upload about trams",
                           "The tram line will close for repairs in June, the city said.")
    _report, rows, *_ = handlers.add_files([str(second)], "")
    assert [r[-1] for r in rows[:2]] == ["notes-two.txt", "notes-one.txt"]
    dated = [r for r in rows if r[2] != "—"]
    assert dated and rows.index(dated[0]) > 1  # the one dated sample article comes after them
