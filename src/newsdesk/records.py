"""Files of many articles: JSON, JSON Lines and RSS/Atom feeds, each record with a stable id.

A record's id is its own `id` (a feed item's guid) or, failing that, its `url` (link), else a
hash of its content; never its position. An edited feed then updates, adds and removes exactly
the records that changed: inserting an item at the top, deleting one or reordering them leaves
every other id as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from newsdesk.errors import ArticleError
from newsdesk.sources import Candidate, Parsed, Record
from newsdesk.types import Failure

JSON_FIELDS = ("title", "date", "url", "publisher", "author")
_BLOCK_TAGS = ("p", "div", "li", "blockquote", "pre", "tr", "section", "article", "figcaption",
               "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt")


def record_key(item: Mapping[str, Any], text: str, title: str = "") -> str:
    """The part of an article id that names a record within its file."""
    for field in ("id", "url"):
        value = item.get(field)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    digest = hashlib.blake2b(f"{title}\x00{text}".encode(), digest_size=8).hexdigest()
    return f"sha-{digest}"


_TOO_DEEP = "JSON nested too deeply to read (arrays or objects inside each other thousands deep)"


def json_records(candidate: Candidate, text: str, parsed: Parsed, *, lines: bool) -> None:
    """The records of a .json file (an object or a list of them) or of a .jsonl file."""
    if lines:
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
            _add_object(parsed, candidate, item, where, whole=False)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArticleError(
            str(candidate.path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise ArticleError(str(candidate.path), _TOO_DEEP) from exc
    if isinstance(data, dict):
        _add_object(parsed, candidate, data, str(candidate.path), whole=True)
    elif isinstance(data, list):
        for i, item in enumerate(data, start=1):
            _add_object(parsed, candidate, item, f"{candidate.path} item {i}", whole=False)
    else:
        raise ArticleError(str(candidate.path), "JSON must be an object or a list of objects")


def _add_object(parsed: Parsed, candidate: Candidate, item: object, where: str, *,
                whole: bool) -> None:
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
    article_id = candidate.rel if whole else f"{candidate.rel}#{record_key(item, body)}"
    add_record(parsed, Record(article_id, body, known, where))


def add_record(parsed: Parsed, record: Record) -> None:
    """Add a record unless the file already gave one with its id (reported, first one kept)."""
    if record.id in parsed.ids:
        parsed.failures.append(Failure(record.where, (
            f"a second record with the id {record.id.partition('#')[2] or record.id!r}; "
            "the first one is kept")))
        return
    parsed.ids.add(record.id)
    parsed.records.append(record)


def feed_records(candidate: Candidate, text: str, parsed: Parsed) -> None:
    """Each item of an RSS or Atom feed: title, link, date, author and content (or summary)."""
    import feedparser

    feed = feedparser.parse(text)
    if not feed.entries:
        reason = "no RSS or Atom items in it"
        if feed.get("bozo"):
            reason += f" ({feed.get('bozo_exception')})"
        raise ArticleError(str(candidate.path), reason)
    outlet = str(feed.feed.get("title") or "")
    for i, entry in enumerate(feed.entries, start=1):
        where = f"{candidate.path} item {i}"
        html = _entry_html(entry)
        body, headings = fragment_text(html)
        title = str(entry.get("title") or "")
        if not body.strip():
            parsed.failures.append(Failure(where, "the item has no content or summary"))
            continue
        known = {"title": title, "url": str(entry.get("link") or ""),
                 "date": str(entry.get("published") or entry.get("updated") or ""),
                 "author": str(entry.get("author") or ""), "outlet": outlet}
        key = record_key({"id": entry.get("id"), "url": entry.get("link")}, body, title)
        add_record(parsed, Record(f"{candidate.rel}#{key}", body,
                                  {k: v for k, v in known.items() if v}, where, headings))


def _entry_html(entry: Any) -> str:
    """The fullest text an item carries: its content, else its summary."""
    contents = entry.get("content") or []
    values = [str(c.get("value") or "") for c in contents]
    best = max(values, key=len, default="")
    return best or str(entry.get("summary") or "")


def fragment_text(html: str) -> tuple[str, tuple[str, ...]]:
    """A feed item's HTML as paragraphs (blank lines between blocks) and its headings."""
    from lxml import html as lxml_html

    if "<" not in html:
        return "\n\n".join(p.strip() for p in html.split("\n\n") if p.strip()), ()
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    headings = tuple(" ".join(h.text_content().split()) for h in root.iter("h1", "h2", "h3", "h4",
                                                                          "h5", "h6"))
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n\n" + (element.tail or "")
        element.text = "\n\n" + (element.text or "")
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    blocks = (" ".join(b.split()) for b in root.text_content().split("\n\n"))
    return "\n\n".join(b for b in blocks if b), tuple(h for h in headings if h)
