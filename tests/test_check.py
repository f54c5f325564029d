"""Damaged indexes: found on open with an error that says how to repair, and `newsdesk check
--repair` rebuilds what is missing from what is there."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import BENCHMARKS, CORPUS, run_cli, settings_for
from newsdesk import Desk
from newsdesk.errors import IndexCorruptError

sys.path.insert(0, str(BENCHMARKS))
import synth

QUESTION = "Which organizations could still use Rekognition?"
ARTICLES = 60


def _one_line_error(done: object) -> str:
    """The single stderr line of a failed command (and that there is no traceback)."""
    assert done.returncode == 1, done.stdout  # type: ignore[attr-defined]
    lines = done.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr  # type: ignore[attr-defined]
    return str(lines[0])


@pytest.fixture
def sample_copy(tmp_path: Path, sample_index: Path) -> Path:
    """A private copy of the sample index that a test may damage."""
    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    return target


def test_a_deleted_vector_store_is_found_and_embedded_again(sample_copy: Path, corpus: Path) -> None:
    shutil.rmtree(sample_copy / "chroma")
    for command in (("ask", QUESTION), ("ingest", str(corpus)), ("search", "Rekognition")):
        line = _one_line_error(run_cli(*command, "--index-dir", str(sample_copy)))
        assert line == (f"newsdesk: 10 of the 10 passages in {sample_copy} have no vector (the "
                        f"vector store {sample_copy}/chroma was deleted or damaged); run "
                        f"`newsdesk check --repair --index-dir {sample_copy}` to embed them again "
                        "from the catalog")
    checked = run_cli("check", "--index-dir", str(sample_copy))
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        "vectors: 10 of the 10 passages have no vector; --repair embeds them again from the catalog",
        f"{sample_copy}: 5 articles, 10 passages, 0 vectors, 10 in the keyword index"]
    repaired = run_cli("check", "--repair", "--index-dir", str(sample_copy))
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout.splitlines()[-1] == (
        f"{sample_copy}: 5 articles, 10 passages, 10 vectors, 10 in the keyword index — whole")
    answered = run_cli("ask", QUESTION, "--index-dir", str(sample_copy), "--json")
    assert answered.returncode == 0 and '"refused": false' in answered.stdout
    with Desk.open(settings=settings_for(sample_copy, retrieval="dense")) as desk:
        assert desk.search("Thorn Marinus Analytics", k=1)[0].source == "004_5c8df6fe0fbd710e.txt"


def test_a_truncated_catalog_is_found_and_what_it_still_holds_is_kept(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    synth.build(archive, ARTICLES, chunks=3)
    index = tmp_path / "index"
    assert run_cli("ingest", str(archive), "--index-dir", str(index)).returncode == 0
    catalog = index / "catalog.sqlite"
    with catalog.open("r+b") as handle:
        handle.truncate(catalog.stat().st_size * 6 // 10)
    line = _one_line_error(run_cli("ask", "What did the audit find?", "--index-dir", str(index)))
    assert line == (f"newsdesk: the catalog {catalog} is damaged (database disk image is "
                    f"malformed); run `newsdesk check --repair --index-dir {index}` to keep what it "
                    f"still holds, or `newsdesk ingest --rebuild --index-dir {index} PATH...` to "
                    "rebuild the index from your files")
    with pytest.raises(IndexCorruptError, match="is damaged"):
        Desk.open(settings=settings_for(index))
    report = Desk.check(index, repair=False)
    assert not report.ok and [f.part for f in report.findings] == ["catalog"]

    repaired = run_cli("check", "--repair", "--index-dir", str(index))
    assert repaired.returncode == 0, repaired.stderr
    assert (index / "catalog.sqlite.damaged").exists()
    after = Desk.check(index)
    assert after.ok and after.findings == []
    assert 0 < after.articles < ARTICLES and after.passages == after.vectors == after.keyword
    lost = repaired.stderr.splitlines()[-1]
    assert lost.startswith(f"newsdesk: the catalog lost the text of {ARTICLES - after.articles} articles; "
                           "ingest their files again: ")
    again = run_cli("ingest", str(archive), "--index-dir", str(index), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)  # the kept articles are unchanged, the lost ones added back
    assert (len(summary["unchanged"]), len(summary["added"])) == (after.articles, ARTICLES - after.articles)
    named = lost.split(": ")[-1].removesuffix(" …").split(", ")  # the first 20, by id
    assert named == sorted(summary["added"])[:20]
    whole = Desk.check(index)
    assert whole.ok and whole.articles == ARTICLES and whole.passages == whole.vectors == whole.keyword


def test_an_emptied_catalog_and_a_damaged_vector_store_say_how_to_repair(
        tmp_path: Path, sample_index: Path) -> None:
    emptied = tmp_path / "emptied"
    shutil.copytree(sample_index, emptied)
    (emptied / "catalog.sqlite").write_bytes(b"")
    line = _one_line_error(run_cli("ask", QUESTION, "--index-dir", str(emptied)))
    assert line.startswith(f"newsdesk: the vector store in {emptied} holds 10 vectors but the "
                           "catalog only 0 passages (catalog.sqlite lost rows")
    repaired = run_cli("check", "--repair", "--index-dir", str(emptied))
    assert repaired.returncode == 0
    assert sorted(repaired.stderr.strip().split(": ")[-1].split(", ")) == sorted(
        p.name for p in CORPUS.iterdir())  # the articles to ingest again, by name

    broken = tmp_path / "broken"
    shutil.copytree(sample_index, broken)
    (broken / "chroma" / "chroma.sqlite3").write_bytes(b"not a database at all" * 100)
    line = _one_line_error(run_cli("search", "Rekognition", "--index-dir", str(broken)))
    assert line.startswith(f"newsdesk: the vector store {broken}/chroma is damaged (")
    assert line.endswith(f"run `newsdesk check --repair --index-dir {broken}` to embed the "
                         "passages again from the catalog")
    report = Desk.check(broken, repair=True)
    assert report.ok and report.vectors == 10 and report.lost == []
    assert run_cli("search", "Rekognition", "--index-dir", str(broken)).returncode == 0


def test_a_damaged_vector_segment_says_how_to_repair_and_the_repair_holds(
        sample_copy: Path) -> None:
    """Chroma's database intact, its HNSW files not: the same one line, and a repair in the
    same process that reopens the store afresh."""
    headers = list((sample_copy / "chroma").glob("*/header.bin"))
    assert headers
    for header in headers:
        header.write_bytes(b"\xff" * len(header.read_bytes()))
    line = _one_line_error(run_cli("search", "Rekognition", "--index-dir", str(sample_copy)))
    assert line.startswith(f"newsdesk: the vector store {sample_copy}/chroma is damaged (")
    assert line.endswith(f"`newsdesk check --repair --index-dir {sample_copy}` to embed the "
                         "passages again from the catalog")
    with pytest.raises(IndexCorruptError):
        Desk.open(settings=settings_for(sample_copy))
    report = Desk.check(sample_copy, repair=True)
    assert report.ok and report.vectors == 10
    with Desk.open(settings=settings_for(sample_copy, retrieval="dense")) as desk:
        assert desk.search("Thorn Marinus Analytics", k=1)[0].source == "004_5c8df6fe0fbd710e.txt"


def test_a_damaged_keyword_index_is_found_and_rebuilt(sample_copy: Path) -> None:
    for part in (sample_copy / "bm25").rglob("*.npz"):
        part.write_bytes(b"garbage")
    report = Desk.check(sample_copy)
    assert [(f.part, f.problem) for f in report.findings] == [("keyword", "missing or unreadable")]
    assert Desk.check(sample_copy, repair=True).keyword == 10
    assert Desk.check(sample_copy).findings == []
