"""The vector store, embedded in the index folder and in a real Chroma server: ingest, ask,
filters and removal behave the same; the manifest names the server; a server that is down or
another one is one clear error, and nothing in the index folder is lost."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BENCHMARKS, CORPUS, DATA, ChromaServer, free_port, run_cli, settings_for
from newsdesk import Desk, IndexBusyError, IndexMismatchError
from newsdesk.errors import StoreUnavailableError

sys.path.insert(0, str(BENCHMARKS))
import synth

REKOGNITION = "Which organizations could still use Rekognition?"
HARBOR = ("Harbor Gazette reporting\n\nBy Ana Ortiz\n\n"
          "The Quillon Ferry Company will add a night crossing to Bainbridge Island in May, its "
          "owner Mara Quillon said on Tuesday.\n\n"
          "The Quillon night crossing will leave Seattle at eleven and carry forty cars.\n\n"
          "Harbor Gazette\n")


def _consistent(desk: Desk) -> int:
    """The vectors are exactly the catalog's chunks; returns how many there are."""
    chunk_ids = desk.archive.catalog.all_chunk_ids()
    assert desk.archive.vectors.ids() == chunk_ids
    assert desk.archive.vectors.count() == len(chunk_ids) == desk.archive.keyword().documents
    return len(chunk_ids)


def test_ingest_update_and_prune_keep_vectors_and_catalog_together(
        store: str | None, index_dir: Path, corpus: Path) -> None:
    with Desk.open(settings=settings_for(index_dir, chroma_url=store), create=True) as desk:
        first = desk.ingest([corpus])
        chunks = _consistent(desk)
        again = desk.ingest([corpus])
        assert len(first.added) == 5 and again.chunks == 0 and len(again.unchanged) == 5
        path = corpus / "003_c4a1611d945e26cc.txt"
        path.write_text(path.read_text(encoding="utf-8").replace(
            "No such law has materialized.", "No such law has passed Congress."), encoding="utf-8")
        (corpus / "002_0107e865e703d7d5.txt").unlink()
        changed = desk.ingest([corpus], prune=True)
        assert changed.updated == ["003_c4a1611d945e26cc.txt"]
        assert changed.removed == ["002_0107e865e703d7d5.txt"]
        assert _consistent(desk) < chunks
        found = desk.search("No such law has passed Congress", k=5)
        assert any(p.source == "003_c4a1611d945e26cc.txt" and "passed Congress" in p.text
                   for p in found)
        assert not any("materialized" in p.text for p in found)
    assert not (index_dir / "chroma").exists() if store else (index_dir / "chroma").is_dir()


def test_answers_filters_and_removal(store: str | None, index_dir: Path, corpus: Path) -> None:
    with Desk.open(settings=settings_for(index_dir, chroma_url=store), create=True) as desk:
        desk.ingest([corpus])
        answer = desk.ask(REKOGNITION)
        assert not answer.refused and answer.citations[0].source == "004_5c8df6fe0fbd710e.txt"
        dot = desk.ask(REKOGNITION, filters={"outlet": "The Daily Dot"})
        assert dot.citations and {c.outlet for c in dot.citations} == {"The Daily Dot"}
        dated = desk.search("Rekognition moratorium", k=10, filters={"since": "2021-01-01"})
        assert {p.source for p in dated} == {"001_e04abfde3c193795.txt"}
        one = desk.search("Amazon", k=10, filters={"source": "003_c4a1611d945e26cc.txt"})
        assert one and {p.source for p in one} == {"003_c4a1611d945e26cc.txt"}
        assert desk.search("Amazon", filters={"outlet": "No Such Outlet"}) == []
        assert desk.remove(["004_5c8df6fe0fbd710e.txt"]) == ["004_5c8df6fe0fbd710e.txt"]
        after = desk.ask(REKOGNITION)
        assert "004_5c8df6fe0fbd710e.txt" not in {c.source for c in after.citations}
        assert desk.search("Amazon", filters={"source": "004_5c8df6fe0fbd710e.txt"}) == []
        _consistent(desk)


def test_the_manifest_names_the_server_and_the_vectors_stay_there(
        chroma_server: str, index_dir: Path, tmp_path: Path) -> None:
    done = run_cli("ingest", str(CORPUS), "--index-dir", str(index_dir),
                   env={"NEWSDESK_CHROMA_URL": chroma_server})
    assert done.returncode == 0, done.stderr
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["vectors"] == chroma_server and manifest["collection"].startswith("newsdesk-")
    assert (index_dir / "catalog.sqlite").exists() and (index_dir / "bm25").is_dir()
    assert not (index_dir / "chroma").exists()
    # no URL: the manifest's; the same server under another name: its collection id matches
    same = chroma_server.replace("127.0.0.1", "localhost")
    for env in ({}, {"NEWSDESK_CHROMA_URL": same}):
        asked = run_cli("ask", REKOGNITION, "--index-dir", str(index_dir), "--json", env=env)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["citations"][0]["source"] == "004_5c8df6fe0fbd710e.txt"
    embedded = tmp_path / "embedded"
    assert run_cli("ingest", str(CORPUS), "--index-dir", str(embedded)).returncode == 0
    moved = run_cli("ask", REKOGNITION, "--index-dir", str(embedded), "--chroma-url", chroma_server)
    assert moved.returncode == 1 and moved.stderr.count("\n") == 1
    assert "keeps its vectors in its own folder" in moved.stderr and "--rebuild" in moved.stderr


def test_another_server_or_one_that_goes_down_is_a_clear_error_and_loses_nothing(
        chroma_server: str, index_dir: Path, tmp_path: Path) -> None:
    archive, on_other = tmp_path / "archive", tmp_path / "on-other"
    synth.build(archive, 300, chunks=4)
    other = ChromaServer(tmp_path / "other")
    try:
        with Desk.open(settings=settings_for(index_dir, chroma_url=chroma_server),
                       create=True) as desk:
            desk.ingest([CORPUS])
        wrong = run_cli("ask", REKOGNITION, "--index-dir", str(index_dir), "--chroma-url", other.url)
        assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1
        assert f"{other.url} does not hold this index's vectors" in wrong.stderr
        with Desk.open(settings=settings_for(on_other, chroma_url=other.url), create=True) as desk:
            desk.ingest([CORPUS])
        exe = Path(sys.executable).with_name("newsdesk")
        process = subprocess.Popen([str(exe), "ingest", str(archive), "--index-dir", str(on_other)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_articles(on_other, 50, process)
        other.stop()  # in the middle of the ingest
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 1 and stderr.count("\n") == 1, stderr
        assert f"the Chroma server at {other.url} cannot be reached" in stderr
        for args in (["ask", REKOGNITION], ["list"]):
            down = run_cli(*args, "--index-dir", str(on_other))
            assert down.returncode == 1 and down.stderr.count("\n") == 1, down.stderr
            assert f"the Chroma server at {other.url} cannot be reached" in down.stderr
        other.start()  # the same server again: nothing was lost, and the rerun completes
        rerun = run_cli("ingest", str(archive), "--index-dir", str(on_other), "--json")
        assert rerun.returncode == 0, rerun.stderr
        with Desk.open(settings=settings_for(on_other)) as desk:
            assert len(desk.articles()) == 305 and _consistent(desk) > 1200
            assert desk.ask(REKOGNITION).citations  # answered, from the server's vectors
    finally:
        other.stop()


def _wait_for_articles(index: Path, n: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the ingest finished before the server stopped"
        try:
            with sqlite3.connect(f"file:{index / 'catalog.sqlite'}?mode=ro", uri=True) as db:
                if db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] >= n:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    pytest.fail("the ingest never got going")


def test_a_rebuild_refuses_while_the_index_is_open_and_leaves_no_old_vectors(
        chroma_server: str, index_dir: Path, corpus: Path) -> None:
    import chromadb

    with Desk.open(settings=settings_for(index_dir, chroma_url=chroma_server),
                   create=True) as desk:
        desk.ingest([corpus])
        old = desk.archive.manifest.collection
        refused = run_cli("ingest", str(corpus), "--rebuild", "--index-dir", str(index_dir),
                          "--chroma-url", chroma_server)
        assert refused.returncode == 1 and "open in other processes" in refused.stderr
        assert len(desk.articles()) == 5 and desk.search("Rekognition")
    rebuilt = run_cli("ingest", str(corpus / "000_ca56b235a267ddf0.txt"), "--rebuild",
                      "--index-dir", str(index_dir), "--chroma-url", chroma_server)
    assert rebuilt.returncode == 0, rebuilt.stderr
    with Desk.open(settings=settings_for(index_dir)) as desk:
        assert [a.id for a in desk.articles()] == ["000_ca56b235a267ddf0.txt"]
        assert _consistent(desk) == 2 and desk.archive.manifest.collection != old
    port = int(chroma_server.rsplit(":", 1)[1])
    names = {c.name for c in chromadb.HttpClient(host="127.0.0.1", port=port).list_collections()}
    assert old not in names


def test_the_library_raises_the_domain_errors(chroma_server: str, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError, match=nowhere):
        Desk.open(settings=settings_for(tmp_path / "x", chroma_url=nowhere), create=True)
    assert not (tmp_path / "x" / "manifest.json").exists()  # nothing half-made
    with Desk.open(settings=settings_for(tmp_path / "y", chroma_url=chroma_server),
                   create=True) as desk:
        desk.ingest([CORPUS / "000_ca56b235a267ddf0.txt"])
        with desk.archive.writing(), pytest.raises(IndexBusyError, match="being written"):
            Desk.open(settings=settings_for(tmp_path / "y"), create=True)
    with Desk.open(settings=settings_for(tmp_path / "z"), create=True) as desk:
        desk.ingest([CORPUS / "000_ca56b235a267ddf0.txt"])
    with pytest.raises(IndexMismatchError, match="own folder"):
        Desk.open(settings=settings_for(tmp_path / "z", chroma_url=chroma_server))


def test_evaluation_runs_on_the_server_and_leaves_no_collections(
        chroma_server: str, tmp_path: Path) -> None:
    import chromadb

    port = int(chroma_server.rsplit(":", 1)[1])
    server = chromadb.HttpClient(host="127.0.0.1", port=port)
    before = {c.name for c in server.list_collections()}
    done = run_cli("eval", str(DATA / "questions.jsonl"), "--corpus", str(CORPUS), "--out",
                   str(tmp_path / "run"), "--json", "--chroma-url", chroma_server,
                   "--fail-under", "correct=0.85", "refusal=0.55", "faithfulness=1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["questions"] == 61
    assert {c.name for c in server.list_collections()} == before
