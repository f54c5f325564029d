"""Input made to break things: symbolic link loops, unreadable folders, terminal escapes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli


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
