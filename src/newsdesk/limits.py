"""How much one question may ask of the archive: its length, its history, and (in the web
chat) how often one client may ask.

A question is read word by word against the whole archive, so its cost grows with its length:
unbounded, one client's 1 MB question held one of the chat's two answering slots for 37 s.
The limits are settings (see `Settings`); `Desk` checks every question against them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence

from newsdesk.config import Settings
from newsdesk.errors import LimitError


def check_question(question: str, history: Sequence[Mapping[str, str]] | None,
                   settings: Settings) -> None:
    """Raise LimitError when the question or its history is longer than the settings allow."""
    if len(question) > settings.max_question_chars:
        raise LimitError(
            f"the question is {len(question):,} characters long; the limit is "
            f"{settings.max_question_chars:,} (setting NEWSDESK_MAX_QUESTION_CHARS)")
    turns = list(history or [])
    if len(turns) > settings.max_history_turns:
        raise LimitError(
            f"the history has {len(turns):,} turns; the limit is {settings.max_history_turns:,} "
            "(setting NEWSDESK_MAX_HISTORY_TURNS): send only the most recent turns")
    chars = sum(len(turn["content"]) for turn in turns)
    if chars > settings.max_history_chars:
        raise LimitError(
            f"the history holds {chars:,} characters; the limit is "
            f"{settings.max_history_chars:,} (setting NEWSDESK_MAX_HISTORY_CHARS): send only the "
            "most recent turns")


def recent_history(history: Sequence[Mapping[str, str]], settings: Settings) -> list[dict[str, str]]:
    """The newest turns of a conversation that fit the history limits (whole question and
    answer pairs; follow-ups only ever look a few turns back)."""
    kept: list[dict[str, str]] = []
    chars = 0
    for turn in reversed(history):
        chars += len(turn["content"])
        if len(kept) == settings.max_history_turns or chars > settings.max_history_chars:
            break
        kept.append(dict(turn))
    kept.reverse()
    if kept and kept[0]["role"] == "assistant":  # never start on an answer without its question
        kept.pop(0)
    return kept


class RateLimiter:
    """At most `per_minute` questions from one client in any 60 seconds (a moving window);
    0 means no limit."""

    def __init__(self, per_minute: int) -> None:
        from limits import RateLimitItemPerMinute, storage, strategies

        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(max(per_minute, 1))
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one question from `client`; raise LimitError when it is one too many."""
        if self.per_minute <= 0:
            return
        with self._lock:
            if self._limiter.hit(self._item, client):
                return
            reset = self._limiter.get_window_stats(self._item, client).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise LimitError(
            f"too many questions from this address: at most {self.per_minute} a minute "
            f"(setting NEWSDESK_CHAT_RATE); ask again in {wait} s")
