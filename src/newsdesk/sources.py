"""Finding article files and reading them: text, Markdown, HTML, JSON and JSON Lines."""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsdesk.errors import ArticleError
from newsdesk.types import Failure

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
JSON_FIELDS = ("title", "date", "url", "publisher", "author")
FALLBACK_ENCODING = "cp1252"
_SNIFF = 65536
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_TOO_DEEP = "JSON nested too deeply to read (arrays or objects inside each other thousands deep)"


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
    """One article as read from a file, before cleaning."""

    id: str
    text: str
    known: dict[str, str]


@dataclass(slots=True)
class Parsed:
    """What a file yielded: articles, records that failed, and notices worth a line."""

    records: list[Record] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


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


def _add_file(found: Discovery, path: Path, root: Path, rel: str) -> None:
    if path.suffix.lower() not in SUPPORTED:
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


def parse(candidate: Candidate, data: bytes) -> Parsed:
    """Decode and split a file into article records (one for most formats, many for JSONL)."""
    parsed = Parsed()
    text = _decode(candidate, data, parsed.notices)
    if not text.strip():
        raise ArticleError(str(candidate.path), "empty file")
    suffix = candidate.path.suffix.lower()
    if suffix in (".html", ".htm"):
        parsed.records.append(_html_record(candidate, text, parsed.notices))
    elif suffix in (".md", ".markdown"):
        parsed.records.append(_markdown_record(candidate, text))
    elif suffix == ".json":
        _json_records(candidate, text, parsed)
    elif suffix == ".jsonl":
        _jsonl_records(candidate, text, parsed)
    else:
        parsed.records.append(Record(candidate.rel, text, {}))
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


def _html_record(candidate: Candidate, html: str, notices: list[str]) -> Record:
    import trafilatura

    try:
        found = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=True)
    except Exception as exc:  # htmldate trips on odd markup (an lxml assert on '<svg>html')
        notices.append(f"{candidate.path}: its metadata could not be read ({exc!r}); text only")
        try:
            found = trafilatura.bare_extraction(
                html, with_metadata=False, include_comments=False, include_tables=True)
        except Exception as again:  # the same, for the text
            raise ArticleError(str(candidate.path),
                               f"the HTML cannot be read ({again!r})") from again
    doc: dict[str, Any] = found.as_dict() if found is not None and not isinstance(found, dict) else {}
    text = doc.get("text") or ""
    if not text.strip():
        raise ArticleError(str(candidate.path), "no article text found in the HTML")
    known = {key: str(doc.get(source) or "") for key, source in (
        ("title", "title"), ("author", "author"), ("date", "date"), ("outlet", "sitename"),
        ("url", "url"))}
    return Record(candidate.rel, text, known)


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
    tokens = MarkdownIt("commonmark").parse(text)
    for i, token in enumerate(tokens):
        if token.type != "inline":
            continue
        plain = "".join(_inline_text(token.children or []))
        if tokens[i - 1].type == "heading_open" and tokens[i - 1].tag == "h1":
            known.setdefault("title", plain)
        if plain.strip():
            blocks.append(plain)
    return Record(candidate.rel, "\n\n".join(blocks), known)


def _inline_text(children: list[Any]) -> Iterator[str]:
    for child in children:
        if child.type in ("text", "code_inline"):
            yield child.content
        elif child.type in ("softbreak", "hardbreak"):
            yield " "


def _json_records(candidate: Candidate, text: str, parsed: Parsed) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArticleError(
            str(candidate.path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise ArticleError(str(candidate.path), _TOO_DEEP) from exc
    if isinstance(data, dict):
        _add_object(parsed, candidate, data, candidate.rel, str(candidate.path))
    elif isinstance(data, list):
        for i, item in enumerate(data, start=1):
            _add_object(parsed, candidate, item, f"{candidate.rel}#{i}", f"{candidate.path}#{i}")
    else:
        raise ArticleError(str(candidate.path), "JSON must be an object or a list of objects")


def _jsonl_records(candidate: Candidate, text: str, parsed: Parsed) -> None:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{candidate.path}:{lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.failures.append(Failure(where, f"line {lineno}: invalid JSON: {exc.msg}"))
            continue
        except RecursionError:
            parsed.failures.append(Failure(where, f"line {lineno}: {_TOO_DEEP}"))
            continue
        _add_object(parsed, candidate, item, f"{candidate.rel}#{lineno}", where)


def _add_object(parsed: Parsed, candidate: Candidate, item: object, article_id: str,
                where: str) -> None:
    if not isinstance(item, dict):
        parsed.failures.append(Failure(where, "not a JSON object"))
        return
    body = item.get("text")
    if not isinstance(body, str) or not body.strip():
        parsed.failures.append(Failure(where, "field 'text' is missing or empty"))
        return
    known: dict[str, str] = {}
    for key in JSON_FIELDS:
        value = item.get(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)
        if value is None:
            continue
        if not isinstance(value, str):
            parsed.failures.append(Failure(where, f"field '{key}' must be a string"))
            return
        known["outlet" if key == "publisher" else key] = value
    parsed.records.append(Record(article_id, body, known))
