"""Reading a question: what kind of answer it wants, its terms and names, its parts, and what
a follow-up refers back to — by rules kept in rules/questions.toml, without a language model."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from newsdesk import keyword

_TOKEN = re.compile(r"[A-Za-z0-9][\w’'.-]*[\w]|[A-Za-z0-9]")
# "…, and (roughly) what …" or "…, and, according to X, what …": a new question starts.
_WH_WORD = r"(?:what|which|who|whom|whose|when|where|why|how)\b"
_PART_SPLIT = re.compile(
    rf",?\s+(?:and|but)\s*(?=(?:[\w’'-]+\s+){{0,3}}{_WH_WORD}|,[^,?]{{1,80}},\s*{_WH_WORD})"
    r"|;\s+", re.IGNORECASE)
_MARKERS = re.compile(r"\[\d+\]")
REFERENT = 2.0  # a name carried into a follow-up weighs this many of its other words
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "both": 2, "2": 2, "3": 3, "4": 4, "5": 5}
_WANTS = re.compile(r"\b(?:name|list|which|what|give)\s+(?:the\s+)?(two|three|four|five|six|"
                    r"seven|eight|both|[2-8])\b|\b(two|three|four|five|both)\s+\w+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The answer-type lexicon and follow-up words from rules/questions.toml."""

    nouns: Mapping[str, str]
    phrases: tuple[tuple[re.Pattern[str], str], ...]
    anywhere: tuple[tuple[re.Pattern[str], str], ...]
    money_cues: frozenset[str]
    anaphora: tuple[str, ...]
    pointers: frozenset[str]
    pointer_phrases: tuple[str, ...]
    ignore: frozenset[str]
    reason_cues: tuple[str, ...]
    metadata: Mapping[str, tuple[re.Pattern[str], ...]]
    time: Mapping[str, tuple[re.Pattern[str], ...]]


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon, read once."""
    raw = (resources.files("newsdesk") / "rules" / "questions.toml").read_bytes()
    data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    nouns: dict[str, str] = {}
    for kind, words in data["types"].items():
        for word in words:
            nouns.setdefault(word, kind)
    phrases = tuple((re.compile(rf"\b{re.escape(p)}\b"), kind)
                    for p, kind in sorted(data["phrases"].items(), key=lambda kv: -len(kv[0])))
    anywhere = tuple((re.compile(rf"\b{re.escape(p)}\b"), kind)
                     for p, kind in data["anywhere"].items())
    pointers = data["followup"]["pointers"]
    return Lexicon(nouns, phrases, anywhere, frozenset(data["money"]["cues"]),
                   tuple(data["anaphora"]["openers"]),
                   frozenset(p for p in pointers if " " not in p),
                   tuple(p for p in pointers if " " in p),
                   frozenset(data["ignore"]["words"]),
                   tuple(data["reasons"]["cues"]),
                   _patterns(data["metadata"]), _patterns(data["time"]))


def _patterns(table: Mapping[str, Sequence[str]]) -> dict[str, tuple[re.Pattern[str], ...]]:
    return {key: tuple(re.compile(p) for p in patterns) for key, patterns in table.items()}


def time_order(text: str) -> str:
    """Whether a question asks for the latest, the earliest, or how something changed over
    time ("latest", "earliest", "change"), or ''."""
    lowered = " ".join(text.lower().split())
    for order, patterns in lexicon().time.items():
        if any(p.search(lowered) for p in patterns):
            return order
    return ""


# The classes of question the answer model tells apart (answer types, with the parts of a date
# taken together, and "open" for what/how questions that want no particular kind of item).
CLASSES = ("person", "name", "when", "number", "money", "duration", "why", "open")
_CLASS_OF = {"date": "when", "year": "when", "month": "when", "weekday": "when", "time": "when",
             "reason": "why"}


@dataclass(frozen=True, slots=True)
class Question:
    """A question read for retrieval and answer selection."""

    text: str
    query: str  # what retrieval searches for (with the referent of a follow-up)
    expects: str | None  # answer type, see rules/questions.toml
    wants: int  # how many items it asks for
    terms: Mapping[str, float]  # stemmed terms: 1.0 its own, 0.5 from the conversation
    names: tuple[str, ...]  # proper names it mentions (their words, lower-cased)
    surface: Mapping[str, str] = field(default_factory=dict)  # a term's word as written
    head: str = ""  # the noun after which/what/how many ("company", "partnerships"), stemmed
    said: str = ""  # the previous answer, for a follow-up (it should not simply be repeated)
    slot: str = ""  # the wh-phrase that stands for the answer ("which British actress")
    parts: tuple[Question, ...] = field(default=())
    followup: bool = False

    @property
    def answer_class(self) -> str:
        """Which of CLASSES the question (or part) is."""
        if self.expects is None:
            return "open"
        return _CLASS_OF.get(self.expects, self.expects)


def analyse(text: str, history: Sequence[Mapping[str, str]] | None = None) -> Question:
    """Read a question, resolving a follow-up against the conversation so far."""
    text = " ".join(text.split())
    context, carried = _context(text, history or [])
    own = _terms(text)
    earlier = [t for t in _terms(context) if t not in own]
    # the conversation says what the question is about: its words together weigh at most half
    # as much as the question's own, the names it mentions (what "it" or "she" stands for)
    # twice as much as its other words
    referents = {keyword.stem(n) for n in _names(context)}
    units = sum(REFERENT if t in referents else 1.0 for t in earlier) or 1.0
    share = min(0.5, 0.5 * max(1, len(own)) / units)
    terms = {t: share * (REFERENT if t in referents else 1.0) for t in earlier} \
        | dict.fromkeys(own, 1.0)
    names = _names(text)
    parts = tuple(_part(p.strip(" ,"), names) for p in _PART_SPLIT.split(text) if p.strip(" ,"))
    query = f"{text} {carried}" if context else text
    return Question(text=text, query=query, expects=answer_type(text), wants=_wants(text),
                    terms=terms, names=names, parts=parts if len(parts) > 1 else (),
                    followup=bool(context), surface=_surface(f"{context} {text}"),
                    head=head_noun(text),
                    said=_last_answer(history or []) if context else "", slot=slot(text))


def _part(text: str, names: tuple[str, ...]) -> Question:
    return Question(text=text, query=text, expects=answer_type(text), wants=_wants(text),
                    terms=dict.fromkeys(_terms(text), 1.0), names=names, surface=_surface(text),
                    head=head_noun(text),
                    slot=slot(text))


_WH = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b")
_LEADING = frozenset({"is", "was", "are", "were", "the", "a", "an", "kind", "type", "sort", "of"})
_PHRASE_END = frozenset({"did", "does", "do", "has", "have", "had", "can", "could", "will",
                         "would", "should", "might", "may", "must", "is", "was", "are", "were",
                         "to", "for", "in", "on", "at", "by", "with", "from", "that", "who",
                         "which", "about", "of"})


def answer_type(text: str) -> str | None:
    """The kind of answer a question (or a part of one) asks for, or None for any."""
    return _reading(text)[0]


def slot(text: str) -> str:
    """The wh-phrase that stands for the answer: the question word and the words after it up
    to the verb ("which British actress", "how many world records", "who"), or ''."""
    first = _WH.search(text.lower())
    if not first:
        return ""
    words = _plain(text[first.start():])
    phrase = words[:1]
    if first.group() not in ("what", "which", "how"):
        return phrase[0]  # "who directed …": the verb is not part of what stands for the answer
    for word in words[1:5]:
        if word.lower() in _PHRASE_END or not word:
            break
        phrase.append(word)
    return " ".join(phrase)


def head_noun(text: str) -> str:
    """The stem of the noun the question asks about ("which tech company" → compani), or ''."""
    noun = _reading(text)[1]
    return keyword.stem(noun) if noun else ""


def _reading(text: str) -> tuple[str | None, str]:
    """(answer type, head noun). Only the first wh-word counts: in "What penalties apply to
    police who..." the "who" is a relative pronoun, not the question."""
    lex = lexicon()
    lowered = text.lower()
    for pattern, kind in lex.anywhere:
        found = pattern.search(lowered)
        if found:
            if kind != "name":
                return kind, ""
            noun_kind, noun = _noun_phrase(_plain(lowered[found.end():]), lex)
            return noun_kind or kind, noun  # "the name of the spokesperson" wants a person
    first = _WH.search(lowered)
    if not first:
        return None, ""
    rest = lowered[first.start():]
    for pattern, kind in lex.phrases:
        match = pattern.match(rest)
        if not match:
            continue
        after = _plain(rest[match.end():])
        noun = after[0] if after and kind == "number" and after[0] not in _PHRASE_END else ""
        if noun and len(after) > 1 and after[1] not in _PHRASE_END:
            noun = after[1]  # "how many police departments"
        if noun in lex.ignore:
            noun = ""
        if kind == "money" and not any(w in lex.money_cues or w.startswith("$") for w in after):
            return "number", noun
        return kind, noun
    if first.group() in ("what", "which"):
        picked, noun = _noun_phrase(_plain(rest)[1:], lex)
        if picked is None and first.group() == "which" and noun:
            picked = "name"  # "which club …": one named thing among others
        return picked, noun
    return None, ""


def _plain(text: str) -> list[str]:
    return [re.sub(r"[’']s$", "", w.strip("?.,;:!\"“”")) for w in text.split()]


def _noun_phrase(words: list[str], lex: Lexicon) -> tuple[str | None, str]:
    """The type of the first lexicon noun in the noun phrase after which/what, and that noun
    (or the phrase's first word): "which tech company" → (name, company); "what did" → None."""
    start = 0
    while start < len(words) and words[start] in _LEADING:
        start += 1
    phrase: list[str] = []
    for word in words[start:start + 4]:
        if word in _PHRASE_END:
            break
        phrase.append(word)
        for form in (word, word[:-3] + "y" if word.endswith("ies") else "",
                     word[:-2] if word.endswith("es") else "", word[:-1] if word.endswith("s") else ""):
            if form in lex.nouns:
                return lex.nouns[form], word
    nouns = [w for w in phrase if w not in lex.ignore and w not in lex.pointers]
    return None, nouns[-1] if nouns else ""


def _wants(text: str) -> int:
    match = _WANTS.search(text)
    if not match:
        return 1
    return _NUMBER_WORDS.get((match.group(1) or match.group(2)).lower(), 1)


def _terms(text: str) -> list[str]:
    """Stemmed content terms, without the words that only shape a question."""
    ignore = lexicon().ignore
    return list(dict.fromkeys(keyword.stem(w) for w in keyword.words(text) if w not in ignore)) \
        if text else []


def _surface(text: str) -> dict[str, str]:
    return {keyword.stem(w): w for w in keyword.words(text)}


def _names(text: str) -> tuple[str, ...]:
    """Proper names: capitalised words after the first, and acronyms, possessives dropped."""
    out: list[str] = []
    for i, token in enumerate(_TOKEN.findall(text)):
        word = re.sub(r"[’']s$", "", token)
        if (i > 0 and word[:1].isupper()) or (len(word) > 1 and word.isupper()):
            out.append(word.lower())
    return tuple(dict.fromkeys(out))


def _context(text: str, history: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """For a follow-up: the previous question and answer (whose terms weigh half), and what to
    add to the search: the previous question and the names its answer mentions."""
    if not history or not _points_back(text):
        return "", ""
    last_user = next((t["content"] for t in reversed(history) if t.get("role") == "user"), "")
    last_answer = _last_answer(history)
    names = " ".join(dict.fromkeys(_names(last_answer)))
    return f"{last_user} {last_answer}".strip(), f"{last_user} {names}".strip()


def _last_answer(history: Sequence[Mapping[str, str]]) -> str:
    text = next((t["content"] for t in reversed(history) if t.get("role") == "assistant"), "")
    return _MARKERS.sub("", text)


def _points_back(text: str) -> bool:
    lex = lexicon()
    lowered = f" {text.lower()} "
    words = {w.strip("?.,;:!") for w in lowered.split()}
    return bool(words & lex.pointers) or any(f" {p} " in lowered for p in lex.pointer_phrases) \
        or len(_terms(text)) <= 2
