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
