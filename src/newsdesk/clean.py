"""Boilerplate removal and metadata extraction for scraped news text, driven by a rules file."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dateutil import parser as dateparser

# A prose line ends like a sentence: . ! ? : ; or … possibly followed by closing quotes/brackets.
_TERMINAL = re.compile(r"[.!?:;…][\"'”’)\]]*$")
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
    strips: tuple[_Strip, ...]
    outlets: Mapping[str, str]
    hints: re.Pattern[str]  # every rule's hint words, to find in one pass which a line holds
    label_max_words: int
    headline_max_words: int
    caption_min_words: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Cleaned:
    """An article's text with boilerplate removed, paragraphs separated by blank lines."""

    text: str
    title: str = ""
    author: str = ""
    outlet: str = ""
    date: str = ""


@dataclass(slots=True)
class _State:
    meta: dict[str, str] = field(default_factory=dict)
    blocks: list[list[str]] = field(default_factory=lambda: [[]])
    seen_prose: bool = False
    open_block: _Block | None = None
    block_lines: int = 0


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
        strips=tuple(_Strip(re.compile(x["pattern"], flags),
                            frozenset(h.lower() for h in x.get("hint", [])))
                     for x in data.get("strip", [])),
        outlets={name.lower(): name for name in data.get("outlets", {}).get("names", [])},
        hints=re.compile("|".join(re.escape(h) for h in hints) or "(?!)"),
        label_max_words=int(structure.get("label_max_words", 5)),
        headline_max_words=int(structure.get("headline_max_words", 25)),
        caption_min_words=int(structure.get("caption_min_words", 6)),
        fingerprint=hashlib.sha256(raw).hexdigest()[:16],
    )


def clean(raw: str, rules: Rules, known: Mapping[str, str] | None = None) -> Cleaned:
    """Remove boilerplate lines and collect metadata; `known` fields win over found ones."""
    state = _State()
    for line in _unwrap(raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"), rules):
        _take_line(line, rules, state)
    paragraphs = [p for block in state.blocks for p in _join_wrapped(block, state.meta)]
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
    )


def _unwrap(lines: list[str], rules: Rules) -> Iterator[str]:
    """Stripped lines, with hard-wrapped prose joined: a line that stops mid-sentence and is
    followed by one starting in lower case is the same paragraph."""
    pending: str | None = None
    for raw in lines:
        line = raw.strip()
        if (pending and line[:1].islower() and not _TERMINAL.search(pending)
                and len(pending.split()) > rules.label_max_words):
            pending = f"{pending} {line}"
            continue
        if pending is not None:
            yield pending
        pending = line
    if pending is not None:
        yield pending


def _take_line(line: str, rules: Rules, state: _State) -> None:
    """Decide the fate of one stripped line: dropped, captured, or kept as prose."""
    if state.open_block is not None:
        state.block_lines += 1
        if state.open_block.end.search(line) or state.block_lines >= state.open_block.max_lines:
            state.open_block = None
        return
    if not line:
        if state.blocks[-1]:
            state.blocks.append([])
        return
    for block in rules.blocks:
        if block.start.search(line):
            state.open_block, state.block_lines = block, 0
            return
    present = frozenset(rules.hints.findall(line.lower()))
    line = _capture(line, rules, state.meta, present)
    if not line or rules.drop.match(line):
        return
    line = _strip_credits(line, rules, present)
    if not line:
        return
    outlet = rules.outlets.get(line.rstrip(".").lower())
    if outlet:
        state.meta.setdefault("outlet", outlet)
        return
    words = len(line.split())
    if not _TERMINAL.search(line):
        if words <= rules.label_max_words or line == line.lower():
            return  # a label: section name, byline, alt text, signature
        if not state.seen_prose and "title" not in state.meta and words <= rules.headline_max_words:
            state.meta["title"] = line
            state.blocks[-1].append(line)
            state.blocks.append([])
            return
    else:
        state.seen_prose = True
    state.blocks[-1].append(line)


def _capture(line: str, rules: Rules, meta: dict[str, str], present: frozenset[str]) -> str:
    """Collect metadata the line states; return what is left of the line ('' = drop it).
    `present` holds the rules' hint words found in the line."""
    drop = False
    for rule in rules.captures:
        match = _find(rule.pattern, line) if _hinted(rule.hint, present) else None
        if not match:
            continue
        meta.setdefault(rule.field, match.group("value").strip())
        if rule.action == "drop-line":
            drop = True
        elif rule.action == "cut":
            line = (line[: match.start()] + " " + line[match.end():]).strip()
    return "" if drop else line


def _strip_credits(line: str, rules: Rules, present: frozenset[str]) -> str:
    """Remove photo credits inside a line; drop what is left if it is only a caption stub."""
    stripped = line
    for rule in rules.strips:
        if _hinted(rule.hint, present):
            stripped = rule.pattern.sub("", stripped)
    if stripped == line:
        return line
    stripped = stripped.strip()
    return stripped if len(stripped.split()) >= rules.caption_min_words else ""


def _join_wrapped(lines: list[str], meta: Mapping[str, str]) -> list[str]:
    """Lines of one block become paragraphs; a line cut mid-sentence joins the next one."""
    paragraphs: list[str] = []
    for line in lines:
        previous = paragraphs[-1] if paragraphs else ""
        if previous and previous != meta.get("title") and not _TERMINAL.search(previous):
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
