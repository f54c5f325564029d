"""Files of many articles — JSON Lines, RSS/Atom feeds and web archives — keep every record's id
through edits, so that re-ingesting changes exactly the records that changed."""

from __future__ import annotations

import io
import json
from pathlib import Path

from newsdesk import Desk

STORIES = [
    {"text": "The harbor board approved a new ferry route to the north pier on Monday.",
     "url": "https://example.com/ferry"},
    {"text": "Valley Transit will add three electric buses to its fleet in May.",
     "title": "Electric buses"},
    {"text": "The county library opens a reading room for students next week.", "id": "lib-7"},
]


def _write_jsonl(path: Path, items: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")


def _texts(desk: Desk) -> dict[str, str]:
    return {a.id: desk.archive.catalog.article(a.id).article.text for a in desk.articles()}  # type: ignore[union-attr]


def test_jsonl_edits_change_exactly_the_records_that_changed(open_desk, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    _write_jsonl(feed, STORIES)
    desk: Desk = open_desk()
    first = desk.ingest([feed])
    ids = sorted(first.added)
    assert "feed.jsonl#https://example.com/ferry" in ids and "feed.jsonl#lib-7" in ids
    assert len(ids) == 3 and not any(i.endswith(("#1", "#2", "#3")) for i in ids)

    new = {"text": "Police said the bridge reopens to traffic on Friday morning.", "id": "bridge"}
    _write_jsonl(feed, [new, *STORIES])  # inserted at the top
    top = desk.ingest([feed])
    assert (top.added, top.updated, top.removed) == (["feed.jsonl#bridge"], [], [])
    assert sorted(top.unchanged) == ids

    _write_jsonl(feed, [new, *STORIES[1:]])  # the first story deleted
    deleted = desk.ingest([feed])
    assert deleted.removed == ["feed.jsonl#https://example.com/ferry"]
    assert (deleted.added, deleted.updated) == ([], [])
    assert len(desk.articles()) == 3  # no stale duplicate left behind

    _write_jsonl(feed, [STORIES[2], new, STORIES[1]])  # reordered
    reordered = desk.ingest([feed])
    assert (reordered.added, reordered.updated, reordered.removed) == ([], [], [])
    edited = dict(STORIES[2], text=STORIES[2]["text"].replace("next week", "on Monday"))
    _write_jsonl(feed, [edited, new, STORIES[1]])
    changed = desk.ingest([feed])
    assert (changed.added, changed.updated, changed.removed) == ([], ["feed.jsonl#lib-7"], [])
    assert "on Monday" in _texts(desk)["feed.jsonl#lib-7"]
    hits = desk.search("reading room students", k=3)
    assert [h.source for h in hits[:1]] == ["feed.jsonl#lib-7"]


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Valley Ledger</title><link>https://ledger.example/</link>
<item><title>Council approves camera ban</title><link>https://ledger.example/camera-ban</link>
  <guid>ledger-101</guid><pubDate>Tue, 12 Mar 2024 10:00:00 GMT</pubDate>
  <dc:creator>Jane Doe</dc:creator>
  <description>Short summary only.</description>
  <content:encoded><![CDATA[<p>The city council approved the camera ban on Tuesday by a vote
  of seven to two.</p><h2>What changes</h2><p>Police must remove the cameras within ninety
  days, the ordinance says.</p>]]></content:encoded></item>
<item><title>Ferry fares rise</title><link>https://ledger.example/ferry-fares</link>
  <pubDate>Wed, 13 Mar 2024 08:30:00 GMT</pubDate>
  <description>Ferry fares will rise by ten percent in April, the harbor board said.</description>
</item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbor Times</title>
<entry><title>Bridge reopens</title><id>tag:harbor.example,2024:bridge</id>
  <link href="https://harbor.example/bridge"/><updated>2024-03-14T09:00:00Z</updated>
  <author><name>Sam Lee</name></author>
  <content type="html">&lt;p&gt;The bridge reopened to traffic on Thursday after repairs.&lt;/p&gt;</content>
</entry></feed>
"""


def test_rss_and_atom_items_become_articles(open_desk, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "ledger.rss").write_text(RSS, encoding="utf-8")
    (feeds / "harbor.atom").write_text(ATOM, encoding="utf-8")
    desk: Desk = open_desk()
    report = desk.ingest([feeds])
    assert report.failed == []
    listed = {a.id: a for a in desk.articles()}
    ban = listed["ledger.rss#ledger-101"]
    assert (ban.title, ban.url, ban.date, ban.author, ban.outlet) == (
        "Council approves camera ban", "https://ledger.example/camera-ban", "2024-03-12",
        "Jane Doe", "Valley Ledger")
    text = _texts(desk)
    assert text["ledger.rss#ledger-101"].split("\n\n") == [
        "The city council approved the camera ban on Tuesday by a vote of seven to two.",
        "What changes", "Police must remove the cameras within ninety days, the ordinance says."]
    assert "ten percent" in text["ledger.rss#https://ledger.example/ferry-fares"]  # the summary
    bridge = listed["harbor.atom#tag:harbor.example,2024:bridge"]
    assert (bridge.author, bridge.date, bridge.outlet) == ("Sam Lee", "2024-03-14", "Harbor Times")
    (feeds / "ledger.rss").write_text(RSS.replace("ten percent", "twelve percent"),
                                      encoding="utf-8")
    again = desk.ingest([feeds])
    assert again.updated == ["ledger.rss#https://ledger.example/ferry-fares"]
    assert len(again.unchanged) == 2 and again.added == again.removed == []


def _page(title: str, body: str, date: str = "") -> bytes:
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    return (f"<html><head><title>{title}</title>{meta}</head><body><article><h1>{title}</h1>"
            f"<p>{body}</p></article></body></html>").encode()


def _warc(path: Path, captures: list[tuple[str, str, bytes | None, str]]) -> None:
    """(url, WARC-Date, HTML or None for a revisit, content type) as a gzipped WARC."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, when, html, kind in captures:
            headers = StatusAndHeaders("200 OK", [("Content-Type", kind)], protocol="HTTP/1.1")
            if html is None:
                record = writer.create_revisit_record(
                    url, digest="sha1:AAAA", refers_to_uri=url, refers_to_date=when,
                    http_headers=headers, warc_headers_dict={"WARC-Date": when})
            else:
                record = writer.create_warc_record(
                    url, "response", payload=io.BytesIO(html), http_headers=headers,
                    warc_headers_dict={"WARC-Date": when})
            writer.write_record(record)


def test_a_web_archive_gives_one_article_per_url_the_newest_capture(open_desk,
                                                                    tmp_path: Path) -> None:
    old = _page("Mill closes", "The paper mill will close in June, the owners said on Monday.")
    new = _page("Mill closes", "The paper mill will close in August, the owners said on Friday.")
    dated = _page("Dam study", "Engineers found the old dam safe for another decade of use.",
                  "2024-02-01T08:00:00Z")
    _warc(tmp_path / "crawl.warc.gz", [
        ("https://news.example/mill", "2024-03-01T10:00:00Z", old, "text/html"),
        ("https://news.example/dam", "2024-03-01T11:00:00Z", dated, "text/html; charset=utf-8"),
        ("https://news.example/mill", "2024-03-05T10:00:00Z", new, "text/html"),
        ("https://news.example/dam", "2024-03-09T11:00:00Z", None, "text/html"),  # a revisit
        ("https://news.example/logo.png", "2024-03-01T12:00:00Z", b"\x89PNG", "image/png"),
    ])
    desk: Desk = open_desk()
    report = desk.ingest([tmp_path / "crawl.warc.gz"])
    assert sorted(report.added) == ["https://news.example/dam", "https://news.example/mill"]
    assert report.failed == []
    listed = {a.id: a for a in desk.articles()}
    assert listed["https://news.example/mill"].date == "2024-03-05"  # capture day: no date given
    assert listed["https://news.example/dam"].date == "2024-02-01"  # the page's own date
    assert listed["https://news.example/mill"].url == "https://news.example/mill"
    assert "August" in _texts(desk)["https://news.example/mill"]
    again = desk.ingest([tmp_path / "crawl.warc.gz"])
    assert (again.added, again.updated, again.chunks) == ([], [], 0)
    assert sorted(again.unchanged) == sorted(report.added)


def test_a_damaged_web_archive_is_named_with_its_reason(open_desk, tmp_path: Path) -> None:
    (tmp_path / "broken.warc.gz").write_bytes(b"not a warc at all" * 10)
    desk: Desk = open_desk()
    report = desk.ingest([tmp_path / "broken.warc.gz"])
    assert [Path(f.path).name for f in report.failed] == ["broken.warc.gz"]
    assert "web archive" in report.failed[0].reason
