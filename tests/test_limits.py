"""Limits on a question, its history and a client's pace: a clear refusal, never a stall."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from newsdesk import Desk, Settings
from newsdesk.errors import LimitError, UsageError
from newsdesk.limits import RateLimiter, recent_history
from ui_fixtures import REKOGNITION, free_port, newsdesk, server_env, stop, wait_for_http

# isort: split
from newsdesk_ui.handlers import Handlers

MEGABYTE_QUESTION = ("Which organizations could still use Rekognition? " * 21_000).strip()  # 1 MB


def _desk(sample_desk: Desk, **limits: Any) -> Desk:
    """The shared sample archive under other limits."""
    return Desk(sample_desk.settings.with_(**limits), sample_desk.archive)


def test_desk_refuses_a_question_or_history_over_the_limits(sample_desk: Desk) -> None:
    with pytest.raises(LimitError, match=r"the question is 1,028,999 characters long; the limit "
                                         r"is 2,000 \(setting NEWSDESK_MAX_QUESTION_CHARS\)"):
        sample_desk.ask(MEGABYTE_QUESTION)
    with pytest.raises(LimitError, match="NEWSDESK_MAX_QUESTION_CHARS"):
        list(sample_desk.ask_stream(MEGABYTE_QUESTION))
    with pytest.raises(LimitError, match="NEWSDESK_MAX_QUESTION_CHARS"):
        sample_desk.search(MEGABYTE_QUESTION)
    turn = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Amazon. [1]"}]
    with pytest.raises(LimitError, match="the history has 22 turns; the limit is 20"):
        sample_desk.ask("Why?", history=turn * 11)
    long_turns = [{"role": "user", "content": "x" * 15_000}, {"role": "assistant", "content": "y" * 6_000}]
    with pytest.raises(LimitError, match="the history holds 21,000 characters; the limit is 20,000"):
        sample_desk.ask("Why?", history=long_turns)
    # at the limits, questions are answered as usual
    assert not sample_desk.ask(REKOGNITION, history=turn * 10).refused
    padded = REKOGNITION + " " * (2000 - len(REKOGNITION) - 1) + "?"
    assert len(padded) == 2000 and not sample_desk.ask(padded).refused
    small = _desk(sample_desk, max_question_chars=20)
    with pytest.raises(LimitError, match="limit is 20 "):
        small.ask(REKOGNITION)


def test_limits_are_settings_with_defaults_and_checked_values() -> None:
    defaults = Settings.from_env(env={})
    assert (defaults.max_question_chars, defaults.max_history_turns, defaults.max_history_chars,
            defaults.chat_rate) == (2000, 20, 20_000, 30)
    env = {"NEWSDESK_MAX_QUESTION_CHARS": "500", "NEWSDESK_MAX_HISTORY_TURNS": "4",
           "NEWSDESK_MAX_HISTORY_CHARS": "900", "NEWSDESK_CHAT_RATE": "0"}
    chosen = Settings.from_env(env=env)
    assert (chosen.max_question_chars, chosen.max_history_turns, chosen.max_history_chars,
            chosen.chat_rate) == (500, 4, 900, 0)
    with pytest.raises(UsageError, match="NEWSDESK_MAX_QUESTION_CHARS='many' is not a number"):
        Settings.from_env(env={"NEWSDESK_MAX_QUESTION_CHARS": "many"})
    with pytest.raises(UsageError, match="max_history_turns must be at least 1"):
        Settings.from_env(env={"NEWSDESK_MAX_HISTORY_TURNS": "0"})


def test_a_long_conversation_keeps_only_its_recent_turns() -> None:
    settings = Settings.from_env(env={}, max_history_turns=4, max_history_chars=50)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
               for i in range(9)]
    assert [t["content"] for t in recent_history(history, settings)] == ["turn 6", "turn 7", "turn 8"]
    wide = [{"role": "user", "content": "q" * 30}, {"role": "assistant", "content": "a" * 30},
            {"role": "user", "content": "last"}]
    assert recent_history(wide, settings) == [{"role": "user", "content": "last"}]


def test_the_cli_refuses_an_over_long_question_in_one_line(sample_index: Path) -> None:
    done = run_cli("ask", "why " * 600, "--index-dir", str(sample_index))
    assert done.returncode == 1
    assert done.stderr == ("newsdesk: the question is 2,400 characters long; the limit is 2,000 "
                           "(setting NEWSDESK_MAX_QUESTION_CHARS)\n")


def test_the_chat_shows_a_limit_as_a_message_not_an_error(sample_desk: Desk) -> None:
    handlers = Handlers(_desk(sample_desk, chat_rate=2))
    updates = list(handlers.ask(MEGABYTE_QUESTION, [], None, "", ""))
    assert len(updates) == 1
    chat, _sources, turns, _box, _examples = updates[0]
    assert turns == []
    assert '<p class="nd-notice" role="status">Not asked: the question is 1,028,999 characters' in chat
    assert MEGABYTE_QUESTION[:200] not in chat  # the question itself is not echoed back
    # one client's pace: the refused question counted; one more is answered, then a notice
    answered = list(handlers.ask(REKOGNITION, [], None, "", ""))[-1][2]
    assert len(answered) == 1 and not answered[0].answer.refused
    chat, _, turns, _, _ = list(handlers.ask(REKOGNITION, answered, None, "", ""))[-1]
    assert turns == answered
    assert "Not asked: too many questions from this address: at most 2 a minute" in chat
    assert "(setting NEWSDESK_CHAT_RATE)" in chat
    import gradio as gr

    with pytest.raises(gr.Error, match="too many questions"):
        handlers.api_ask(REKOGNITION)


def test_the_rate_is_per_client_and_a_moving_window() -> None:
    limiter = RateLimiter(3)
    for _ in range(3):
        limiter.take("10.0.0.1")
    with pytest.raises(LimitError, match=r"ask again in (60|59) s"):
        limiter.take("10.0.0.1")
    limiter.take("10.0.0.2")  # another client is not held back
    RateLimiter(0).take("10.0.0.1")  # 0: no limit


@pytest.mark.slow
def test_a_normal_question_is_answered_at_once_while_huge_ones_are_refused(
        tmp_path: Path, sample_index: Path) -> None:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = server_env(tmp_path) | {"NEWSDESK_CHAT_RATE": "0"}  # the pace limit is tested above
    process = newsdesk("serve", "--index-dir", str(sample_index), "--port", str(port),
                       cwd=tmp_path, env=env)
    refusals: list[str] = []
    try:
        wait_for_http(url, process)
        clients = [Client(url, verbose=False) for _ in range(4)]
        clients[3].predict(REKOGNITION, [], {}, api_name="/ask")  # the models load on first use
        stop_flood = threading.Event()

        def flood(client: Client) -> None:
            while not stop_flood.is_set():
                try:
                    client.predict(MEGABYTE_QUESTION, [], {}, api_name="/ask")
                except Exception as exc:  # the refusal the server sends
                    refusals.append(str(exc))

        threads = [threading.Thread(target=flood, args=(c,), daemon=True) for c in clients[:3]]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(refusals) < 3 and time.monotonic() < deadline:  # the flood is in full swing
            time.sleep(0.05)
        started = time.perf_counter()
        answer = clients[3].predict(REKOGNITION, [], {}, api_name="/ask")
        waited = time.perf_counter() - started
        stop_flood.set()
        for thread in threads:
            thread.join(60)
    finally:
        stop(process)
    assert not answer["refused"] and "Thorn" in answer["text"]
    assert waited < 1.0, f"a normal question waited {waited:.2f} s behind the huge ones"
    assert refusals and all("the question is 1,028,999 characters long" in r for r in refusals)
