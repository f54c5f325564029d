"""The check of generative mode: does the passage a sentence cites support it?

Every name, figure and date of the sentence, and every negation, must be found in the cited
passage (in the quote chosen as its support, or in the passage's outlet, title and date, which
the model was shown); and most of its other content words must be found there too (by stem, or
by a close word: "ban" ~ "moratorium"). The quote is the run of at most three consecutive
sentences of the passage that holds the most of it, kept as an exact span of the article.
Sentences that address a model ("Ignore previous instructions…") are never support.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import numpy as np

from newsdesk import facts, keyword
from newsdesk.chunk import sentence_spans
from newsdesk.embed import word_vectors
from newsdesk.quotes import Quote
from newsdesk.retrieve import Hit

# Share of the sentence's content words (not its names, figures or dates, which must all be
# found) that its support must hold. "Most" in the words; three of four is strict enough
# that a sentence about something else fails, and loose enough for a paraphrase's verb forms.
MOST = 0.75
# Word similarity (wordllama) from which a different word counts as found: close synonyms
# ("ban" ~ "moratorium") pass, related but different words ("police" ~ "court") do not.
CLOSE_WORD = 0.7
WINDOW = 3  # consecutive sentences of a passage one supporting quote may span
_NEGATION = re.compile(r"\b(?:not|no|never|nor|neither|none|nobody|nothing|without)\b|n[’']t\b",
                       re.IGNORECASE)
_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                 "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
                 "twelve": "12", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
                 "hundred": "100", "hundreds": "100", "thousand": "1000", "thousands": "1000",
                 "dozen": "12", "dozens": "12", "twice": "2", "double": "2", "half": "0.5"}


# Month names and their abbreviations ("Jun.", "Sept."); facts.MONTH knows only AP's.
_MONTH = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)(?:[a-z]{0,6})\b\.?")


@dataclass(frozen=True, slots=True)
class Claims:
    """What a sentence asserts that must be found in its support."""

    names: tuple[str, ...]
    figures: tuple[str, ...]  # normalised: "1,800" → "1800", "ten" → "10", "5 percent" → "5%"
    dates: tuple[str, ...]  # months as their first three letters, weekdays, relative dates
    negated: bool
    words: tuple[str, ...]  # its other content words, lower-cased


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sentence passed, why not, and its supporting quote in each cited passage."""

    passed: bool
    reason: str
    quotes: tuple[Quote, ...] = ()
    cited: tuple[int, ...] = ()  # the indexes (in the hits) of the passages that support it


def claims(sentence: str) -> Claims:
    """Read a sentence for the check."""
    text = _plain(sentence)
    first = next(iter(re.findall(r"[A-Za-z][\w’'&.-]*", text)), "").lower()
    first = re.sub(r"'s$", "", first).rstrip(".")
    names = [i.text for i in facts.names(text, known={first}) if not _is_month(i.text)]
    figures = _figures(text)
    dates = _dates(text)
    skip = set(names) | {w for n in names for w in keyword.words(n)} | set(_NUMBER_WORDS)
    words = [w for w in keyword.words(text) if w not in skip and not w.isdigit()
             and not facts.MONTH.fullmatch(w.title()) and not facts.WEEKDAY.fullmatch(w.title())]
    return Claims(tuple(dict.fromkeys(names)), tuple(dict.fromkeys(figures)),
                  tuple(dict.fromkeys(dates)), bool(_NEGATION.search(text)),
                  tuple(dict.fromkeys(words)))


def missing(claim: Claims, support: str, header: str = "") -> list[str]:
    """What of the claim the support text does not hold, as phrases for a reason."""
    lowered = _plain(f"{support} {header}").lower()
    tokens = set(re.findall(r"[\w’'&.-]+", lowered)) | set(re.findall(r"\w+", lowered))
    out = [f"the name “{n}”" for n in claim.names if n not in tokens
           and not any(t.startswith(n) and t[len(n):] in ("’s", "'s") for t in tokens)]
    figures = set(_figures(f"{support} {header}"))
    out += [f"the figure “{f}”" for f in claim.figures if f not in figures]
    dates = set(_dates(f"{support} {header}"))
    out += [f"the date “{d}”" for d in claim.dates if d not in dates]
    if claim.negated and not _NEGATION.search(support):
        out.append("its negation")
    return out


def word_share(claim: Claims, support: str) -> float:
    """Share of the claim's content words found in the support (by stem or a close word)."""
    if not claim.words:
        return 1.0
    stems = {keyword.stem(w) for w in keyword.words(support)}
    absent = [w for w in claim.words if keyword.stem(w) not in stems]
    found = len(claim.words) - len(absent)
    vocabulary = sorted({w for w in keyword.words(support) if not w.isdigit()})
    if absent and vocabulary:
        similar = word_vectors(absent) @ word_vectors(vocabulary).T
        found += int(np.count_nonzero(similar.max(axis=1) >= CLOSE_WORD))
    return found / len(claim.words)


def check(sentence: str, cited: Sequence[int], hits: Sequence[Hit]) -> Verdict:
    """The verdict on one generated sentence citing passages `cited` (1-based, as numbered in
    the prompt) of `hits`."""
    if not cited:
        return Verdict(False, "it cites no passage")
    unknown = [n for n in cited if not 1 <= n <= len(hits)]
    if unknown:
        return Verdict(False, f"it cites [{unknown[0]}], a passage it was not given "
                              f"(there were {len(hits)})")
    claim = claims(sentence)
    chosen: list[tuple[int, Quote]] = []
    for number in dict.fromkeys(cited):
        hit = hits[number - 1]
        quote = _best_quote(claim, hit)
        if quote is not None:
            chosen.append((number - 1, quote))
    if not chosen:
        passages = " ".join(hits[n - 1].text for n in cited)
        lacking = missing(claim, passages)
        return Verdict(False, f"the cited passage lacks {_join(lacking)}" if lacking
                       else "its cited passage says none of it")
    support = " ".join(q.text for _, q in chosen)
    header = " ".join(header_text(hits[i]) for i, _ in chosen)
    lacking = missing(claim, support, header)
    if lacking:
        return Verdict(False, f"the cited passage lacks {_join(lacking)}")
    share = word_share(claim, support)
    if share < MOST:
        return Verdict(False, f"the cited passage holds only {share:.0%} of its words "
                              f"(at least {MOST:.0%} needed)")
    return Verdict(True, "", tuple(q for _, q in chosen), tuple(i for i, _ in chosen))


def _best_quote(claim: Claims, hit: Hit) -> Quote | None:
    """The run of sentences of the passage that holds the most of the claim, or None when no
    sentence of it holds any of the claim's names, figures or words."""
    text = hit.article.article.text
    header = header_text(hit)
    asked = len(claim.names) + len(claim.figures) + len(claim.dates) + int(claim.negated)
    best: tuple[float, int, int] | None = None
    for run in readable_runs(hit):
        for i in range(len(run)):
            for j in range(i, min(i + WINDOW, len(run))):
                window = text[run[i][0]:run[j][1]]
                found = asked - len(missing(claim, window, header))
                score = found + _overlap(claim, window) - 0.01 * (j - i)
                if best is None or score > best[0]:
                    best = (score, run[i][0], run[j][1])
    if best is None or best[0] <= 0:
        return None
    return Quote(hit.article, best[1], best[2], hit.row.start, hit.row.end)


def _overlap(claim: Claims, window: str) -> float:
    """Share of the claim's content words in the window, by stem (cheap, for choosing)."""
    if not claim.words:
        return 0.0
    stems = {keyword.stem(w) for w in keyword.words(window)}
    return sum(keyword.stem(w) in stems for w in claim.words) / len(claim.words)


def readable_runs(hit: Hit) -> list[list[tuple[int, int]]]:
    """The sentence spans of a hit's passage in runs of consecutive sentences, cut where a
    sentence that addresses a model was left out."""
    text = hit.article.article.text
    runs: list[list[tuple[int, int]]] = [[]]
    for s, e in sentence_spans(text, hit.row.start, hit.row.end):
        if addresses_model(text[s:e]):
            runs.append([])
        else:
            runs[-1].append((s, e))
    return [run for run in runs if run]


def addresses_model(sentence: str) -> bool:
    """Whether a sentence speaks to a language model (rules/instructions.toml)."""
    return any(p.search(sentence) for p in _instruction_patterns())


@cache
def _instruction_patterns() -> tuple[re.Pattern[str], ...]:
    raw = (resources.files("newsdesk") / "rules" / "instructions.toml").read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    return tuple(re.compile(p, re.IGNORECASE) for p in data["instructions"]["patterns"])


def header_text(hit: Hit) -> str:
    """What the model was shown about a passage besides its text: outlet, title and date (the
    date also as words, so that "May 18, 2021" finds "2021-05-18")."""
    article = hit.article.article
    return " ".join([article.outlet, article.title, date_words(article.date)])


def date_words(iso: str) -> str:
    """"2021-05-18" → "May 18 2021" ("" for no date)."""
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return ""
    return f"{day:%B} {day.day} {day.year}"


def _plain(text: str) -> str:
    return text.replace("’", "'").replace("“", '"').replace("”", '"')


def _figures(text: str) -> list[str]:
    out = []
    for match in facts.NUMBER.finditer(_plain(text)):
        token = match.group().lower().replace(",", "").replace(" ", "")
        token = token.replace("percent", "%")
        out.append(_NUMBER_WORDS.get(token, token))
    return out


def _dates(text: str) -> list[str]:
    out = [m.group()[:3].lower() for m in _MONTH.finditer(text) if _is_month(m.group())]
    out += [m.group().lower() for m in facts.WEEKDAY.finditer(text)]
    out += [m.group().lower() for m in facts.RELATIVE_DATE.finditer(text)]
    return out


def _is_month(word: str) -> bool:
    """Whether a capitalised word matched by _MONTH is a month ("March", "Dec."), not "Mark"."""
    bare = word.rstrip(".").lower()
    months = ("january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december")
    return any(m == bare or (len(bare) >= 3 and m.startswith(bare) and len(bare) <= 4)
               for m in months)


def _join(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sentence_supported(sentence: str, quotes: Sequence[str], headers: Sequence[str]) -> bool:
    """The check again, on an Answer's own data: the sentence against the quotes of its
    citations and their outlet, title and date (used by evaluation to recount faithfulness)."""
    claim = claims(sentence)
    support = " ".join(quotes)
    return not missing(claim, support, " ".join(headers)) and word_share(claim, support) >= MOST
