"""Asking the sample archive through the public API: answers, citations, refusals, filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import newsdesk
from conftest import settings_for
from newsdesk import Answer, Desk, UsageError


def _cited(answer: Answer) -> set[str]:
    return {c.source for c in answer.citations}


def _check_citations(desk: Desk, answer: Answer) -> None:
    """Numbers follow first appearance; every quote is verbatim at its span, inside its passage."""
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    markers = [int(m) for m in __import__("re").findall(r"\[(\d+)\]", answer.text)]
    assert markers and sorted(set(markers)) == [c.number for c in answer.citations]
    assert list(dict.fromkeys(markers)) == sorted(set(markers))  # first appearance order
    for c in answer.citations:
        stored = desk.archive.catalog.article(c.source)
        assert stored is not None
        assert stored.article.text[c.start:c.end] == c.quote
        offset = c.start - c.passage_start
        assert c.passage[offset:offset + len(c.quote)] == c.quote


def test_the_first_question_gets_a_cited_answer(sample_desk: Desk) -> None:
    answer = sample_desk.ask("Which organizations could still use Rekognition?")
    assert not answer.refused
    assert "human trafficking" in answer.text
    assert _cited(answer) <= {"000_ca56b235a267ddf0.txt", "002_0107e865e703d7d5.txt",
                              "004_5c8df6fe0fbd710e.txt"}
    _check_citations(sample_desk, answer)
    assert len(answer.text.split()) <= 80
    assert answer.retrieved and all(p.score > 0 for p in answer.retrieved)
    assert {"retrieve_ms", "compose_ms", "total_ms"} <= set(answer.timings)


def test_a_statement_carried_by_several_outlets_cites_all_of_them(sample_desk: Desk) -> None:
    answer = sample_desk.ask("What did Amazon hope the one-year moratorium would give Congress?")
    assert not answer.refused and "enough time to implement appropriate rules" in answer.text
    statement = answer.sentences[0]
    sources = {c.source for c in answer.citations if c.number in statement.citations}
    assert sources == {"001_e04abfde3c193795.txt", "002_0107e865e703d7d5.txt",
                       "004_5c8df6fe0fbd710e.txt"}
    _check_citations(sample_desk, answer)


def test_a_question_the_archive_cannot_answer_is_refused(sample_desk: Desk) -> None:
    answer = sample_desk.ask("How much does Amazon charge customers to use Rekognition?")
    assert answer.refused and answer.citations == ()
    assert "doesn’t say" in answer.text
    assert answer.related and answer.related[0].text


def test_an_entity_the_archive_never_covers_is_refused(sample_desk: Desk) -> None:
    assert sample_desk.ask("Has Apple stopped selling its face recognition to police?").refused


def test_a_follow_up_resolves_what_it_refers_to(sample_desk: Desk) -> None:
    history = [{"role": "user", "content": "Which city was the first to ban government use of "
                                           "face recognition?"},
               {"role": "assistant", "content": "San Francisco was the first US city to ban "
                                                "government use of facial recognition."}]
    answer = sample_desk.ask("When did it do that?", history=history)
    assert not answer.refused and "May 2019" in answer.text
    assert "001_e04abfde3c193795.txt" in {p.source for p in answer.retrieved[:3]}


def test_a_question_with_two_parts_gets_a_sentence_for_each(sample_desk: Desk) -> None:
    answer = sample_desk.ask("Which company imposed a similar ban on selling face recognition to "
                             "police, and which company said it would stop developing the "
                             "technology altogether?")
    assert "Microsoft" in answer.text and "IBM" in answer.text
    texts = [s.text for s in answer.sentences]
    assert len(texts) == len(set(texts))


def test_a_sentence_that_leans_on_the_one_before_brings_it_along(sample_desk: Desk) -> None:
    answer = sample_desk.ask("According to a federal study, how much more likely were Asian and "
                             "African American people to be misidentified than white men?")
    assert "100 times" in answer.text
    assert answer.text.index("federal study") < answer.text.index("It found")


def test_stream_gives_pieces_then_the_same_answer(sample_desk: Desk) -> None:
    question = "Who is the Microsoft president quoted on police sales?"
    pieces = list(sample_desk.ask_stream(question))
    final = pieces[-1]
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert "".join(pieces[:-1]) == final.text
    assert final.text == sample_desk.ask(question).text


def test_filters_apply_before_ranking(sample_desk: Desk) -> None:
    geekwire = sample_desk.search("facial recognition police", filters={"outlet": "geekwire"})
    assert geekwire and {p.outlet for p in geekwire} == {"GeekWire"}
    dated = sample_desk.search("facial recognition police", filters={"since": "2021-01-01"})
    assert {p.source for p in dated} == {"001_e04abfde3c193795.txt"}
    assert sample_desk.search("facial recognition", filters={"until": "2020-12-31"}) == []
    one = sample_desk.search("Ring partnerships", filters={"sources": ["003_c4a1611d945e26cc.txt"]})
    assert {p.source for p in one} == {"003_c4a1611d945e26cc.txt"}
    with pytest.raises(UsageError, match="since"):
        sample_desk.search("ban", filters={"since": "last tuesday-ish"})
    with pytest.raises(UsageError, match="unknown filter"):
        sample_desk.search("ban", filters={"colour": "red"})


def test_answer_is_json_serialisable(sample_desk: Desk) -> None:
    answer = sample_desk.ask("Which organizations could still use Rekognition?")
    data = json.loads(answer.to_json())
    assert data["text"] == answer.text and data["refused"] is False
    assert set(data["citations"][0]) >= {"number", "source", "title", "outlet", "date", "quote",
                                         "passage", "start", "end"}
    assert data["retrieved"][0]["sources"]


def test_bad_questions_and_histories_are_usage_errors(sample_desk: Desk) -> None:
    with pytest.raises(UsageError, match="empty"):
        sample_desk.ask("   ")
    with pytest.raises(UsageError, match=r"history\[0\]"):
        sample_desk.ask("What happened?", history=[{"role": "system", "content": "x"}])


def test_syndicated_copies_collapse_into_one_passage(open_desk, tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    story = ("The county board voted on Tuesday to ban the use of drones by its police "
             "department, citing privacy complaints from residents. The ban takes effect in June.")
    (folder / "a.txt").write_text(story, encoding="utf-8")
    (folder / "b.txt").write_text(story + " Reporting by the Valley Ledger.", encoding="utf-8")
    (folder / "c.txt").write_text("The city council debated parking fees for three hours.",
                                  encoding="utf-8")
    desk: Desk = open_desk()
    desk.ingest([folder])
    passages = desk.search("county board drone ban")
    assert len([p for p in passages if p.source in ("a.txt", "b.txt")]) == 1
    assert set(passages[0].sources) == {"a.txt", "b.txt"}
    answer = desk.ask("When does the drone ban take effect?")
    assert "June" in answer.text and _cited(answer) == {"a.txt", "b.txt"}


def test_module_level_ask_reuses_one_desk(sample_index: Path) -> None:
    from newsdesk import desk as desk_module

    first = newsdesk.ask("Which organizations could still use Rekognition?",
                         index_dir=sample_index)
    second = newsdesk.ask("Who is Microsoft's president?", index_dir=sample_index)
    assert not first.refused and "Brad Smith" in second.text
    assert list(desk_module._DESKS) == [sample_index.resolve()]
    desk_module._DESKS.pop(sample_index.resolve()).close()


def test_an_empty_archive_says_so(open_desk) -> None:
    answer = open_desk().ask("Anything?")
    assert answer.refused and "empty" in answer.text


def test_desk_open_defaults_to_the_environment_then_index(tmp_path: Path, monkeypatch,
                                                        sample_index: Path) -> None:
    monkeypatch.setenv("NEWSDESK_INDEX_DIR", str(sample_index))
    with Desk.open() as desk:
        assert desk.index_dir == sample_index
    monkeypatch.delenv("NEWSDESK_INDEX_DIR")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(newsdesk.IndexMissingError, match="index"):
        Desk.open()
    assert settings_for(tmp_path).index_dir == tmp_path


def test_the_archive_serves_llamaindex_programs_too(sample_desk: Desk) -> None:
    nodes = sample_desk.as_retriever(k=3).retrieve("Ring partnerships with police")
    assert len(nodes) == 3 and nodes[0].score > 0
    assert nodes[0].node.metadata["source"] == sample_desk.search("Ring partnerships with police",
                                                                  k=3)[0].source
    assert "Ring" in nodes[0].node.get_content()


def test_a_question_about_the_article_itself_is_answered_from_its_metadata(
        sample_desk: Desk) -> None:
    answer = sample_desk.ask("Which outlet published the story saying Amazon is halting police "
                             "use of facial recognition for one year?")
    assert not answer.refused
    citation = answer.citations[0]
    assert citation.field == "outlet" and citation.quote == "The Daily Dot"
    assert "The Daily Dot" in answer.text and answer.sentences[0].citations == (1,)
    stored = sample_desk.archive.catalog.article(citation.source)
    assert stored is not None and stored.article.outlet == citation.quote


def test_a_follow_up_about_when_it_was_published_uses_the_article_s_date(
        sample_desk: Desk) -> None:
    history = [{"role": "user", "content": "Until when has Amazon extended its moratorium, "
                                           "according to Reuters?"},
               {"role": "assistant", "content": "Amazon has extended its moratorium on law "
                                                "enforcement use “until further notice.” [1]"}]
    answer = sample_desk.ask("When was that article published?", history=history)
    assert not answer.refused and answer.citations[0].field == "date"
    assert answer.citations[0].source == "001_e04abfde3c193795.txt"
    assert "18 May 2021" in answer.text


def test_a_question_about_the_latest_report_orders_by_date_and_says_the_date(
        sample_desk: Desk) -> None:
    answer = sample_desk.ask("What is the latest news on Amazon's moratorium on police use "
                             "of Rekognition?")
    assert not answer.refused
    assert answer.text.startswith("(18 May 2021) ")  # the only dated article is the newest
    assert answer.citations[0].date == "2021-05-18"
