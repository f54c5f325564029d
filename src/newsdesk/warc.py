"""Web archives (WARC, and the older ARC): each HTML page captured becomes an article.

The file is read record by record with warcio, never whole. An article's id is the page's URL;
its date is the page's own, else the day it was captured. A URL captured more than once (a
repeated response, or a revisit record saying the page had not changed) is kept once, as its
newest capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsdesk.errors import ArticleError
from newsdesk.sources import Candidate, Parsed, Record
from newsdesk.types import Failure


@dataclass(slots=True)
class _Capture:
    when: str  # WARC-Date, ISO 8601: compares in time order as text
    record: Record | None  # None: the response failed (its failure is kept instead)
    failure: Failure | None = None


def warc_records(candidate: Candidate, max_bytes: int) -> Parsed:
    """The newest capture of every HTML page in a WARC file, in the order first seen."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    captures: dict[str, _Capture] = {}
    parsed = Parsed()
    try:
        with open(candidate.path, "rb") as stream:
            for entry in ArchiveIterator(stream, arc2warc=True):
                _take(entry, candidate, captures, max_bytes)
    except ArchiveLoadFailed as exc:
        raise ArticleError(str(candidate.path), f"not a readable web archive: {exc}") from exc
    except OSError as exc:
        raise ArticleError(str(candidate.path), f"cannot be read: {exc.strerror or exc}") from exc
    for capture in captures.values():
        if capture.record is not None:
            parsed.records.append(capture.record)
        elif capture.failure is not None:
            parsed.failures.append(capture.failure)
    if not captures:
        raise ArticleError(str(candidate.path), "the web archive holds no HTML pages")
    return parsed


def _take(entry: Any, candidate: Candidate, captures: dict[str, _Capture], max_bytes: int) -> None:
    """Look at one WARC record: a revisit updates its page's capture date, a newer HTML
    response replaces the older one."""
    url = str(entry.rec_headers.get_header("WARC-Target-URI") or "")
    when = str(entry.rec_headers.get_header("WARC-Date") or "")
    seen = captures.get(url)
    if entry.rec_type == "revisit":
        if seen is not None and seen.record is not None and when > seen.when:
            seen.when = when
            seen.record = _dated(seen.record, when)
        return
    if entry.rec_type != "response" or not url or not _is_html(entry):
        return
    if seen is not None and when < seen.when:
        return
    where = f"{candidate.path} {url}"
    try:
        captures[url] = _Capture(when, _page(entry, url, when, where, max_bytes))
    except ArticleError as exc:
        captures[url] = _Capture(when, None, Failure(exc.path, exc.reason))


def _is_html(entry: Any) -> bool:
    headers = entry.http_headers
    if headers is None:
        return False
    status = str(headers.get_statuscode() or "")
    kind = str(headers.get_header("Content-Type") or "").lower()
    return status.startswith("2") and ("html" in kind or not kind)


def _page(entry: Any, url: str, when: str, where: str, max_bytes: int) -> Record:
    from newsdesk.webpage import read_page

    data = entry.content_stream().read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ArticleError(where, (
            f"the page is over the {max_bytes / 1048576:g} MB limit (setting NEWSDESK_MAX_FILE_MB)"))
    page = read_page(data, where, url)
    record = Record(url, page.text, page.known, where, page.headings, page.navigation, True)
    return record if page.known.get("date") else _dated(record, when)


def _dated(record: Record, when: str) -> Record:
    """The record with the capture day as its date, when the page itself gives none."""
    if record.known.get("date") and record.known.get("date_source") != "capture":
        return record
    known = dict(record.known, date=when[:10], date_source="capture")
    return Record(record.id, record.text, known, record.where, record.headings, record.navigation,
                  record.extracted)
