"""What a sentence states, recognised by pattern: dates, numbers, amounts, durations, names.

Used to tell whether a sentence holds the kind of answer a question wants ("when" → a date
the question does not already mention), and where in the sentence that answer stands.
Deliberately simple and language-model free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|"
           "December|Jan\\.|Feb\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\.")
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORD = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                "forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|"
                "billions|dozen|dozens|half|twice|double|triple")

YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)s?\b")
MONTH = re.compile(rf"\b(?:{_MONTHS})")
WEEKDAY = re.compile(rf"\b(?:{_WEEKDAYS})\b")
RELATIVE_DATE = re.compile(
    r"\b(?:yesterday|today|tonight|(?:last|this|next|earlier this|later this) "
    r"(?:week|month|year|spring|summer|fall|autumn|winter|weekend))\b", re.IGNORECASE)
TIME = re.compile(r"\b\d{1,2}(?::\d\d)?\s?(?:a\.m\.|p\.m\.|am\b|pm\b)|\b(?:noon|midnight)\b",
                  re.IGNORECASE)
NUMBER = re.compile(
    rf"(?<![\w.,])(?:\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?:\s?%|\s?percent)?(?![\w,.]*\d)|"
    rf"\b(?:{_NUMBER_WORD})\b", re.IGNORECASE)
MONEY = re.compile(
    r"[$€£¥]\s?\d[\d,.]*(?:\s?(?:million|billion|thousand|m|bn)\b)?|\b\d[\d,.]*\s?"
    r"(?:million|billion|thousand)?\s?(?:dollars|euros|pounds|yen|usd|bitcoin)\b", re.IGNORECASE)
DURATION = re.compile(
    rf"\b(?:\d+|{_NUMBER_WORD}|a|an|several|few)[\s-](?:years?|months?|weeks?|days?|hours?|"
    r"decades?)(?:-long)?\b|\b(?:yearlong|year-long|months-long|indefinitely|until further "
    r"notice|permanently|temporarily|for good)\b|\b\d[\d,.]*[\s-](?:miles?|kilometers?|km|"
    r"feet|foot|meters?|metres?|yards?)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<![\w’'])(?:[A-Z][\w’'&.-]*[\w]|[A-Z])")
_NOT_NAMES = frozenset([
    "i", "a", "the", "an", "it", "he", "she", "we", "they", "this", "that", "but", "and", "in",
    "on", "at", "as", "if", "so", "or", "its", "his", "her", "their", "our", "my", "your", "there",
    "these", "those", "what", "when", "while", "after", "before", "since", "according", "until",
    "unless", "also", "still", "yet", "meanwhile", "however", "for", "with", "by", "from", "to",
    "not", "no", "all", "some", "many", "most", "one", "two", "three", "both", "each", "every",
    "last", "first", "next", "then", "now", "here", "why", "how", "who", "where", "which", "do",
    "does", "did", "is", "was", "are", "were", "be", "has", "have", "had", "will", "would", "can",
    "could", "should", "may", "might", "must", "like", "just", "even", "only", "because",
    "although", "though", "once", "over", "under", "around", "about", "into", "through", "during",
    "without", "within", "among", "between", "against", "toward", "towards", "upon", "whether",
    "such", "other", "another", "any", "more", "less", "few", "several", "much", "part", "studies",
])
# Words that mark a capitalised run as an organisation or place rather than a person.
_NOT_PERSON = frozenset([
    "center", "centre", "institute", "university", "college", "foundation", "association", "union",
    "department", "agency", "bureau", "committee", "council", "commission", "court", "corporation",
    "corp", "inc", "ltd", "llc", "company", "co", "group", "analytics", "post", "times", "news",
    "journal", "tribune", "herald", "gazette", "wire", "press", "media", "network", "services",
    "systems", "technologies", "technology", "labs", "partners", "capital", "bank", "fund",
    "pipeline", "airlines", "house", "senate", "congress", "party", "police", "city", "county",
    "state", "states", "river", "street", "avenue", "national", "international", "federal",
    "northern", "southern", "eastern", "western", "north", "south", "east", "west", "new", "san",
    "santa", "los", "las", "saint", "st", "fort", "lake", "mount", "american", "african", "asian",
    "european", "chinese", "russian", "british", "canadian", "mexican", "indian", "japanese",
    "korean", "iranian", "israeli", "black", "white", "brown", "democratic", "republican",
    "democrats", "republicans", "security", "homeland", "affairs", "infrastructure", "energy",
    "justice", "administration", "office", "ministry", "authority", "children", "families",
    "rights", "liberties", "freedom", "communities",
])


@dataclass(frozen=True, slots=True)
class Item:
    """An answer-like thing found in a sentence: its text and the word position it starts at."""

    text: str
    position: int


def mid_sentence_names(sentences: Iterable[str]) -> set[str]:
    """Words seen capitalised somewhere other than at a sentence's start."""
    seen: set[str] = set()
    for sentence in sentences:
        lead = len(sentence) - len(sentence.lstrip(" “\"‘'("))
        for match in _CAPITALISED.finditer(sentence):
            if match.start() > lead:
                seen.add(_bare(match.group()))
    return seen


def _bare(word: str) -> str:
    return re.sub(r"[’']s$", "", word).rstrip(".").lower()


def _word_position(sentence: str, offset: int) -> int:
    return len(sentence[:offset].split())


def names(sentence: str, known: set[str] | frozenset[str] = frozenset(),
          keep_initial: bool = False) -> list[Item]:
    """Proper-name words of a sentence, lower-cased, possessives dropped. A capitalised first
    word counts only if it is an acronym, in `known` (words seen capitalised mid-sentence), or
    `keep_initial` is set."""
    out: list[Item] = []
    lead = len(sentence) - len(sentence.lstrip(" “\"‘'("))
    for match in _CAPITALISED.finditer(sentence):
        word = _bare(match.group())
        if not word or word in _NOT_NAMES or MONTH.fullmatch(match.group()) \
                or WEEKDAY.fullmatch(match.group()):
            continue
        raw = match.group()
        if match.start() == lead and not (raw.isupper() and len(raw) > 1) and word not in known \
                and not keep_initial:
            continue
        out.append(Item(word, _word_position(sentence, match.start())))
    return out


_RUN = re.compile(r"(?<![\w’'])[A-Z][\w’'.-]*(?: [A-Z][\w’'.-]*)+")


_TITLES = frozenset([
    "president", "ceo", "chief", "chairman", "chairwoman", "chair", "director", "secretary",
    "senator", "sen", "sen.", "rep", "rep.", "representative", "gov", "gov.", "governor", "mayor",
    "judge", "justice", "attorney", "general", "deputy", "dr", "dr.", "mr", "mr.", "ms", "ms.",
    "mrs", "mrs.", "prof", "professor", "minister", "prime", "officer", "commissioner",
    "spokesperson", "spokesman", "spokeswoman", "founder", "executive", "vice", "head", "leader",
    "lawmaker", "sheriff", "chancellor",
])


def people(sentence: str) -> list[Item]:
    """Runs of two to four capitalised words shaped like a person's name ("Nicole Ozer"), cut
    at titles ("President Brad Smith"), acronyms, possessives ("California’s Nicole Ozer") and
    the words of organisations, places and nationalities ("Marinus Analytics")."""
    found: list[Item] = []
    for run in _RUN.finditer(sentence):
        segment: list[tuple[str, int]] = []
        offset = run.start()
        for raw in run.group().split(" "):
            word = re.sub(r"[’']s$", "", raw).rstrip(".")
            bare = word.lower()
            stop = (bare in _NOT_PERSON or bare in _NOT_NAMES or bare in _TITLES
                    or raw.rstrip(".").lower() in _TITLES or word.isupper()
                    or MONTH.fullmatch(raw) is not None or WEEKDAY.fullmatch(raw) is not None)
            if not stop:
                segment.append((word, offset))
            if stop or word != raw.rstrip("."):  # a separator, or a possessive ends the name
                _keep(segment, found, sentence)
                segment = []
            offset += len(raw) + 1
        _keep(segment, found, sentence)
    return found


def _keep(segment: list[tuple[str, int]], found: list[Item], sentence: str) -> None:
    if 2 <= len(segment) <= 4:
        found.append(Item(" ".join(w for w, _ in segment).lower(),
                          _word_position(sentence, segment[0][1])))


PERCENT = re.compile(
    r"\b\d[\d,.]*\s?(?:%|percent\b|per cent\b|percentage points?\b)|%", re.IGNORECASE)

_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "year": (YEAR,), "month": (MONTH,), "weekday": (WEEKDAY,), "time": (TIME,),
    "money": (MONEY,),
    "duration": (DURATION,), "number": (NUMBER,), "percent": (PERCENT,),
}
# What each evidence kind is made of (see `found`): a date is any of its parts.
KINDS = ("person", "name", "date", "number", "money", "percent", "duration")
_KIND_PATTERNS = {"date": ("year", "month", "weekday", "time"), "number": ("number",),
                  "money": ("money",), "percent": ("percent",), "duration": ("duration",)}


def found(sentence: str, question: str, question_names: Iterable[str],
          known: set[str] | frozenset[str] = frozenset()) -> dict[str, list[Item]]:
    """Every kind of answer-like item (see KINDS) in a sentence that the question does not
    already hold, by kind. A capitalised first word counts as a name only if it is an acronym
    or in `known`."""
    asked = set(question_names)
    lowered = question.lower()
    everything, initial = _everything(sentence)
    out: dict[str, list[Item]] = {}
    for kind, items in everything:
        if kind == "person":
            out[kind] = [i for i in items if not set(i.text.split()) <= asked]
        elif kind == "name":
            out[kind] = [i for i in items if i.text not in asked
                         and (i.position != initial or i.text in known)]
        else:
            out[kind] = [i for i in items if i.text not in lowered]
    return out


@lru_cache(maxsize=65536)
def _everything(sentence: str) -> tuple[tuple[tuple[str, tuple[Item, ...]], ...], int]:
    """The items of every kind in a sentence, whatever the question, and the word position of
    a capitalised first word that is not an acronym (-1 when there is none)."""
    lead = len(sentence) - len(sentence.lstrip(" “\"‘'("))
    first = _CAPITALISED.match(sentence, lead)
    initial = _word_position(sentence, lead) if first and not (
        first.group().isupper() and len(first.group()) > 1) else -1
    kinds: list[tuple[str, tuple[Item, ...]]] = [
        ("person", tuple(people(sentence))),
        ("name", tuple(names(sentence, keep_initial=True))),
    ]
    for kind, parts in _KIND_PATTERNS.items():
        items: list[Item] = []
        for part in parts:
            for match in _PATTERNS[part][0].finditer(sentence):
                text = match.group().strip()
                if kind == "number" and YEAR.fullmatch(text):
                    continue  # a year is not a count
                items.append(Item(text.lower(), _word_position(sentence, match.start())))
        kinds.append((kind, tuple(items)))
    return tuple(kinds), initial
