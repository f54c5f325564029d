"""Words as the keyword index sees them, the same for chunks and questions.

Kept apart from the index itself so that the ingest helpers, which compute every chunk's
tokens, need neither numpy nor bm25s.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (and scikit-learn's) default token pattern
# Scripts written without spaces between words (Han, kana, and Hangul, whose words carry their
# particles): a run of them is indexed as its overlapping character pairs, as Lucene's CJK
# analyser does, so that a word of a question finds the same pairs inside a sentence.
_DENSE_RUN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af]+")
# What the manifest records: tokens as above, stop words and stems of English (the stemmer
# leaves other alphabets as written), character bigrams for the scripts above.
ANALYSER = "words-en-snowball+cjk-bigrams/1"
# Irregular verb forms the Snowball stemmer leaves apart from their base ("said" vs "say").
_IRREGULAR = {
    "said": "say", "says": "say", "told": "tell", "paid": "pay", "bought": "buy", "sold": "sell",
    "made": "make", "took": "take", "taken": "take", "found": "find", "began": "begin",
    "begun": "begin", "gave": "give", "given": "give", "got": "get", "gotten": "get",
    "thought": "think", "brought": "bring", "left": "leave", "held": "hold", "kept": "keep",
    "ran": "run", "won": "win", "spoke": "speak", "spoken": "speak", "wrote": "write",
    "written": "write", "chose": "choose", "chosen": "choose", "knew": "know", "known": "know",
    "met": "meet", "sent": "send", "spent": "spend", "stood": "stand", "grew": "grow",
    "grown": "grow", "drew": "draw", "drawn": "draw", "fell": "fall", "fallen": "fall",
    "rose": "rise", "risen": "rise", "led": "lead", "saw": "see", "seen": "see", "went": "go",
    "gone": "go", "came": "come", "became": "become", "felt": "feel", "lost": "lose",
    "built": "build", "sought": "seek", "caught": "catch", "taught": "teach", "fought": "fight",
    "struck": "strike", "hid": "hide", "hidden": "hide", "froze": "freeze", "frozen": "freeze",
    "stole": "steal", "stolen": "steal", "broke": "break", "broken": "break", "woke": "wake",
    "wore": "wear", "worn": "wear", "withdrew": "withdraw", "withdrawn": "withdraw",
    "overtook": "overtake", "undertook": "undertake", "forbade": "forbid", "shut": "shut",
}


@cache
def _analyzer() -> tuple[Any, frozenset[str]]:
    import Stemmer

    return Stemmer.Stemmer("english"), _stopwords()


def _stopwords() -> frozenset[str]:
    """bm25s's English stop words, read from its data module alone: importing bm25s itself
    costs each ingest helper 27 MB it has no other use for."""
    spec = importlib.util.find_spec("bm25s")  # finds the package without running it
    if spec is None or spec.origin is None:
        raise RuntimeError("bm25s is not installed; reinstall newsdesk")
    path = Path(spec.origin).with_name("stopwords.py")
    data = importlib.util.spec_from_file_location("newsdesk_bm25s_stopwords", path)
    if data is None or data.loader is None:
        import bm25s

        return frozenset(bm25s.stopwords.STOPWORDS_EN_PLUS)
    module = importlib.util.module_from_spec(data)
    data.loader.exec_module(module)
    return frozenset(module.STOPWORDS_EN_PLUS)


_STEMS: dict[str, str] = {}  # word -> its stem, "" for a stop word; bounded below


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, Snowball-stemmed words: the same for chunks and queries.

    Equivalent to `bm25s.tokenize(..., stopwords=STOPWORDS_EN_PLUS, stemmer=...)` with
    return_ids=False, plus irregular verbs mapped to their base form first; each distinct word
    is stemmed once per process (three times faster than bm25s.tokenize here).
    """
    stems = _STEMS
    if len(stems) > 1_000_000:
        stems.clear()
    out: list[list[str]] = []
    for text in texts:
        found = _found(text.lower())
        missing = [w for w in set(found) if w not in stems]
        if missing:
            stemmer, stopwords = _analyzer()
            for word, stemmed in zip(missing, stemmer.stemWords(
                    [_IRREGULAR.get(w, w) for w in missing]), strict=True):
                stems[word] = "" if word in stopwords else stemmed
        out.append([t for t in map(stems.__getitem__, found) if t])
    return out


def _found(lowered: str) -> list[str]:
    """The tokens of a lower-cased text before stemming: words, and character pairs of runs in
    scripts without spaces."""
    found = _WORD.findall(lowered)
    if not _DENSE_RUN.search(lowered):
        return found
    out: list[str] = []
    for word in found:
        out += _pairs(word) if _DENSE_RUN.search(word) else [word]
    return out


def _pairs(word: str) -> list[str]:
    """A word with runs of dense script: its other parts whole, each run as character pairs."""
    out: list[str] = []
    position = 0
    for match in _DENSE_RUN.finditer(word):
        if match.start() - position >= 2:
            out.append(word[position:match.start()])
        run = match.group()
        out += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
        position = match.end()
    if len(word) - position >= 2:
        out.append(word[position:])
    return out


def words(text: str) -> list[str]:
    """The lower-cased words of a text, as `tokenize` sees them before stemming."""
    _, stopwords = _analyzer()
    return [w for w in _found(text.lower()) if w not in stopwords]


def stem(word: str) -> str:
    """The stem `tokenize` gives one lower-cased word."""
    stemmer, _ = _analyzer()
    return str(stemmer.stemWord(_IRREGULAR.get(word, word)))
