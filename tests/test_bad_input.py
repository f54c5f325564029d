"""Bad input: one clear line naming the file and the reason; the rest goes in; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from newsdesk import Desk


@pytest.fixture
def messy(tmp_path: Path, corpus: Path) -> Path:
    """The sample corpus plus one of every kind of bad file."""
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" + bytes(range(256)) * 4)
    (corpus / "latin1.txt").write_bytes(
        "Caf\xe9 owners in Montr\xe9al said the ban was \x93overdue\x94 and welcome.".encode(
            "latin-1"))
    (corpus / "empty.txt").write_text("   \n\n  ", encoding="utf-8")
    (corpus / "huge.txt").write_text("word " * 300_000, encoding="utf-8")  # 1.5 MB
    (corpus / "broken.json").write_text('{"text": "unterminated', encoding="utf-8")
    (corpus / "feed.jsonl").write_text("\n".join([
        json.dumps({"text": "The first feed story says the county paused its camera pilot.",
                    "id": "paused"}),
        '{"text": "missing brace"',
        json.dumps({"title": "no text field"}),
        json.dumps({"text": "The third feed story says the pilot may resume next spring.",
                    "id": "resume"}),
    ]) + "\n", encoding="utf-8")
    (corpus / "gone.txt").symlink_to(tmp_path / "does-not-exist.txt")
    (corpus / "only-boilerplate.txt").write_text("Advertisement\n\nShare this article\n",
                                                 encoding="utf-8")
    (tmp_path / "no-articles").mkdir()
    (tmp_path / "no-articles" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    return corpus


def _reasons(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {Path(f.path).name: f.reason for f in report.failed}


def test_each_bad_file_is_named_with_its_reason(open_desk, messy: Path, tmp_path: Path) -> None:
    desk: Desk = open_desk(max_file_bytes=1024 * 1024)
    report = desk.ingest([messy, tmp_path / "no-articles", tmp_path / "missing-folder"])
    reasons = _reasons(report)
    assert "binary" in reasons["binary.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "over the 1 MB limit" in reasons["huge.txt"]
    assert "invalid JSON at line 1" in reasons["broken.json"]
    assert reasons["feed.jsonl:2"].startswith("line 2: invalid JSON")
    assert "'text'" in reasons["feed.jsonl:3"]
    assert "cannot be read" in reasons["gone.txt"]
    assert "no article text left" in reasons["only-boilerplate.txt"]
    assert "no supported files" in reasons["no-articles"]
    assert "no such file or folder" in reasons["missing-folder"]
    assert report.skipped == ["photo.jpg"]
    # the rest went in, including the decodable Latin-1 file and the good JSONL lines
    assert sorted(report.added) == sorted(
        [p.name for p in (Path(__file__).parents[1] / "corpus").iterdir()]
        + ["latin1.txt", "feed.jsonl#paused", "feed.jsonl#resume"])
    assert any("latin1.txt: not valid UTF-8" in n and "Windows-1252" in n for n in report.notices)
    latin = desk.archive.catalog.article("latin1.txt")
    assert latin is not None and "Café owners in Montréal" in latin.article.text
    assert "“overdue”" in latin.article.text


def test_a_failing_run_loses_nothing_already_indexed(open_desk, corpus: Path) -> None:
    desk: Desk = open_desk()
    desk.ingest([corpus])
    before = (desk.archive.vectors.ids(), len(desk.articles()))
    victim = corpus / "001_e04abfde3c193795.txt"
    victim.write_bytes(b"\x00\x00binary now")  # the file turns bad
    report = desk.ingest([corpus], prune=True)
    assert "binary" in _reasons(report)["001_e04abfde3c193795.txt"]
    assert report.removed == []  # a file that failed keeps what it gave before
    assert (desk.archive.vectors.ids(), len(desk.articles())) == before
    assert sorted(report.unchanged) == sorted(a for a in (p.name for p in corpus.iterdir())
                                              if a != victim.name)


def test_cli_exit_status_and_one_line_per_failure(messy: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "cli-index")
    done = run_cli("ingest", str(messy), "--index-dir", index, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary) == {"added", "updated", "unchanged", "removed", "skipped", "not_articles",
                            "failed", "chunks", "seconds"}
    failed_lines = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed_lines) == len(summary["failed"]) >= 7
    assert any("binary.txt: binary file" in line for line in failed_lines)
    assert all(set(f) == {"path", "reason"} for f in summary["failed"])

    bad_only = tmp_path / "bad-only"
    bad_only.mkdir()
    (bad_only / "a.txt").write_bytes(b"\x00binary")
    (bad_only / "b.txt").write_text("", encoding="utf-8")
    every_failed = run_cli("ingest", str(bad_only), "--index-dir", index)
    assert every_failed.returncode == 1
    assert "a.txt: binary file" in every_failed.stderr

    usage = run_cli("ingest", "--index-dir", index)  # no PATH
    assert usage.returncode == 2 and "PATH" in usage.stderr
