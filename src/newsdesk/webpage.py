"""Saved web pages → article text, headings and metadata, with trafilatura.

Scripts and styles are removed before the page is parsed (JSON-LD metadata kept), and what
else never holds article text (noscript, template, svg, iframe) from the parsed tree: pages
that are mostly inline script then extract many times faster in a fraction of the memory, and
nothing of the article is lost, since trafilatura never keeps script text. The text is
trafilatura's own "favor precision" extraction, unless that keeps less than a fifth of its
balanced extraction, which is then used (precision mode sometimes loses the article whole).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from newsdesk.errors import ArticleError

# Precision mode's text is used unless it is shorter than this share of the balanced text.
# From the scrapinghub article-extraction benchmark (benchmarks/extraction.py): where precision
# mode fails it keeps under 10 % of the balanced text, and elsewhere never under 28 %; any value
# in 0.1-0.25 gives the same choices there.
FALLBACK_SHARE = 0.2
# A page whose extracted text is mostly link text is a navigation page (section front, tag
# page, link list). Measured with _link_share: real articles at most 0.41 (a list of linked
# news items) over the 181 benchmark pages and 0.06 over ../shared/web; a section front of
# headlines with their times 0.83.
NAVIGATION_LINK_SHARE = 0.6
# ... and a page that says it is no article (og:type other than "article") and gives no date
# is one from this share on: article pages state their type or their date.
NAVIGATION_LINK_SHARE_UNDATED = 0.45
_STRIP = ('//script[not(@type="application/ld+json")]|//style|//noscript|//template'
          '|//svg|//iframe')
# Split bodies: the paragraph's container is looked for this many levels up, and the joined
# blocks replace the extraction when they hold this much more text (WIRED: 2.4 and 2.9 times).
_CONTINUED_DEPTH = 5
_CONTINUED_GAIN = 1.5
_HEADINGS = ("h2", "h3", "h4", "h5", "h6")
_BLOCKS = ("p", *_HEADINGS, "li", "blockquote", "pre")
# The opening tag of a script or style element: raw text up to its first closing tag.
_RAW_TEXT = re.compile(rb"<(script|style)\b[^>]*>")
_META = (("title", "title"), ("author", "author"), ("date", "date"), ("outlet", "sitename"),
         ("url", "url"))


@dataclass(frozen=True, slots=True)
class Page:
    """What a web page holds: its text (blocks separated by blank lines), the blocks that are
    headings, its metadata, and why it is not an article ('' when it is one)."""

    text: str
    headings: tuple[str, ...] = ()
    known: dict[str, str] = field(default_factory=dict)
    link_share: float = 0.0
    navigation: str = ""


def read_page(data: bytes | str, where: str, url: str = "") -> Page:
    """Extract one HTML page; raises ArticleError when it holds no text at all."""
    import trafilatura

    tree = trafilatura.load_html(_without_scripts(data))
    if tree is None:
        raise ArticleError(where, "not an HTML page that can be parsed")
    for element in tree.xpath(_STRIP):
        element.drop_tree()
    anchors = _anchors(tree)
    precise = _extract(tree, url, precision=True, metadata=True)
    balanced = _extract(tree, url, precision=False, metadata=precise is None)
    chosen = precise
    if precise is None or (balanced is not None
                           and len(precise.text) < FALLBACK_SHARE * len(balanced.text)):
        chosen = balanced
    if chosen is None or not chosen.text.strip():
        raise ArticleError(where, "no article text found in the HTML")
    meta = (precise or chosen).document
    known = {key: str(getattr(meta, source, None) or "") for key, source in _META}
    if url:
        known["url"] = url
    text, headings = _blocks(chosen.text), _headings(chosen.document.body)
    continued = _continued(tree, text)
    if continued is not None:
        text, headings = continued
    share = _link_share(text, anchors)
    return Page(text, headings, known, share, _navigation(share, meta))


def _without_scripts(data: bytes | str) -> bytes:
    """The page without its scripts and styles (JSON-LD kept), before it is parsed at all: a page
    that is mostly script then never becomes a big string or tree, and trafilatura's date
    search never reads the scripts (5 s for one 3 MB page without a date in its metadata).
    A raw-text element ends at its first closing tag, as HTML parsers end it; ASCII-compatible
    encodings (all but UTF-16, which sources.py turns into UTF-8) keep the tags as ASCII."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    lower = raw.lower()
    kept: list[bytes] = []
    position = 0
    while (opening := _RAW_TEXT.search(lower, position)) is not None:
        close = lower.find(b"</" + opening.group(1), opening.end())
        end = lower.find(b">", close) if close >= 0 else -1
        if end < 0:
            break  # never closed: left to the parser
        kept.append(raw[position:opening.start()])
        if b"ld+json" in opening.group(0):
            kept.append(raw[opening.start():end + 1])
        position = end + 1
    kept.append(raw[position:])
    return b"".join(kept)


@dataclass(frozen=True, slots=True)
class _Extraction:
    document: Any  # trafilatura's Document: metadata and the body as XML
    text: str


def _extract(tree: Any, url: str, *, precision: bool, metadata: bool) -> _Extraction | None:
    import trafilatura

    try:
        document: Any = trafilatura.bare_extraction(
            tree, url=url or None, with_metadata=metadata, include_comments=False,
            include_tables=True, favor_precision=precision)
    except Exception:  # htmldate trips on odd markup (an lxml assertion on '<svg>html')
        if not metadata:
            return None
        return _extract(tree, url, precision=precision, metadata=False)  # the text alone
    return None if document is None else _Extraction(document, str(document.text or ""))


def _blocks(text: str) -> str:
    """One block per line of trafilatura's text, blank lines between them."""
    return "\n\n".join(line.strip() for line in text.split("\n") if line.strip())


def _headings(body: Any) -> tuple[str, ...]:
    return tuple(" ".join("".join(h.itertext()).split()) for h in body.iter("head"))


def _continued(tree: Any, text: str) -> tuple[str, tuple[str, ...]] | None:
    """The whole body of an article that the page splits over sibling blocks of one <article>
    element (WIRED's "body__container" chunks between its ads), of which trafilatura keeps the
    first only: the text and headings of all the blocks, when they hold half as much again.
    Blocks that hold articles or headlines of their own (a list of stories) are never joined."""
    longest = max(text.split("\n\n"), key=len)
    probe = " ".join(longest.split())[:60]
    if len(probe) < 60:
        return None
    paragraph = next((p for p in tree.iter("p") if probe in " ".join(p.text_content().split())),
                     None)
    if paragraph is None:
        return None
    for depth, block in enumerate(paragraph.iterancestors()):
        parent = block.getparent()
        if depth >= _CONTINUED_DEPTH or parent is None or block.tag == "article":
            return None
        kind = block.get("class")
        parts = [b for b in parent if b.tag == block.tag and b.get("class") == kind] if kind else []
        if len(parts) > 1:
            return _joined(parts, len(text))
    return None


def _joined(parts: list[Any], extracted: int) -> tuple[str, tuple[str, ...]] | None:
    owner = next(parts[0].iterancestors("article"), None)  # the one <article> they are parts of
    if owner is None or any(part.find(".//article") is not None or part.find(".//h1") is not None
                            for part in parts):
        return None
    blocks: list[str] = []
    headings: list[str] = []
    for part in parts:
        for element in part.iter(*_BLOCKS):
            if next(element.iterancestors(*_BLOCKS), None) is not None:
                continue  # inside a block already taken
            line = " ".join(element.text_content().split())
            if line:
                blocks.append(line)
                if element.tag in _HEADINGS:
                    headings.append(line)
    joined = "\n\n".join(blocks)
    return (joined, tuple(headings)) if len(joined) >= _CONTINUED_GAIN * extracted else None


def _anchors(tree: Any) -> dict[str, list[str]]:
    """The texts of the page's links, by their first word."""
    found: dict[str, list[str]] = {}
    for link in tree.iter("a"):
        text = " ".join(link.text_content().split())
        if text:
            found.setdefault(text.split()[0], []).append(text)
    return found


def _link_share(text: str, anchors: dict[str, list[str]]) -> float:
    """The share of the extracted text that is link text: a block (a line of a list, a
    paragraph) counts the longest link text it starts with."""
    total = linked = 0
    for block in text.split("\n\n"):
        block = block.lstrip("-*•| ").strip()
        total += len(block)
        words = block.split()
        if words:
            linked += max((len(a) for a in anchors.get(words[0], ()) if block.startswith(a)),
                          default=0)
    return linked / total if total else 0.0


def _navigation(share: float, meta: Any) -> str:
    """Why the page is a navigation page, or '' for an article."""
    if share >= NAVIGATION_LINK_SHARE:
        return f"a navigation page: {share:.0%} of its text is links"
    undated = not getattr(meta, "date", None) and (getattr(meta, "pagetype", None) or "") != "article"
    if undated and share >= NAVIGATION_LINK_SHARE_UNDATED:
        return (f"a navigation page: {share:.0%} of its text is links, and it gives no date "
                "and no article type")
    return ""
