"""The `newsdesk` command through its real entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import CORPUS, run_cli


def test_ingest_twice_reports_everything_unchanged(tmp_path: Path) -> None:
    index = str(tmp_path / "T")
    first = run_cli("ingest", str(CORPUS), "--index-dir", index, "--json")
    second = run_cli("ingest", str(CORPUS), "--index-dir", index, "--json")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert len(one["added"]) == 5 and one["chunks"] > 0
    assert len(two["unchanged"]) == 5 and two["added"] == [] and two["chunks"] == 0
    assert isinstance(two["seconds"], float)


def test_human_summary_and_listing(tmp_path: Path) -> None:
    index = str(tmp_path / "T")
    done = run_cli("ingest", str(CORPUS), "--index-dir", index)
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == (
        "added 5 · updated 0 · unchanged 0 · removed 0 · skipped 0 · failed 0")
    listed = run_cli("list", "--index-dir", index)
    assert "Amazon Extends Moratorium on Police Use of Facial Recognition Software" in listed.stdout
    assert listed.stdout.strip().endswith("5 articles")
    rows = json.loads(run_cli("list", "--index-dir", index, "--json").stdout)
    assert {r["id"] for r in rows} == {p.name for p in CORPUS.iterdir()}
    assert set(rows[0]) == {"id", "title", "outlet", "author", "date", "url", "chunks", "language"}
    assert {r["language"] for r in rows} == {"en"}


def test_index_dir_comes_from_the_environment_then_the_current_folder(tmp_path: Path) -> None:
    from_env = tmp_path / "from-env"
    done = run_cli("ingest", str(CORPUS), env={"NEWSDESK_INDEX_DIR": str(from_env)})
    assert done.returncode == 0 and (from_env / "manifest.json").exists()
    workdir = tmp_path / "work"
    shutil.copytree(CORPUS, workdir / "corpus")
    done = run_cli("ingest", "corpus", cwd=workdir)
    assert done.returncode == 0 and (workdir / "index" / "manifest.json").exists()


def test_errors_are_one_line_and_exit_non_zero(tmp_path: Path) -> None:
    listed = run_cli("list", "--index-dir", str(tmp_path / "none"))
    assert listed.returncode == 1
    assert listed.stderr.count("\n") == 1 and "newsdesk ingest" in listed.stderr
    mismatch_index = str(tmp_path / "T")
    run_cli("ingest", str(CORPUS / "000_ca56b235a267ddf0.txt"), "--index-dir", mismatch_index)
    mismatch = run_cli("ingest", str(CORPUS), "--index-dir", mismatch_index, "--embedder", "minilm")
    assert mismatch.returncode == 1 and "--rebuild" in mismatch.stderr
