"""The edges of a terminal: a closed pipe, a busy port, Ctrl-C — one line, never a traceback."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BENCHMARKS, articles_in
from ui_fixtures import server_env

sys.path.insert(0, str(BENCHMARKS))
import synth

EXE = Path(sys.executable).with_name("newsdesk")
QUESTION = "Which organizations could still use Rekognition?"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}


def _pipeline(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], capture_output=True,
                          text=True, env=_env(), timeout=300)


def test_a_closed_pipe_ends_the_output_quietly(sample_index: Path) -> None:
    index = shlex.quote(str(sample_index))
    for command in (f"{EXE} ask {shlex.quote(QUESTION)} --index-dir {index} | head -1",
                    f"{EXE} search Rekognition --index-dir {index} | head -1",
                    f"{EXE} list --index-dir {index} | true",  # the reader is gone before the output
                    f"{EXE} search Rekognition --index-dir {index} --json | true"):
        done = _pipeline(command)
        assert done.stderr == "", (command, done.stderr)
        # 141, as if ended by SIGPIPE, when the reader was gone before the output (`| true`)
        assert done.returncode == 141 if command.endswith("| true") else done.returncode in (0, 141)


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path, sample_index: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([str(EXE), "serve", "--index-dir", str(sample_index), "--port",
                               str(port)], capture_output=True, text=True, cwd=tmp_path,
                              env=server_env(tmp_path), timeout=180)
    assert done.returncode == 1
    assert done.stderr == (f"newsdesk: cannot serve on 127.0.0.1:{port}: address already in use; "
                           "choose another --port (or --host)\n")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


@pytest.mark.slow
def test_ctrl_c_during_a_big_ingest_prints_one_line(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    synth.build(archive, 300, chunks=3)  # enough files (200) for the helper processes to start
    index = tmp_path / "index"
    process = subprocess.Popen([str(EXE), "ingest", str(archive), "--index-dir", str(index)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while not (len(_children(process.pid)) >= 2 and articles_in(index) > 0):
        assert process.poll() is None and time.monotonic() < deadline, "ingest ended too soon"
        time.sleep(0.02)
    helpers = _children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: its whole group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr == "newsdesk: interrupted\n"
    assert not [pid for pid in helpers if _running(pid)]  # the helpers are gone too


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
