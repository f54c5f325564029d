"""Which language an article is written in, by py3langid (a maintained langid.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

# Below this many letters the guess is unreliable, and the language is left unknown.
_MIN_LETTERS = 20
# py3langid's normalised probability under which the language is left unknown. Articles of one
# language score above 0.99; mixed or very short texts fall below.
_MIN_CONFIDENCE = 0.5
_SAMPLE = 5000  # characters read: the first few paragraphs tell as well as the whole text


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> str:
    """The ISO 639-1 code of the text's language, or '' when it cannot be told."""
    sample = text[:_SAMPLE]
    if sum(ch.isalpha() for ch in sample) < _MIN_LETTERS:
        return ""
    language, confidence = _identifier().classify(sample)
    return str(language) if confidence >= _MIN_CONFIDENCE else ""
