"""One index, many processes: chat servers and Desks keep answering while another process
writes, see each completed write on their next question, never a half-written one, and
writers exclude each other with a message naming the other process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from gradio_client import Client

from conftest import BENCHMARKS, CORPUS, run_cli, settings_for
from newsdesk import Desk
from newsdesk_ui.handlers import Handlers
from ui_fixtures import free_port, newsdesk, server_env, stop, wait_for_http

sys.path.insert(0, str(BENCHMARKS))
import synth

QUILLON = "When will the Quillon night crossing leave Seattle?"


def quillon_article(folder: Path, name: str = "quillon.json",
                    outlet: str = "Harbor Gazette") -> Path:
    """A made-up article from an outlet no other article has."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({
        "title": "Quillon ferry adds a night crossing", "publisher": outlet,
        "date": "2024-03-05", "author": "Ana Ortiz",
        "text": "The Quillon Ferry Company will add a night crossing to Bainbridge Island in "
                "May, its owner Mara Quillon said on Tuesday.\n\nThe Quillon night crossing "
                "will leave Seattle at eleven at night and carry forty cars."}), encoding="utf-8")
    return path


def serve(index: Path, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """A real `newsdesk serve` on the index (wherever it keeps its vectors); (process, URL)."""
    port = free_port()
    env = server_env(tmp)
    process = newsdesk("serve", "--index-dir", str(index), "--port", str(port), cwd=tmp, env=env)
    url = f"http://127.0.0.1:{port}/"
    wait_for_http(url, process)
    return process, url


def test_a_served_chat_answers_from_what_other_processes_add(
        store: str | None, tmp_path: Path) -> None:
    index = tmp_path / "index"
    with Desk.open(settings=settings_for(index, chroma_url=store), create=True) as desk:
        desk.ingest([CORPUS])
    process, url = serve(index, tmp_path)
    try:
        client = Client(url, verbose=False)
        harbor, quay = {"outlets": ["Harbor Gazette"]}, {"outlets": ["Quay Courier"]}
        before = client.predict(QUILLON, [], harbor, api_name="/ask")
        assert before["refused"] and before["citations"] == []
        added = run_cli("ingest", str(quillon_article(tmp_path / "new")), "--index-dir", str(index))
        assert added.returncode == 0, added.stderr
        after = client.predict(QUILLON, [], harbor, api_name="/ask")  # the next question
        assert not after["refused"], after
        assert {c["source"] for c in after["citations"]} == {"quillon.json"}
        with Desk.open(settings=settings_for(index)) as other:  # a second chat server
            report = Handlers(other).add_files([str(quillon_article(
                tmp_path / "up", "quay.json", outlet="Quay Courier"))], "")[0]
            assert "quay.json" in report
            with other.archive.writing():  # while it writes, nobody else may
                busy = run_cli("ingest", str(CORPUS), "--index-dir", str(index))
            assert busy.returncode == 1 and busy.stderr.count("\n") == 1
            assert f"is being written by newsdesk process {os.getpid()}" in busy.stderr
        uploaded = client.predict(QUILLON, [], quay, api_name="/ask")
        assert {p["source"] for p in uploaded["retrieved"]} == {"quay.json"}
        assert "quay.json" in {c["source"] for c in uploaded["citations"]}
    finally:
        output = stop(process)
    assert "Traceback" not in output and "Error finding id" not in output


def test_readers_never_see_a_half_written_archive_and_never_error(tmp_path: Path) -> None:
    base, more = tmp_path / "base", tmp_path / "more"
    synth.build(base, 300, chunks=4)
    synth.build(more / "wire", 60, chunks=4, seed=3)  # ids wire/000000_synthetic.txt, ...
    quillon_article(more, "zz-quillon.json")  # written last
    index = tmp_path / "index"
    with Desk.open(settings=settings_for(index), create=True) as desk:
        desk.ingest([base])
    with Desk.open(settings=settings_for(index)) as reader:
        exe = Path(sys.executable).with_name("newsdesk")
        writer = subprocess.Popen([str(exe), "ingest", str(more), "--index-dir", str(index)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[int] = []
        errors: list[BaseException] = []

        def ask_while_it_writes() -> None:
            while writer.poll() is None:
                try:
                    seen.append(_one_consistent_look(reader))
                except BaseException as exc:  # every one is reported below
                    errors.append(exc)

        threads = [threading.Thread(target=ask_while_it_writes) for _ in range(2)]
        for thread in threads:
            thread.start()
        _, stderr = writer.communicate(timeout=300)
        for thread in threads:
            thread.join(60)
        assert writer.returncode == 0, stderr
        assert errors == [], errors[:3]
        assert len(set(seen)) > 1  # the readers saw the archive grow while it was written
        answer = reader.ask(QUILLON, filters={"outlet": "Harbor Gazette"})  # the next question
        assert {c.source for c in answer.citations} == {"zz-quillon.json"}
        assert _one_consistent_look(reader) == 361


def _one_consistent_look(desk: Desk) -> int:
    """Search as a user would, and check that what one question sees is whole: every article
    in its state of the catalog has all its passages in both searches. Returns the articles."""
    with desk.archive.reading():
        catalog, keyword = desk.archive.catalog, desk.archive.keyword()
        articles, chunks = catalog.counts()
        assert keyword.documents == chunks and keyword.generation == catalog.generation
        assert catalog.all_chunk_ids() <= desk.archive.vectors.ids()
        found = desk.search("Quillon night crossing", k=5, filters={"outlet": "Harbor Gazette"})
        assert {p.source for p in found} <= {"zz-quillon.json"}
    return articles


def test_questions_from_short_lived_threads_leave_no_open_files(sample_desk: Desk) -> None:
    """The web chat answers on worker threads that come and go: each thread's snapshot of the
    catalog is closed with it, so a long-running server does not run out of file handles."""
    import gc

    question = "Which organizations could still use Rekognition?"

    def handles_after_a_round() -> int:
        threads = [threading.Thread(target=sample_desk.ask, args=(question,)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        del threads, thread  # a thread's locals go with its Thread object
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    assert not sample_desk.ask(question).refused
    # SQLite defers closing a file while another connection of the process holds a lock on
    # it, so a round's handles may outlive it until the next; they must not pile up
    first = handles_after_a_round()
    counts = [handles_after_a_round() for _ in range(4)]
    assert max(counts) <= first + 3, (first, counts)  # without closing: 10 more each round
