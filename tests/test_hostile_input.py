"""Input made to break things: symbolic link loops, unreadable folders, terminal escapes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, settings_for
from newsdesk import Desk


def test_a_symlink_loop_is_one_failed_path_and_the_rest_goes_in(tmp_path: Path) -> None:
    folder = tmp_path / "L"
    folder.mkdir()
    (folder / "b.txt").symlink_to("a.txt")
    (folder / "a.txt").symlink_to("b.txt")
    (folder / "real.txt").write_text("Text.\n", encoding="utf-8")
    index = str(tmp_path / "index")
    done = run_cli("ingest", str(folder), "--index-dir", index)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"failed: {folder / 'a.txt'}: cannot be read: symbolic link loop",
                                        f"failed: {folder / 'b.txt'}: cannot be read: symbolic link loop"]
    assert done.stdout.startswith("added 1 · updated 0 · unchanged 0 · removed 0 · skipped 0 · failed 2")
    direct = run_cli("ingest", str(folder / "a.txt"), "--index-dir", index)
    assert direct.returncode == 1
    assert direct.stderr == f"failed: {folder / 'a.txt'}: cannot be read: symbolic link loop\n"


def _without_root_override() -> list[str]:
    """A command prefix under which permissions apply even to root (which reads anything)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_unreadable_folders_and_files_are_reported_per_path(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "open").mkdir()
    (tree / "open" / "a.txt").write_text("A readable article about the ferry.\n", encoding="utf-8")
    (tree / "open" / "c.txt").write_text("An unreadable article.\n", encoding="utf-8")
    (tree / "locked" / "b.txt").write_text("A locked-away article.\n", encoding="utf-8")
    (tree / "open" / "c.txt").chmod(0)
    (tree / "locked").chmod(0)
    try:
        exe = Path(sys.executable).with_name("newsdesk")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
        done = subprocess.run([*_without_root_override(), str(exe), "ingest", str(tree),
                               "--index-dir", str(tmp_path / "index")], capture_output=True,
                              text=True, env=env, timeout=300)
    finally:
        (tree / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stderr.splitlines()) == [
        f"failed: {tree / 'locked'}: cannot be read: Permission denied",
        f"failed: {tree / 'open' / 'c.txt'}: cannot be read: Permission denied"]
    assert done.stdout.startswith("added 1 ")


ESCAPES = ("\x1b[2J\x1b[H", "\x1b[31m", "\x1b[0m", "\x1b]0;pwned title\x07", "\x9b2J", "\x1bc",
           "\x07", "\x1b[?1049h")
FILLER = ("The harbour master said the repairs would be paid for from the ferry fund, which "
          "collects a small fee on every crossing, and that the work had been planned for years. ")
HOSTILE = ("Glimmerfen council escapes the terminal\n\n"
           "The Glimmerfen council {0}voted{2} to {1}close{2} the old ferry pier on Tuesday, "
           "officials said.{3}{4}\n\nThe Glimmerfen pier will reopen in May{5}, the council "
           "said{6}.{7}\n\n").format(*ESCAPES) + (FILLER * 4 + "\n\n") * 3  # escapes < 1 % of it


def _has_escapes(text: str) -> bool:
    return any(c in text for c in "\x1b\x9b\x07")


def test_terminal_escapes_in_an_article_never_reach_the_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "glimmerfen.txt").write_text(HOSTILE, encoding="utf-8")
    (folder / "feed.jsonl").write_text(json.dumps(
        {"title": "Glimmerfen \x1b[5mblinks\x1b[0m", "text": HOSTILE}) + "\n", encoding="utf-8")
    (folder / "name\x1b[2J.txt").write_text("The Glimmerfen ferry name file story.\n",
                                            encoding="utf-8")
    index = str(tmp_path / "index")
    ingested = run_cli("ingest", str(folder), "--index-dir", index)
    assert ingested.returncode == 0, ingested.stderr
    with Desk.open(settings=settings_for(Path(index))) as desk:
        stored = desk.archive.catalog.article("glimmerfen.txt")
        feed = next(a.id for a in desk.articles() if a.id.startswith("feed.jsonl#"))
        titled = desk.archive.catalog.article(feed)
    assert stored is not None and titled is not None
    assert not _has_escapes(stored.article.text) and not _has_escapes(titled.article.title)
    assert "voted to close the old ferry pier on Tuesday" in stored.article.text  # words kept
    assert titled.article.title == "Glimmerfen blinks"
    for command in (("ask", "When will the Glimmerfen pier reopen?"),
                    ("search", "Glimmerfen ferry"), ("search", "Glimmerfen", "--json"), ("list",)):
        done = run_cli(*command, "--index-dir", index)
        assert done.returncode == 0, (command, done.stderr)
        assert not _has_escapes(done.stdout + done.stderr), command
        assert "Glimmerfen" in done.stdout
    assert "name.txt" in run_cli("list", "--index-dir", index).stdout  # the file name, cleaned


def test_the_cli_strips_escapes_an_older_index_still_holds(tmp_path: Path, sample_index: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    with sqlite3.connect(index / "catalog.sqlite") as db:  # as if ingested before the fix
        db.execute("UPDATE articles SET title = ? WHERE id = ?",
                   ("Moratorium \x1b]0;owned\x07\x1b[2J\x1b[31mextended\x1b[0m",
                    "003_c4a1611d945e26cc.txt"))
    listed = run_cli("list", "--index-dir", str(index))
    assert listed.returncode == 0 and not _has_escapes(listed.stdout)
    assert "Moratorium extended" in listed.stdout


def test_files_that_crashed_the_readers_are_one_failure_each(tmp_path: Path) -> None:
    """Found by the fuzz pass (tests/test_fuzz_readers.py): nested JSON raised RecursionError
    and '<svg>html' an AssertionError inside trafilatura, either stopping an ingest."""
    folder = tmp_path / "found"
    folder.mkdir()
    (folder / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (folder / "deep.jsonl").write_bytes(b'{"text": "A fine line about the ferry."}\n'
                                        + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    (folder / "odd.html").write_bytes(b"<svg>html")
    (folder / "fine.txt").write_text("The ferry left on time on Monday, the captain said.\n",
                                     encoding="utf-8")
    done = run_cli("ingest", str(folder), "--index-dir", str(tmp_path / "index"), "--json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    summary = json.loads(done.stdout)
    added = sorted(summary["added"])
    assert added[0].startswith("deep.jsonl#") and "fine.txt" in added
    reasons = {Path(f["path"]).name: f["reason"] for f in summary["failed"]}
    assert reasons["deep.json"].startswith("JSON nested too deeply to read")
    assert reasons["deep.jsonl:2"].startswith("line 2: JSON nested too deeply to read")
    # '<svg>html' is read as text without metadata (its one word "html"), or refused for
    # having none: either way an orderly outcome for that file alone
    assert ("odd.html" in added) != ("odd.html" in reasons)
    assert not reasons.get("odd.html", "").startswith("internal error")
