"""Boilerplate removal and metadata on the sample corpus (labelled by hand in data/)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import CORPUS, DATA
from newsdesk import Desk
from newsdesk.clean import clean, load_rules, normalise_date

LABELS = json.loads((DATA / "sample_corpus_labels.json").read_text(encoding="utf-8"))
_SENTENCE_END = re.compile(r"(?<=[.!?”])\s+")


def _chunk_texts(desk: Desk, article_id: str) -> list[str]:
    return [text for _, _, cid, text in desk.archive.catalog.all_chunks()
            if cid.startswith(article_id + "#")]


@pytest.mark.parametrize("name", sorted(LABELS))
def test_no_boilerplate_line_reaches_a_chunk(sample_desk: Desk, name: str) -> None:
    chunks = _chunk_texts(sample_desk, name)
    assert chunks
    paragraphs = {p.strip() for c in chunks for p in c.split("\n")}
    for line in LABELS[name]["boilerplate"]:
        assert line not in paragraphs, line
        if len(line) > 15:
            assert not any(line in c for c in chunks), line


@pytest.mark.parametrize("name", sorted(LABELS))
def test_every_prose_sentence_reaches_a_chunk(sample_desk: Desk, name: str) -> None:
    chunks = "\n".join(_chunk_texts(sample_desk, name))
    labels = LABELS[name]
    lines = [line.strip() for line in (CORPUS / name).read_text(encoding="utf-8").splitlines()]
    prose = [labels["partial"].get(line, line) for line in lines
             if line and line not in labels["boilerplate"]]
    assert prose
    for paragraph in prose:
        for sentence in _SENTENCE_END.split(paragraph):
            assert sentence in chunks, (name, sentence)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_metadata_found_and_never_invented(sample_desk: Desk, name: str) -> None:
    stored = sample_desk.archive.catalog.article(name)
    assert stored is not None
    article = stored.article
    found = {"title": article.title, "outlet": article.outlet, "author": article.author,
             "date": article.date}
    assert found == LABELS[name]["metadata"]


def test_listing_shows_the_sample_articles(sample_desk: Desk) -> None:
    listed = {a.id: a for a in sample_desk.articles()}
    assert sorted(listed) == sorted(LABELS)
    assert listed["001_e04abfde3c193795.txt"].date == "2021-05-18"
    assert all(a.chunks >= 1 for a in listed.values())


def test_rules_catch_boilerplate_in_other_shapes() -> None:
    rules = load_rules()
    text = "\n".join([
        "Politics",
        "By Jane Doe | The Harbor Times | March 3, 2022",
        "Home > News > City",
        "Advertisement",
        "The council voted 7-2 on Tuesday to end the program.",
        "Sign up for our morning newsletter to get the top stories.",
        "A crowd gathers outside city hall on Monday. (Photo by Sam Lee / Reuters)",
        "READ MORE: Why the vote matters",
        "Share this article",
        "© 2022 The Harbor Times. All rights reserved.",
    ])
    cleaned = clean(text, rules)
    assert cleaned.text == ("The council voted 7-2 on Tuesday to end the program.\n\n"
                            "A crowd gathers outside city hall on Monday.")
    assert (cleaned.author, cleaned.outlet, cleaned.date) == ("Jane Doe", "The Harbor Times",
                                                              "2022-03-03")


def test_prose_that_looks_like_a_rule_is_kept() -> None:
    rules = load_rules()
    text = ("By the end of the year, the company had changed course.\n\n"
            "Subscribers to the service were told on Friday.\n\n"
            "The rate was 24/7 coverage for three years.")
    assert clean(text, rules).text == text


def test_hard_wrapped_lines_join_into_one_paragraph() -> None:
    text = ("The council voted on Tuesday to end the program after\n"
            "a long debate that lasted into the night and left many\n"
            "residents unhappy with the result.")
    cleaned = clean(text, load_rules())
    assert cleaned.text == " ".join(text.split("\n"))


def test_known_metadata_wins_over_what_the_text_says() -> None:
    cleaned = clean("Published: May 8, 2021\n\nSome prose here that is long enough.",
                    load_rules(), {"date": "2021-05-09", "title": "Given title"})
    assert (cleaned.date, cleaned.title) == ("2021-05-09", "Given title")


@pytest.mark.parametrize(("raw", "iso"), [
    ("2021-05-18", "2021-05-18"), ("May 8, 2021", "2021-05-08"), ("8 May 2021", "2021-05-08"),
    ("2021-06-07T14:03:00Z", "2021-06-07"), ("not a date", ""), ("", ""),
])
def test_dates_are_normalised_to_iso(raw: str, iso: str) -> None:
    assert normalise_date(raw) == iso
