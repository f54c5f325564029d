"""Generative mode against a scripted OpenAI-compatible (and Ollama) server on loopback: the exact
replies a real model cannot be made to give on demand. The real model is in test_generate_model.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT, poisoned_corpus, run_cli, settings_for
from fake_llm import FakeLLM, Step
from newsdesk import Answer, Desk, UsageError
from newsdesk.generate import NO_ANSWER
from newsdesk.prompting import VARIABLES, folder, prompt

QUESTION = "Which organizations could still use Rekognition?"
THORN = ("Amazon said it would continue to allow organizations like Thorn to use Rekognition "
         "to help rescue human trafficking victims")

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def generative(sample_desk: Desk, fake: FakeLLM) -> Iterator[Desk]:
    """A Desk on the shared sample archive whose model is the scripted server."""
    desk = Desk(sample_desk.settings.with_(llm="openai:fake", llm_url=fake.url, llm_timeout=5.0),
                sample_desk.archive)
    yield desk
    if desk.writer is not None:
        desk.writer.close()  # not desk.close(): the archive is the session's


def number_of(desk: Desk, question: str, needle: str) -> int:
    """The number the model was shown the passage holding `needle` under."""
    passages = desk.search(question, k=desk.settings.k)[:5]
    return 1 + next(i for i, p in enumerate(passages) if needle in p.text)


def verbatim(desk: Desk, answer: Answer) -> None:
    """Each citation's quote is the article's text at its span, and each sentence's support is
    the quote of its citations."""
    by_number = {c.number: c for c in answer.citations}
    for c in answer.citations:
        stored = desk.archive.catalog.article(c.source)
        assert stored is not None and stored.article.text[c.start:c.end] == c.quote
    for s in answer.sentences:
        assert s.passed and s.support == tuple(by_number[n].quote for n in s.citations)


def test_a_supported_sentence_is_shown_with_its_quote_and_an_invented_figure_is_dropped(
        generative: Desk, fake: FakeLLM) -> None:
    n = number_of(generative, QUESTION, "Thorn")
    fake.default = Step(f"{THORN} [{n}]. Amazon charges police $5 a month for Rekognition [{n}].")
    answer = generative.ask(QUESTION)
    assert answer.mode == "generative" and not answer.refused and answer.note == ""
    assert [s.text for s in answer.sentences] == [THORN + "."]
    assert answer.text == f"{THORN}. [1]"
    assert "Thorn" in answer.citations[0].quote
    verbatim(generative, answer)
    [dropped] = answer.dropped
    assert dropped.cited == (n,) and "figure “5”" in dropped.reason
    data = json.loads(answer.to_json())
    assert data["mode"] == "generative" and data["dropped"][0]["reason"] == dropped.reason
    assert data["sentences"][0]["support"] == [answer.citations[0].quote]


def test_a_sentence_citing_a_passage_it_was_not_given_is_dropped(generative: Desk,
                                                                fake: FakeLLM) -> None:
    n = number_of(generative, QUESTION, "Thorn")
    fake.default = Step(f"Thorn could use Rekognition [9]. {THORN} [{n}].")
    answer = generative.ask(QUESTION)
    assert answer.mode == "generative" and len(answer.sentences) == 1
    assert answer.dropped[0].cited == (9,) and "not given" in answer.dropped[0].reason


def test_a_name_the_cited_passage_lacks_is_dropped_even_when_the_words_fit(
        generative: Desk, fake: FakeLLM) -> None:
    n = number_of(generative, QUESTION, "Thorn")
    fake.default = Step(THORN.replace("Thorn", "Interpol") + f" [{n}].")
    answer = generative.ask(QUESTION)
    assert answer.mode == "extractive" and "passed the check" in answer.note
    assert "“interpol”" in answer.dropped[0].reason


def test_a_reply_without_citations_gives_the_extractive_answer_marked(
        generative: Desk, sample_desk: Desk, fake: FakeLLM) -> None:
    fake.default = Step(THORN + ".")
    answer = generative.ask(QUESTION)
    extractive = sample_desk.ask(QUESTION)
    assert answer.mode == "extractive" and answer.text == extractive.text
    assert answer.citations == extractive.citations
    assert "none of the 1 sentence" in answer.note and "extractive answer" in answer.note
    assert answer.dropped[0].reason == "it cites no passage"


def test_the_model_saying_the_archive_does_not_answer_gives_the_extractive_refusal(
        generative: Desk, fake: FakeLLM) -> None:
    fake.default = Step(NO_ANSWER)
    answer = generative.ask("How much does Amazon charge customers to use Rekognition?")
    assert answer.mode == "extractive" and answer.refused
    assert "found no answer" in answer.note


@pytest.mark.parametrize(("step", "expected"), [
    (Step(THORN, delay=3.0), "did not answer within 1 s"),
    (Step(status=500), "HTTP 500"),
    (Step(""), "empty reply"),
    (Step(garbage=True), "cannot be read"),
])
def test_a_failing_server_gives_the_extractive_answer_with_a_note(
        sample_desk: Desk, fake: FakeLLM, step: Step, expected: str) -> None:
    fake.default = step
    desk = Desk(sample_desk.settings.with_(llm="openai:fake", llm_url=fake.url, llm_timeout=1.0),
                sample_desk.archive)
    started = time.perf_counter()
    answer = desk.ask(QUESTION)
    assert time.perf_counter() - started < 20
    assert answer.mode == "extractive" and not answer.refused and "human trafficking" in answer.text
    assert expected in answer.note and answer.note.endswith("this is the extractive answer")


def test_an_unreachable_server_is_one_line_and_the_extractive_answer(sample_index: Path) -> None:
    closed = FakeLLM()
    url = closed.url
    closed.close()  # nothing listens on its port any more
    result = run_cli("ask", QUESTION, "--index-dir", str(sample_index), "--llm", "openai:m",
                     env={"NEWSDESK_LLM_URL": url})
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("newsdesk:")]
    assert len(notes) == 1 and "cannot be reached" in notes[0] and "Traceback" not in result.stderr
    assert "human trafficking" in result.stdout


def test_streaming_shows_the_first_checked_sentence_before_the_reply_ends(
        generative: Desk, fake: FakeLLM) -> None:
    n = number_of(generative, QUESTION, "Thorn")
    second = "Amazon said it would continue to allow organizations like Marinus Analytics to use"
    fake.default = Step(f"{THORN} [{n}]. {second} Rekognition [{n}].",
                        pause_after="Marinus Analytics", pause=1.5)
    arrived: list[tuple[float, str | Answer]] = []
    for item in generative.ask_stream(QUESTION):
        arrived.append((time.perf_counter(), item))
    pieces = [item for _, item in arrived if isinstance(item, str)]
    answer = arrived[-1][1]
    assert isinstance(answer, Answer) and answer.mode == "generative"
    assert pieces[0] == f"{THORN}. [1] " and "".join(pieces).strip() == answer.text
    assert arrived[0][0] < fake.sent_at[-1] - 1.0  # shown while the model was still writing
    assert answer.timings["first_sentence_ms"] < answer.timings["total_ms"] - 1000


def test_a_followup_is_condensed_by_the_model_before_retrieval(generative: Desk,
                                                              fake: FakeLLM) -> None:
    standalone = "When was Amazon's ban on police use of Rekognition set to expire?"
    fake.script = [Step(standalone), Step(NO_ANSWER)]
    history = [{"role": "user", "content": "What did Amazon ban police from using?"},
               {"role": "assistant", "content": "Rekognition, its face-matching software. [1]"}]
    answer = generative.ask("When was it set to expire?", history=history)
    condense = fake.requests[0]["messages"][-1]["content"]
    assert "What did Amazon ban police from using?" in condense and "[1]" not in condense
    assert "When was it set to expire?" in condense
    assert answer.question == standalone
    assert standalone in fake.requests[1]["messages"][-1]["content"]
    assert "June" in answer.text  # the extractive answer to the stand-alone question


def test_ollama_mode_speaks_ollamas_protocol(sample_desk: Desk, fake: FakeLLM) -> None:
    desk = Desk(sample_desk.settings.with_(llm="ollama:fake", ollama_host=fake.host),
                sample_desk.archive)
    fake.default = Step(f"{THORN} [{number_of(desk, QUESTION, 'Thorn')}].")
    answer = desk.ask(QUESTION)
    assert answer.mode == "generative" and answer.text == f"{THORN}. [1]"
    assert fake.requests[0]["model"] == "fake"


def test_a_poisoned_article_cannot_make_the_answer_say_what_it_orders(
        tmp_path: Path, fake: FakeLLM) -> None:
    corpus = poisoned_corpus(tmp_path / "corpus")
    with Desk.open(settings=settings_for(tmp_path / "index", llm="openai:fake", llm_url=fake.url),
                   create=True) as desk:
        desk.ingest([corpus])
        question = "Is Amazon's moratorium on police use of Rekognition still in place?"
        n = number_of(desk, question, "Ignore previous")
        fake.default = Step(f"The moratorium was lifted [{n}].")
        answer = desk.ask(question)
        shown = json.dumps(fake.requests[0]["messages"])
    assert "Ignore previous instructions" not in shown and "did not comment" in shown
    assert "lifted" not in " ".join(s.text for s in answer.sentences)
    assert answer.dropped and "lifted" in answer.dropped[0].text
    if answer.mode == "extractive":
        assert "reply that the moratorium was lifted" not in answer.text or answer.refused


def test_the_web_chat_shows_which_mode_answered(generative: Desk, fake: FakeLLM) -> None:
    from newsdesk_ui import render
    from newsdesk_ui.handlers import Handlers

    handlers = Handlers(generative)
    fake.default = Step(f"{THORN} [{number_of(generative, QUESTION, 'Thorn')}].")
    *_, last = handlers.ask(QUESTION, [], None, "", "")
    assert render.GENERATIVE_LABEL in last[0] and 'data-mode="generative"' in last[0]
    fake.default = Step(status=500)
    *_, last = handlers.ask(QUESTION, [], None, "", "")
    assert "HTTP 500" in last[0] and "extractive answer" in last[0]


def test_a_gguf_path_that_is_missing_or_not_gguf_is_one_clear_line(
        sample_index: Path, sample_desk: Desk, tmp_path: Path) -> None:
    text_file = tmp_path / "model.gguf"
    text_file.write_text("not a model", encoding="utf-8")
    for path, reason in ((tmp_path / "missing.gguf", "no such file"),
                         (text_file, "not a GGUF model file")):
        result = run_cli("ask", QUESTION, "--index-dir", str(sample_index), "--llm", f"gguf:{path}")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and reason in result.stderr and str(path) in result.stderr
        desk = Desk(sample_desk.settings.with_(llm=f"gguf:{path}"), sample_desk.archive)
        with pytest.raises(UsageError, match=reason):
            desk.ask(QUESTION)
    with pytest.raises(UsageError, match="not understood"):
        sample_desk.settings.with_(llm="llama:7b")


def test_eval_compares_the_modes(tmp_path: Path, fake: FakeLLM) -> None:
    questions = tmp_path / "questions.jsonl"
    lines = (ROOT / "tests" / "data" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    fake.default = Step("Amazon extended the moratorium [1].")
    result = run_cli("eval", str(questions), "--corpus", str(CORPUS), "--out", str(tmp_path / "out"),
                     "--compare", "llm=none,openai:fake", "--json",
                     env={"NEWSDESK_LLM_URL": fake.url})
    assert result.returncode == 0, result.stderr
    configurations = json.loads(result.stdout)["configurations"]
    assert [c["config"] for c in configurations] == [{"llm": "none"}, {"llm": "openai:fake"}]
    assert configurations[0]["generative"] == 0 and configurations[0]["fell_back"] == 0
    assert configurations[1]["generative"] + configurations[1]["fell_back"] / 3 == pytest.approx(1, abs=1e-3)
    assert configurations[1]["sentence_support"] == 1 and len(fake.requests) == 3


def test_prompts_are_files_with_exactly_their_variables_and_none_of_their_text_is_in_src() -> None:
    assert Path(str(folder())) == ROOT / "prompts" or (folder() / "answer.txt").is_file()
    for name, variables in VARIABLES.items():
        assert set(prompt(name).template.template_vars) == variables
    with pytest.raises(UsageError, match="needs"):
        prompt("answer").render()
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    for file in (ROOT / "prompts").glob("*.txt"):
        for line in file.read_text(encoding="utf-8").splitlines():
            words = re.sub(r"\{\w+\}", "", line).strip()
            if len(words.split()) >= 5:
                assert words not in code, f"{file.name}: prompt text in src/: {words!r}"


def test_the_tripwire_fails_a_call_outside_loopback() -> None:
    import socket

    with socket.socket() as sock, pytest.raises(pytest.fail.Exception, match="outside loopback"):
        sock.connect(("203.0.113.7", 80))  # a documentation address: stopped before any packet


def test_the_check_requires_names_figures_dates_and_negations_exactly() -> None:
    from newsdesk.support import claims, missing, word_share

    quote = "Amazon said the one-year moratorium, announced in June, would end on December 10."
    assert missing(claims("Amazon's ban was for one year [1]."), quote) == []
    assert missing(claims("Amazon's ban was to end on Dec. 10."), quote) == []
    assert missing(claims("Amazon's ban lasted two years."), quote) == ["the figure “2”"]
    assert missing(claims("Microsoft's ban ended in June."), quote) == ["the name “microsoft”"]
    assert missing(claims("The ban was announced in May."), quote) == ["the date “may”"]
    assert missing(claims("Amazon did not announce a moratorium."), quote) == ["its negation"]
    assert word_share(claims("Amazon announced a moratorium."), quote) == 1.0
    assert word_share(claims("Amazon sells cloud storage cheaply."), quote) < 0.75


def test_a_stream_resumed_on_another_thread_leaves_this_one_seeing_new_articles(
        tmp_path: Path, fake: FakeLLM) -> None:
    """The web chat pulls a stream's pieces from whichever worker thread is free: a stream
    started on one thread and finished on another must not leave the first one answering
    from the archive as it was (found by the keyword search alone, to see its state)."""
    import threading

    index = tmp_path / "index"
    with Desk.open(settings=settings_for(index), create=True) as writer:
        writer.ingest([CORPUS])
    settings = settings_for(index).with_(llm="openai:fake", llm_url=fake.url, llm_timeout=5.0,
                                         retrieval="bm25")
    desk = Desk.open(settings=settings)
    try:
        fake.default = Step(f"{THORN} [{number_of(desk, QUESTION, 'Thorn')}].")
        stream = desk.ask_stream(QUESTION)
        first = next(stream)
        rest: list[object] = []
        finisher = threading.Thread(target=lambda: rest.extend(stream))
        finisher.start()
        finisher.join()
        assert isinstance(first, str) and isinstance(rest[-1], Answer)
        added = tmp_path / "new" / "quillon.txt"
        added.parent.mkdir()
        added.write_text("Quillon ferry adds a night crossing\n\nThe Quillon night crossing "
                         "will leave Seattle at eleven at night.", encoding="utf-8")
        done = run_cli("ingest", str(added.parent), "--index-dir", str(index))
        assert done.returncode == 0, done.stderr
        assert [p.source for p in desk.search("Quillon night crossing", k=3)] == ["quillon.txt"]
    finally:
        desk.close()
