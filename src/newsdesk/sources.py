"""Finding article files and reading them: text, Markdown, HTML, JSON and JSON Lines."""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsdesk.errors import ArticleError
from newsdesk.types import Failure

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss",
             ".atom", ".warc", ".warc.gz", ".arc", ".arc.gz")
STREAMED = (".warc", ".warc.gz", ".arc", ".arc.gz")  # read record by record, never whole
FALLBACK_ENCODING = "cp1252"
_SNIFF = 65536
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to ingest: how the user named it, and the folder its id is relative to."""

    path: Path
    root: Path
    rel: str

    @property
    def key(self) -> str:
        """The resolved path, used to recognise the file on later runs."""
        return str(self.path.resolve())


@dataclass(slots=True)
class Discovery:
    """The files found under the given paths."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Record:
    """One article as read from a file, before cleaning: its id, where to point a user at it
    (the file, with its line or URL), the text, what the source states about it, the lines the
    source marked as headings, and why it is no article ('' when it is one)."""

    id: str
    text: str
    known: dict[str, str]
    where: str = ""
    headings: tuple[str, ...] = ()
    navigation: str = ""
    extracted: bool = False  # block by block by an HTML extractor: short lines are no labels


@dataclass(slots=True)
class Parsed:
    """What a file yielded: articles, records that failed, and notices worth a line."""

    records: list[Record] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # of the records, to refuse a repeated id


def discover(paths: Sequence[Path]) -> Discovery:
    """Walk files and folders (recursively, hidden folders left out), in a stable order."""
    found = Discovery()
    for path in paths:
        if path.is_file():
            _add_file(found, path, path.parent.resolve(), path.name)
        elif path.is_dir():
            _walk(found, path)
        elif path.exists():
            found.failed.append(Failure(str(path), "not a regular file or folder"))
        else:
            found.failed.append(Failure(str(path), _unresolved(path) or "no such file or folder"))
    return found


def _walk(found: Discovery, folder: Path) -> None:
    root = folder.resolve()
    found.roots.append(root)
    before = len(found.candidates)
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=errors.append):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            _add_file(found, path, root, path.relative_to(folder).as_posix())
    for error in errors:
        found.failed.append(Failure(str(error.filename), f"cannot be read: {error.strerror}"))
    if len(found.candidates) == before and not errors:
        found.failed.append(Failure(
            str(folder), f"no supported files in this folder ({', '.join(SUPPORTED)})"))


def suffix(path: Path) -> str:
    """The file's type as SUPPORTED names it ('.warc.gz' for a compressed WARC)."""
    name = path.name.lower()
    return next((s for s in STREAMED if name.endswith(s)), path.suffix.lower())


def _add_file(found: Discovery, path: Path, root: Path, rel: str) -> None:
    if suffix(path) not in SUPPORTED:
        found.skipped.append(rel)
    elif reason := _unresolved(path):
        found.failed.append(Failure(str(path), reason))
    else:
        found.candidates.append(Candidate(path, root, rel))


def _unresolved(path: Path) -> str:
    """Why a path's real location cannot be found ('' when it can): a loop of symbolic links."""
    try:
        path.resolve()
    except RuntimeError:  # what Python < 3.13 raises on a loop
        return "cannot be read: symbolic link loop"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    return ""


def read_bytes(candidate: Candidate, max_bytes: int) -> bytes:
    """The file's bytes, refusing files over the size limit or that cannot be read."""
    try:
        size = candidate.path.stat().st_size
        if size > max_bytes:
            raise ArticleError(str(candidate.path), (
                f"file is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:g} MB limit "
                "(setting NEWSDESK_MAX_FILE_MB)"))
        return candidate.path.read_bytes()
    except OSError as exc:
        raise ArticleError(str(candidate.path), f"cannot be read: {exc.strerror}") from exc


def parse(candidate: Candidate, data: bytes, max_bytes: int) -> Parsed:
    """Decode and split a file into article records (one for most formats, many for JSONL,
    feeds and web archives). A web archive is read from its path (`data` is then empty), each
    page in it up to `max_bytes`."""
    kind = suffix(candidate.path)
    if kind in STREAMED:
        from newsdesk.warc import warc_records

        return warc_records(candidate, max_bytes)
    if kind in (".html", ".htm"):
        return Parsed([_html_record(candidate, data)])
    parsed = Parsed()
    text = _decode(candidate, data, parsed.notices)
    if not text.strip():
        raise ArticleError(str(candidate.path), "empty file")
    if kind in (".md", ".markdown"):
        parsed.records.append(_markdown_record(candidate, text))
    elif kind in (".json", ".jsonl"):
        from newsdesk.records import json_records

        json_records(candidate, text, parsed, lines=kind == ".jsonl")
    elif kind in (".xml", ".rss", ".atom"):
        from newsdesk.records import feed_records

        feed_records(candidate, text, parsed)
    else:
        parsed.records.append(Record(candidate.rel, text, {}, str(candidate.path)))
    return parsed


def _decode(candidate: Candidate, data: bytes, notices: list[str]) -> str:
    """UTF-8 (BOM allowed), UTF-16 with a BOM, else Windows-1252 with a notice; binary refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ArticleError(str(candidate.path), f"invalid UTF-16 text: {exc.reason}") from exc
    if b"\x00" in data[:_SNIFF]:
        raise ArticleError(str(candidate.path), "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode(FALLBACK_ENCODING)
            used = "Windows-1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            used = "Latin-1"
        notices.append(
            f"{candidate.path}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); decoded as {used}")
    sample = text[:_SNIFF]
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.01:
        raise ArticleError(str(candidate.path), "binary file (control characters), not text")
    return text


def _html_record(candidate: Candidate, data: bytes) -> Record:
    from newsdesk.webpage import read_page

    if not data.strip():
        raise ArticleError(str(candidate.path), "empty file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = data.decode("utf-16").encode("utf-8")
    elif b"\x00" in data[:_SNIFF]:
        raise ArticleError(str(candidate.path), "binary file (contains NUL bytes), not text")
    page = read_page(data, str(candidate.path))
    return Record(candidate.rel, page.text, page.known, str(candidate.path), page.headings,
                  page.navigation, extracted=True)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_FRONT_KEYS = {"title": "title", "date": "date", "author": "author", "url": "url",
               "publisher": "outlet", "outlet": "outlet", "source": "outlet"}


def _markdown_record(candidate: Candidate, text: str) -> Record:
    """Markdown to plain paragraphs (markup removed); YAML-style front matter gives metadata."""
    from markdown_it import MarkdownIt

    known: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() in _FRONT_KEYS:
                known[_FRONT_KEYS[key.strip().lower()]] = value.strip().strip("\"'")
        text = text[match.end():]
    blocks: list[str] = []
    headings: list[str] = []
    tokens = MarkdownIt("commonmark").parse(text)
    for i, token in enumerate(tokens):
        if token.type != "inline":
            continue
        plain = "".join(_inline_text(token.children or []))
        if tokens[i - 1].type == "heading_open":
            headings.append(plain.strip())
            if tokens[i - 1].tag == "h1":
                known.setdefault("title", plain)
        if plain.strip():
            blocks.append(plain)
    return Record(candidate.rel, "\n\n".join(blocks), known, str(candidate.path),
                  tuple(headings))


def _inline_text(children: list[Any]) -> Iterator[str]:
    for child in children:
        if child.type in ("text", "code_inline"):
            yield child.content
        elif child.type in ("softbreak", "hardbreak"):
            yield " "
