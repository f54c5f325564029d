"""SIGKILL part-way through `newsdesk ingest`, run it again: the same index as one clean run
(with the vectors in the index folder, and in a Chroma server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BENCHMARKS, articles_in, run_cli, settings_for
from newsdesk import Desk

sys.path.insert(0, str(BENCHMARKS))
import synth

ARTICLES = 600


def _snapshot(index: Path) -> tuple[set[str], int, dict[str, str], int]:
    with Desk.open(settings=settings_for(index)) as desk:
        texts = {cid: text for _, _, cid, text in desk.archive.catalog.all_chunks()}
        keyword = desk.archive.keyword()
        return desk.archive.vectors.ids(), desk.archive.vectors.count(), texts, keyword.documents


@pytest.mark.slow
@pytest.mark.parametrize(("kill_after", "where"), [(0.15, "embedded"), (0.6, "embedded"),
                                                   (0.4, "server")])
def test_killed_ingest_converges_on_rerun(tmp_path: Path, kill_after: float, where: str,
                                          request: pytest.FixtureRequest) -> None:
    archive = tmp_path / "archive"
    synth.build(archive, ARTICLES, chunks=4)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    exe = Path(sys.executable).with_name("newsdesk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    if where == "server":  # vectors in a real Chroma server; each index its own collection
        env["NEWSDESK_CHROMA_URL"] = request.getfixturevalue("chroma_server")
    process = subprocess.Popen([str(exe), "ingest", str(archive), "--index-dir", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while articles_in(killed) < ARTICLES * kill_after and time.monotonic() < deadline:
        assert process.poll() is None, "ingest finished before it could be killed"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = articles_in(killed)
    assert 0 < partial < ARTICLES, partial

    rerun = run_cli("ingest", str(archive), "--index-dir", str(killed))  # where it was built
    assert rerun.returncode == 0, rerun.stderr
    assert run_cli("ingest", str(archive), "--index-dir", str(clean), env=env).returncode == 0

    ids, count, texts, keyword_docs = _snapshot(killed)
    assert (ids, count, texts, keyword_docs) == _snapshot(clean)
    assert count == len(texts) == keyword_docs and set(texts) == ids
