"""The fitted answer model: how sentences are scored and when a question is refused.

Its numbers live in rules/answer_model.json, written by benchmarks/calibrate.py, which fits them
on one set of archives and reports how they hold on others (the file records both). Scoring is
a standardised logistic regression, so it needs numpy only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from newsdesk.errors import NewsdeskError
from newsdesk.evidence import ANSWERS, Evidence
from newsdesk.features import FEATURES, column
from newsdesk.question import Question

MODEL_FILE = "answer_model.json"
REFUSAL_FEATURES: tuple[str, ...] = (
    "top", "margin", "top_items", "top_names", "top_article_cover", "top_predicate",
    "top_local", "names_found", "years_found", "numbers_found", "head_in_top", "typed",
    "typed_items")
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")


@dataclass(frozen=True, slots=True)
class Linear:
    """A standardised linear score: ((x - mean) / scale) · coef + intercept."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept)

    @classmethod
    def read(cls, data: dict[str, Any], names: Sequence[str], what: str) -> Linear:
        if list(data.get("features", [])) != list(names):
            raise NewsdeskError(
                f"the answer model's {what} features do not match this version of newsdesk; "
                "refit it with `python benchmarks/calibrate.py`")
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["scale"], np.float32),
                   np.asarray(data["coef"], np.float32), float(data["intercept"]))

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        """The fields `read` takes."""
        return {"features": list(names), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "coef": self.coef.round(6).tolist(),
                "intercept": round(self.intercept, 6)}


@dataclass(frozen=True, slots=True)
class AnswerModel:
    """The sentence scorer, the refusal scorer, and how many sentences an answer takes."""

    sentence: Linear
    refusal: Linear
    threshold: float  # least probability that the archive answers, to answer
    ratio: float  # a further sentence joins when its probability is this share of the best's
    candidates: int  # at most this many sentences per part of a question
    max_sentences: int
    words: int = 60  # further sentences join only while the answer stays within this many words

    def sentence_scores(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds that each candidate sentence holds the answer."""
        return self.sentence(matrix) if len(matrix) else np.zeros(0, np.float32)

    def answerable(self, features: np.ndarray) -> float:
        """The probability that the archive answers the question."""
        return float(1.0 / (1.0 + np.exp(-self.refusal(features))))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerModel:
        """The model as benchmarks/calibrate.py writes it."""
        choose = data["selection"]
        return cls(Linear.read(data["sentence"], FEATURES, "sentence"),
                   Linear.read(data["refusal"], REFUSAL_FEATURES, "refusal"),
                   float(data["refusal"]["threshold"]), float(choose["ratio"]),
                   int(choose["candidates"]), int(choose["max_sentences"]),
                   int(choose["words"]))


@cache
def load_model() -> AnswerModel:
    """The shipped answer model, read once."""
    raw = (resources.files("newsdesk") / "rules" / MODEL_FILE).read_text(encoding="utf-8")
    return AnswerModel.from_json(json.loads(raw))


def refusal_features(evidence: Evidence, question: Question, matrices: Sequence[np.ndarray],
                     probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """What says whether the archive answers: how good the best sentence is (its log-odds and
    lead over the next, whether it holds the kind of thing asked for and its article what the
    question names), and whether the candidates mention the question's names, years and
    figures at all."""
    best_part = max(range(len(matrices)), key=lambda p: float(probabilities[p].max()))
    p = np.sort(probabilities[best_part])[::-1]
    logit = _logit(p)
    row = matrices[best_part][int(np.argmax(probabilities[best_part]))]
    texts = " ".join(s.text for s in evidence.sentences)
    typed = any(ANSWERS[part.answer_class] for part in question.parts or (question,))
    values = {
        "top": logit[0],
        "margin": logit[0] - (logit[1] if len(logit) > 1 else logit[0] - 5.0),
        "top_items": row[column("answer_items")],
        "top_names": row[column("article_names")],
        "top_article_cover": row[column("article_cover")],
        "top_predicate": row[column("predicate")],
        "top_local": row[column("cover_local")],
        "names_found": 1.0 - len(evidence.missing_names()) / max(1, len(question.names)),
        "years_found": _found_share(_YEAR.findall(question.text), texts),
        "numbers_found": _found_share([n for n in _NUMBER.findall(question.text)
                                       if not _YEAR.fullmatch(n)], texts),
        "head_in_top": row[column("head_in")],
        # whether the question wants a kind of item (a name, a date…), and whether the best
        # sentence holds one: an open question ("what did they argue") is not refused for it
        "typed": float(typed),
        "typed_items": row[column("answer_items")] if typed else 1.0,
    }
    return np.asarray([values[name] for name in REFUSAL_FEATURES], np.float32)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))


def _found_share(needles: Sequence[str], haystack: str) -> float:
    """The share of the question's years (or figures) the candidates state; 1 when it has none."""
    if not needles:
        return 1.0
    return sum(1 for n in needles if n in haystack) / len(needles)
