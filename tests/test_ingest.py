"""Incremental ingest into a real Chroma + catalog: re-ingest, update, prune, rebuild, formats."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import CORPUS, settings_for
from newsdesk import Desk, IndexBusyError, IndexMismatchError, IndexMissingError
from newsdesk.archive import Archive


def _state(desk: Desk) -> tuple[set[str], int, dict[str, str]]:
    """(Chroma ids, Chroma count, chunk texts by id) — what 'the same index' means."""
    texts = {cid: text for _, _, cid, text in desk.archive.catalog.all_chunks()}
    return desk.archive.vectors.ids(), desk.archive.vectors.count(), texts


def test_reingesting_an_unchanged_corpus_embeds_nothing(open_desk, corpus: Path) -> None:
    desk = open_desk()
    first = desk.ingest([corpus])
    before = _state(desk)
    second = desk.ingest([corpus])
    assert sorted(first.added) == sorted(p.name for p in CORPUS.iterdir())
    assert sorted(second.unchanged) == sorted(first.added)
    assert (second.added, second.updated, second.removed, second.chunks) == ([], [], [], 0)
    assert _state(desk) == before
    assert set(before[2]) == before[0]  # catalog and vectors agree


def test_a_changed_article_has_its_chunks_replaced(open_desk, corpus: Path) -> None:
    desk = open_desk()
    desk.ingest([corpus])
    old_ids, old_count, _ = _state(desk)
    path = corpus / "003_c4a1611d945e26cc.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "No such law has materialized.", "No such law has passed Congress."), encoding="utf-8")
    report = desk.ingest([corpus])
    ids, count, texts = _state(desk)
    assert report.updated == ["003_c4a1611d945e26cc.txt"] and not report.added
    assert count == old_count and ids != old_ids and set(texts) == ids
    assert any("No such law has passed Congress." in t for t in texts.values())
    assert not any("No such law has materialized." in t for t in texts.values())
    unchanged = {i for i in old_ids if not i.startswith("003_")}
    assert unchanged <= ids  # other articles untouched


def test_prune_removes_articles_no_longer_present(open_desk, corpus: Path) -> None:
    desk = open_desk()
    desk.ingest([corpus])
    (corpus / "002_0107e865e703d7d5.txt").unlink()
    kept = desk.ingest([corpus])
    assert kept.removed == [] and len(desk.articles()) == 5  # without --prune nothing goes
    pruned = desk.ingest([corpus], prune=True)
    ids, count, texts = _state(desk)
    assert pruned.removed == ["002_0107e865e703d7d5.txt"]
    assert len(desk.articles()) == 4 and not any(i.startswith("002_") for i in ids)
    assert count == len(texts)
    assert desk.archive.keyword().generation == desk.archive.catalog.generation


def test_rebuild_starts_afresh(index_dir: Path, corpus: Path) -> None:
    with Desk.open(settings=settings_for(index_dir), create=True) as desk:
        desk.ingest([corpus / "000_ca56b235a267ddf0.txt"])
    with Desk.open(settings=settings_for(index_dir), rebuild=True) as desk:
        assert desk.articles() == []
        report = desk.ingest([corpus])
        assert len(report.added) == 5


def test_formats_json_jsonl_html_markdown(open_desk, tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.json").write_text(json.dumps({
        "text": "The city council approved the camera ban on Tuesday by a vote of 7 to 2.",
        "title": "Council bans cameras", "date": "2023-04-12", "url": "https://example.com/a",
        "publisher": "Harbor Times", "author": "Jane Doe"}), encoding="utf-8")
    (folder / "feed.jsonl").write_text("\n".join(json.dumps(o) for o in [
        {"text": "The mayor signed the ordinance into law on Friday afternoon.", "title": "Signed",
         "id": "signed"},
        {"text": "Police said they would comply with the new rules starting in May.",
         "date": "May 3, 2023", "url": "https://example.com/police"}]) + "\n", encoding="utf-8")
    (folder / "sub" / "page.html").write_text(
        "<html><head><title>Drone rules | Valley Ledger</title>"
        '<meta property="og:site_name" content="Valley Ledger">'
        '<meta name="author" content="Sam Lee">'
        '<meta property="article:published_time" content="2023-05-01T10:00:00Z"></head>'
        "<body><nav>Home News Sports</nav><article><h1>Drone rules</h1>"
        "<p>The county board voted to limit police drones to search and rescue missions.</p>"
        "<p>Advertisement</p><p>Officials said the limits take effect in June after a review.</p>"
        "</article><footer>Copyright 2023 Valley Ledger</footer></body></html>", encoding="utf-8")
    (folder / "notes.md").write_text(
        "---\ntitle: Budget notes\ndate: 2023-02-01\n---\n# Budget notes\n\n"
        "The [budget](https://example.com) sets aside **two million dollars** for training.\n",
        encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n")
    desk = open_desk()
    report = desk.ingest([folder])
    assert sorted(report.added) == ["feed.jsonl#https://example.com/police", "feed.jsonl#signed",
                                    "notes.md", "one.json", "sub/page.html"]
    assert report.skipped == ["image.png"] and report.failed == []
    articles = {a.id: a for a in desk.articles()}
    one = articles["one.json"]
    assert (one.title, one.outlet, one.author, one.date, one.url) == (
        "Council bans cameras", "Harbor Times", "Jane Doe", "2023-04-12", "https://example.com/a")
    assert articles["feed.jsonl#https://example.com/police"].date == "2023-05-03"
    page = desk.archive.catalog.article("sub/page.html")
    assert page is not None
    assert (page.article.outlet, page.article.author, page.article.date) == (
        "Valley Ledger", "Sam Lee", "2023-05-01")
    assert "search and rescue" in page.article.text and "Home News" not in page.article.text
    assert "Advertisement" not in page.article.text
    notes = desk.archive.catalog.article("notes.md")
    assert notes is not None and notes.article.title == "Budget notes"
    assert "sets aside two million dollars for training." in notes.article.text


def test_opening_with_other_settings_is_a_clear_error(index_dir: Path, corpus: Path) -> None:
    with Desk.open(settings=settings_for(index_dir), create=True) as desk:
        desk.ingest([corpus / "000_ca56b235a267ddf0.txt"])
    with pytest.raises(IndexMismatchError, match="--rebuild") as error:
        Desk.open(settings=settings_for(index_dir, embedder="minilm"))
    assert "wordllama" in str(error.value) and "minilm" in str(error.value)
    with pytest.raises(IndexMismatchError, match="chunk_tokens"):
        Desk.open(settings=settings_for(index_dir, chunk_tokens=128))
    with Desk.open(settings=settings_for(index_dir)) as desk:  # the index's own settings work
        assert len(desk.articles()) == 1


def test_a_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="newsdesk ingest"):
        Desk.open(settings=settings_for(tmp_path / "nothing"))


def test_one_writer_per_index(open_desk, index_dir: Path, corpus: Path) -> None:
    desk = open_desk()
    desk.ingest([corpus / "000_ca56b235a267ddf0.txt"])
    other = open_desk()  # the lock is held while writing, not while open
    with desk.archive.writing():
        with pytest.raises(IndexBusyError, match=rf"being written by newsdesk process {os.getpid()}"):
            Archive.open(index_dir, None, 256, create=True)
        with pytest.raises(IndexBusyError, match="being written"):
            other.ingest([corpus])
    assert len(other.ingest([corpus]).added) == 4


def test_the_keyword_index_follows_every_change(open_desk, corpus: Path) -> None:
    desk = open_desk()
    desk.ingest([corpus])
    keyword = desk.archive.keyword()
    assert keyword.generation == desk.archive.catalog.generation
    assert keyword.documents == desk.archive.catalog.counts()[1]
    desk.remove(["004_5c8df6fe0fbd710e.txt"])
    keyword = desk.archive.keyword()
    assert keyword.documents == desk.archive.catalog.counts()[1]
    hits = keyword.search("Thorn Marinus Analytics", 5)
    assert hits == []  # only 004 named them, and it is gone


def test_the_same_file_names_in_two_folders_do_not_overwrite_each_other(
        open_desk, tmp_path: Path, corpus: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(corpus / "000_ca56b235a267ddf0.txt", other / "000_ca56b235a267ddf0.txt")
    (other / "000_ca56b235a267ddf0.txt").write_text("A different article with other prose.",
                                                   encoding="utf-8")
    desk = open_desk()
    desk.ingest([corpus])
    report = desk.ingest([other])
    assert report.added == [] and report.updated == []
    assert "already taken" in report.failed[0].reason
    stored = desk.archive.catalog.article("000_ca56b235a267ddf0.txt")
    assert stored is not None and "Rekognition" in stored.article.text


def test_vectors_left_by_an_interrupted_write_are_removed(index_dir: Path, corpus: Path) -> None:
    import numpy as np

    with Desk.open(settings=settings_for(index_dir), create=True) as desk:
        desk.ingest([corpus])
        expected = desk.archive.vectors.ids()
        # what a crash between the vector write and the catalog commit leaves behind:
        desk.archive.catalog.set_meta("dirty", "1")
        desk.archive.vectors.upsert(["ghost.txt#0:000000000000"], np.ones((1, 256), np.float32),
                                    [{"article": "ghost.txt", "outlet": "", "date": 0}])
    with Desk.open(settings=settings_for(index_dir)) as desk:
        with desk.archive.writing():  # the next writer repairs
            pass
        assert desk.archive.vectors.ids() == expected


@pytest.mark.minilm
@pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is None,
                    reason="torch is not installed (pip install 'newsdesk[minilm]')")
def test_ingest_with_the_minilm_embedder(index_dir: Path, corpus: Path) -> None:
    with Desk.open(settings=settings_for(index_dir, embedder="minilm"), create=True) as desk:
        report = desk.ingest([corpus])
        assert len(report.added) == 5
        assert desk.archive.manifest.embedder == "minilm" and desk.archive.manifest.dim == 384
        assert desk.archive.vectors.count() == desk.archive.catalog.counts()[1]
        hits = desk.archive.vectors.query(desk.embedder.embed(["human trafficking victims"])[0], 3)
        assert hits and hits[0][1] > 0.3
    with Desk.open(settings=settings_for(index_dir)) as desk:  # the index remembers its embedder
        assert desk.embedder.name == "minilm"
