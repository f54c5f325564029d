"""Helpers for the web chat's tests: a real `newsdesk serve`, headless Chromium, article files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import CORPUS

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "ui"
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REKOGNITION = "Which organizations could still use Rekognition?"
REFUSED = "How much does Amazon charge customers to use Rekognition?"
MARKUP = "<b>bold</b><script>alert(1)</script>"
MARKUP_TITLE = f"Quillfeather {MARKUP} gala raises money for the city library"

def server_env(tmp: Path) -> dict[str, str]:
    """The caller's environment without NEWSDESK_*, with Gradio's files kept in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSDESK_", "GRADIO_"))}
    env["GRADIO_TEMP_DIR"] = str(tmp / "gradio")
    return env


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def newsdesk(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the real `newsdesk` console script."""
    exe = Path(sys.executable).with_name("newsdesk")
    return subprocess.Popen([str(exe), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_http(url: str, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """Return once url answers; fail with the server's output if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"newsdesk serve exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    stop(process)
    pytest.fail(f"newsdesk serve did not answer at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[str]) -> str:
    """Interrupt the server as Ctrl-C would and return what it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""


@contextmanager
def served(tmp: Path) -> Iterator[str]:
    """`newsdesk serve` on an index it builds from a copy of corpus/; yields its URL."""
    shutil.copytree(CORPUS, tmp / "corpus")
    port = free_port()
    process = newsdesk("serve", "--index-dir", str(tmp / "index"), "--port", str(port),
                       cwd=tmp, env=server_env(tmp))
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, process)
        yield url
    finally:
        stop(process)


def chromium() -> Path:
    """Debian's Chromium; its absence fails the test unless NEWSDESK_SKIP_BROWSER=1 is set."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("NEWSDESK_SKIP_BROWSER") == "1":
        pytest.skip("NEWSDESK_SKIP_BROWSER=1 and /usr/bin/chromium is missing")
    pytest.fail("the browser tests need Debian's Chromium at /usr/bin/chromium: run "
                "`apt-get install -y chromium` (or set NEWSDESK_SKIP_BROWSER=1 to skip them)")


def write_article(folder: Path, name: str, title: str, *paragraphs: str) -> Path:
    """A plain-text article file: a headline line, then paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n\n".join([title, *paragraphs]) + "\n", encoding="utf-8")
    return path


def zorblat_article(folder: Path) -> Path:
    """A made-up article no sample question touches."""
    return write_article(
        folder, "zorblat.txt", "Zorblat kite festival returns to Tacoma this August",
        "The Zorblat festival of kite engineering returns to Tacoma in August, organizers said "
        "on Monday.",
        "This year the Zorblat festival will crown the longest-flying kite with a brass trophy "
        "shaped like a heron, according to the organizers.",
        "Tickets cost twelve dollars and go on sale in July.")


def html_article(folder: Path) -> Path:
    """An article whose headline and text carry HTML that must show as text."""
    return write_article(
        folder, "markup.txt", MARKUP_TITLE,
        f"The Quillfeather {MARKUP} gala raised money for the city "
        "library, its organizers said.",
        "Guests at the Quillfeather gala wrote letters with goose quills for an evening.")
