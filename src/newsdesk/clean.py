"""Boilerplate removal and metadata extraction for scraped news text, driven by a rules file."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dateutil import parser as dateparser

# A prose line ends like a sentence, in any script: . ! ? : ; … and their CJK, Arabic, Devanagari,
# Ethiopic, Armenian and Greek forms, possibly followed by closing quotes or brackets.
_TERMINAL = re.compile(r"[.!?:;…。！？｡．：；؟۔।॥።፧։;][\"'”’»)\]」』）】〉》]*$")
# Han, kana and the CJK punctuation-free letters: scripts written without spaces between words.
_DENSE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
TITLE_RULE = "headline (kept as the title)"
_FIELDS = ("title", "author", "outlet", "date")


@dataclass(frozen=True, slots=True)
class _Block:
    name: str
    start: re.Pattern[str]
    end: re.Pattern[str]
    max_lines: int


@dataclass(frozen=True, slots=True)
class _Capture:
    name: str
    field: str
    pattern: re.Pattern[str]
    action: str
    hint: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Strip:
    name: str
    pattern: re.Pattern[str]
    hint: frozenset[str]


def _find(pattern: re.Pattern[str], line: str) -> re.Match[str] | None:
    """Patterns anchored with ^ are tried at the line start only (search would try them all)."""
    return pattern.match(line) if pattern.pattern.startswith("^") else pattern.search(line)


def _hinted(hint: frozenset[str], present: frozenset[str]) -> bool:
    return not hint or not hint.isdisjoint(present)


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled cleaning rules; `fingerprint` changes whenever the rules file does."""

    blocks: tuple[_Block, ...]
    captures: tuple[_Capture, ...]
    drop: re.Pattern[str]
    drops: tuple[tuple[str, re.Pattern[str]], ...]  # the same rules one by one, to name a match
    strips: tuple[_Strip, ...]
    outlets: Mapping[str, str]
    hints: re.Pattern[str]  # every rule's hint words, to find in one pass which a line holds
    label_max_words: int
    headline_min_words: int
    headline_max_words: int
    caption_min_words: int
    fingerprint: str

    def drop_name(self, line: str) -> str:
        """The name of the [[drop]] rule that removes the line, or ''."""
        if not self.drop.match(line):
            return ""
        return next((name for name, pattern in self.drops if pattern.match(line)), "drop")


@dataclass(frozen=True, slots=True)
class Removed:
    """A line the rules took out of an article, and the name of the rule that did."""

    line: str
    rule: str


@dataclass(frozen=True, slots=True)
class Cleaned:
    """An article's text with boilerplate removed, paragraphs separated by blank lines."""

    text: str
    title: str = ""
    author: str = ""
    outlet: str = ""
    date: str = ""
    removed: tuple[Removed, ...] = ()


@dataclass(slots=True)
class _State:
    headings: frozenset[str] = frozenset()
    meta: dict[str, str] = field(default_factory=dict)
    blocks: list[list[str]] = field(default_factory=lambda: [[]])
    removed: list[Removed] = field(default_factory=list)
    seen_prose: bool = False
    title_taken: bool = False
    labels: bool = True


def default_rules_path() -> Path:
    """The rules file shipped with newsdesk."""
    return Path(str(resources.files("newsdesk") / "rules" / "boilerplate.toml"))


@cache
def load_rules(path: Path | None = None) -> Rules:
    """Read and compile a rules file (the shipped one by default)."""
    path = path or default_rules_path()
    raw = path.read_bytes()
    data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    flags = re.IGNORECASE
    structure = data.get("structure", {})
    hints = sorted({h.lower() for section in ("metadata", "strip") for rule in data.get(section, [])
                    for h in rule.get("hint", [])}, key=len, reverse=True)
    return Rules(
        blocks=tuple(
            _Block(b["name"], re.compile(b["start"], flags), re.compile(b["end"], flags),
                   int(b.get("max_lines", 30)))
            for b in data.get("block", [])
        ),
        captures=tuple(
            _Capture(m["name"], m["field"], re.compile(m["pattern"]), m.get("action", "keep"),
                     frozenset(h.lower() for h in m.get("hint", [])))
            for m in data.get("metadata", [])
        ),
        # Drop rules are matched from the line start: one alternation, tried at one position.
        drop=re.compile("|".join(f"(?:{d['pattern']})" for d in data.get("drop", [])) or "(?!)",
                        flags),
        drops=tuple((d["name"], re.compile(f"(?:{d['pattern']})", flags))
                    for d in data.get("drop", [])),
        strips=tuple(_Strip(x["name"], re.compile(x["pattern"], flags),
                            frozenset(h.lower() for h in x.get("hint", [])))
                     for x in data.get("strip", [])),
        outlets={name.lower(): name for name in data.get("outlets", {}).get("names", [])},
        hints=re.compile("|".join(re.escape(h) for h in hints) or "(?!)"),
        label_max_words=int(structure.get("label_max_words", 5)),
        headline_min_words=int(structure.get("headline_min_words", 3)),
        headline_max_words=int(structure.get("headline_max_words", 25)),
        caption_min_words=int(structure.get("caption_min_words", 6)),
        fingerprint=hashlib.sha256(raw).hexdigest()[:16],
    )


def clean(raw: str, rules: Rules, known: Mapping[str, str] | None = None,
          headings: Collection[str] = (), *, labels: bool = True) -> Cleaned:
    """Remove boilerplate lines and collect metadata; `known` fields win over found ones.

    `headings` are lines the source marked as headings (HTML, Markdown): they are kept as their
    own paragraphs, never taken for labels. A line equal to a known title at the top of the
    text is the headline itself, moved to the title field. `labels=False` keeps short
    unpunctuated lines (for text an HTML extractor already chose block by block, where such
    lines are subheadings, list items and table cells far more often than labels).
    """
    state = _State(headings=frozenset(h.strip() for h in headings), labels=labels)
    title = (known or {}).get("title", "").strip()
    lines = list(_unwrap(raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"), rules,
                         state.headings))
    i = 0
    while i < len(lines):
        i = _take(lines, i, rules, state, title)
    paragraphs = [p for block in state.blocks for p in _join_wrapped(block, state)]
    meta = {k: v for k, v in state.meta.items() if v}
    for key, value in (known or {}).items():
        if value and value.strip():
            meta[key] = value.strip()
    return Cleaned(
        text="\n\n".join(paragraphs),
        title=meta.get("title", ""),
        author=meta.get("author", ""),
        outlet=meta.get("outlet", ""),
        date=normalise_date(meta.get("date", "")),
        removed=tuple(state.removed),
    )


def _unwrap(lines: list[str], rules: Rules, headings: frozenset[str]) -> Iterator[str]:
    """Stripped lines, with hard-wrapped prose joined: a line that stops mid-sentence and is
    followed by one starting in lower case is the same paragraph."""
    pending: str | None = None
    for raw in lines:
        line = raw.strip()
        if (pending and line[:1].islower() and not _TERMINAL.search(pending)
                and pending not in headings and word_count(pending) > rules.label_max_words):
            pending = f"{pending} {line}"
            continue
        if pending is not None:
            yield pending
        pending = line
    if pending is not None:
        yield pending


def _take(lines: list[str], i: int, rules: Rules, state: _State, title: str) -> int:
    """Decide the fate of lines[i] (and of a whole block it opens); the next line to look at."""
    line = lines[i]
    if not line:
        if state.blocks[-1]:
            state.blocks.append([])
        return i + 1
    for block in rules.blocks:
        if block.start.search(line):
            end = _block_end(lines, i, block)
            if end is not None:
                state.removed += [Removed(x, block.name) for x in lines[i:end + 1] if x]
                return end + 1
            # no end within reach: only the opening line goes, the story after it stays
            state.removed.append(Removed(line, f"{block.name} (opening line; no end found)"))
            return i + 1
    if title and not state.seen_prose and line == title and not state.title_taken:
        state.title_taken = True
        state.removed.append(Removed(line, TITLE_RULE))
        return i + 1
    reason = _take_line(line, rules, state)
    if reason:
        state.removed.append(Removed(line, reason))
    return i + 1


def _block_end(lines: list[str], i: int, block: _Block) -> int | None:
    """The index of the line that closes the block opened at lines[i], within its bound."""
    for j in range(i + 1, min(len(lines), i + 1 + block.max_lines)):
        if block.end.search(lines[j]):
            return j
    return None


def _take_line(line: str, rules: Rules, state: _State) -> str:
    """Keep one stripped line as prose, or return the name of the rule that removes it."""
    present = frozenset(rules.hints.findall(line.lower()))
    line, captured = _capture(line, rules, state.meta, present)
    if not line:
        return captured
    dropped = rules.drop_name(line)
    if dropped:
        return dropped
    line, stripped = _strip_credits(line, rules, present)
    if not line:
        return f"{stripped} (too little left)"
    outlet = rules.outlets.get(line.rstrip(".").lower())
    if outlet:
        state.meta.setdefault("outlet", outlet)
        return "outlet signature"
    heading = line in state.headings
    if heading or not _TERMINAL.search(line):
        if _headline(line, rules, state) or heading:  # a paragraph of its own
            state.blocks[-1].append(line)
            state.blocks.append([])
            return ""
        if state.labels and word_count(line) <= rules.label_max_words:
            return f"label (no sentence end, {rules.label_max_words} words or fewer)"
        if state.labels and _uncased(line) == "lower":
            return "label (all lower case, no sentence end)"
    else:
        state.seen_prose = True
    state.blocks[-1].append(line)
    return ""


def _headline(line: str, rules: Rules, state: _State) -> bool:
    """Take the first unpunctuated line of a headline's length, before any prose, as the title."""
    if state.seen_prose or "title" in state.meta or _TERMINAL.search(line):
        return False
    if not rules.headline_min_words <= word_count(line) <= rules.headline_max_words:
        return False
    if _uncased(line) == "lower":
        return False
    state.meta["title"] = line
    return True


def word_count(line: str) -> int:
    """Words in a line; in scripts written without spaces, every two characters count as one."""
    if not _DENSE.search(line):
        return len(line.split())
    dense = len(_DENSE.findall(line))
    rest = _DENSE.sub(" ", line).split()
    return (dense + 1) // 2 + sum(1 for token in rest if any(ch.isalnum() for ch in token))


def _uncased(line: str) -> str:
    """'lower' when the line has letters with case and none in upper case; else ''."""
    return "lower" if line == line.lower() and line != line.upper() else ""


def _capture(line: str, rules: Rules, meta: dict[str, str],
             present: frozenset[str]) -> tuple[str, str]:
    """Collect metadata the line states; return what is left of the line ('' = drop it) and
    the name of the rule that dropped it. `present` holds the rules' hint words in the line."""
    dropped_by = ""
    for rule in rules.captures:
        match = _find(rule.pattern, line) if _hinted(rule.hint, present) else None
        if not match:
            continue
        meta.setdefault(rule.field, match.group("value").strip())
        if rule.action == "drop-line":
            dropped_by = dropped_by or rule.name
        elif rule.action == "cut":
            line = (line[: match.start()] + " " + line[match.end():]).strip()
            dropped_by = dropped_by or ("" if line else rule.name)
    return ("", dropped_by) if dropped_by else (line, "")


def _strip_credits(line: str, rules: Rules, present: frozenset[str]) -> tuple[str, str]:
    """Remove photo credits inside a line; drop what is left if it is only a caption stub.
    Returns what is left and the name of the last rule that removed something."""
    stripped, name = line, ""
    for rule in rules.strips:
        if _hinted(rule.hint, present):
            stripped, n = rule.pattern.subn("", stripped)
            name = rule.name if n else name
    if stripped == line:
        return line, ""
    stripped = stripped.strip()
    return (stripped if word_count(stripped) >= rules.caption_min_words else ""), name


def _join_wrapped(lines: list[str], state: _State) -> list[str]:
    """Lines of one block become paragraphs; a line cut mid-sentence joins the next one
    (never a heading or the headline)."""
    paragraphs: list[str] = []
    for line in lines:
        previous = paragraphs[-1] if paragraphs else ""
        if (previous and previous != state.meta.get("title") and previous not in state.headings
                and line not in state.headings and not _TERMINAL.search(previous)):
            paragraphs[-1] = f"{previous} {line}"
        else:
            paragraphs.append(line)
    return paragraphs


def normalise_date(value: str) -> str:
    """An ISO day (YYYY-MM-DD) for a stated date, or '' when it cannot be read as one."""
    value = value.strip()
    if not value:
        return ""
    try:
        parsed: datetime = dateparser.parse(value, default=datetime(1, 1, 1))
    except (ValueError, OverflowError):
        return ""
    return "" if parsed.year < 1800 else parsed.date().isoformat()
