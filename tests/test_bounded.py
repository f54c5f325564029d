"""Ingest holds a bounded number of bytes, not files; an index built with another keyword
analyser says how to rebuild it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from conftest import DATA, settings_for
from newsdesk import Desk, IndexMismatchError
from newsdesk import ingest as ingest_module
from newsdesk.prepare import _Budget


def test_the_budget_holds_bytes_not_files() -> None:
    budget = _Budget(100)
    budget.acquire(60)
    taken: list[int] = []

    def take(size: int) -> None:
        budget.acquire(size)
        taken.append(size)

    waiting = threading.Thread(target=take, args=(50,))
    waiting.start()
    time.sleep(0.2)
    assert taken == []  # 60 + 50 would pass the bound
    budget.release(60)
    waiting.join(5)
    assert taken == [50]
    budget.release(50)
    take(500)  # larger than the whole bound: taken when nothing else is in flight
    assert taken == [50, 500]


def test_big_pages_go_through_the_helpers_within_the_bound(open_desk, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    page = (DATA / "web" / "de.html").read_text(encoding="utf-8")
    folder = tmp_path / "pages"
    folder.mkdir()
    for n in range(8):
        script = f"<script>var filler{n} = '{'x' * 300_000}';</script>"
        (folder / f"page-{n}.html").write_text(
            page.replace("Wasserpreise um acht", f"Wasserpreise um {n + 2}").replace(
                "</head>", script + "</head>"), encoding="utf-8")
    # 8 pages of 300 kB against a bound of 1 MB: the helpers run, never more than ~3 in flight
    monkeypatch.setattr(ingest_module, "BYTES_IN_FLIGHT", 1_000_000)
    desk: Desk = open_desk()
    report = desk.ingest([folder])
    assert sorted(report.added) == [f"page-{n}.html" for n in range(8)] and report.failed == []
    texts = {a.id: desk.archive.catalog.article(a.id).article.text for a in desk.articles()}  # type: ignore[union-attr]
    assert all(f"Wasserpreise um {n + 2} Prozent" in texts[f"page-{n}.html"] for n in range(8))


def test_an_index_from_before_the_analyser_was_recorded_asks_for_a_rebuild(
        open_desk, index_dir: Path) -> None:
    open_desk().close()
    manifest = index_dir / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["analyser"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"analyser.*--rebuild"):
        Desk.open(settings=settings_for(index_dir))
