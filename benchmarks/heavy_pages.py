"""Ingest of saved pages that are mostly inline script: wall time and peak memory.

Builds N saved pages (default 260) of about 2.9 MB each — a short real-looking article with
2.8 MB of inline script, different in every page; every other page states no date (as many
pages do not; trafilatura then searches the whole page for one) — and ingests them into a
fresh index. Prints
the wall time, the peak resident memory of this process, and the peak of this process and its
ingest helpers together, sampled from /proc every 50 ms (a child's own ru_maxrss would count
the parent's memory it shares between fork and exec).

    python benchmarks/heavy_pages.py [--pages 260] [--mb 2.9]

Run it on two checkouts to compare them (PYTHONPATH=other/src python benchmarks/heavy_pages.py).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import string
import tempfile
import threading
import time
from pathlib import Path

from newsdesk import Desk, Settings

_ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Harbor board approves ferry route {n}</title>
{meta}
<script>{head}</script></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Harbor board approves ferry route {n}</h1>
<p>The harbor board approved ferry route {n} on Monday after a two-hour debate, with boats
to run every forty minutes between the north pier and the island from next month.</p>
<p>Fares will be five dollars for adults and half that for children, the board said, and
commuters who buy a monthly pass will pay forty dollars.</p>
<p>Residents of the island had asked for the route for years; the nearest crossing now takes
more than an hour by road.</p>
</article><script>{tail}</script></body></html>
"""


def script(rng: random.Random, size: int) -> str:
    """Inline script of about `size` characters, different in every page."""
    parts: list[str] = []
    total = 0
    while total < size:
        name = "".join(rng.choices(string.ascii_letters, k=8))
        line = (f"var {name}=function(x){{return x*{rng.randint(1, 9999)}+"
                f"'{''.join(rng.choices(string.ascii_letters, k=48))}';}};\n")
        parts.append(line)
        total += len(line)
    return "".join(parts)


def build(folder: Path, pages: int, megabytes: float) -> None:
    """Write the pages."""
    rng = random.Random(11)
    folder.mkdir(parents=True)
    size = int(megabytes * 1024 * 1024)
    for n in range(pages):
        body = script(rng, size - 1200)
        day = 1 + n % 28
        meta = (f'<meta property="article:published_time" content="2024-03-{day:02d}T09:00:00Z">'
                if n % 2 else "")
        html = _ARTICLE.format(n=n, day=day, meta=meta, head=body[: len(body) // 2],
                               tail=body[len(body) // 2:])
        (folder / f"page-{n:04d}.html").write_text(html, encoding="utf-8")


class Sampler(threading.Thread):
    """The largest resident memory of this process and its children together, in kB."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._done.wait(0.05):
            self.peak = max(self.peak, sum(_rss(pid) for pid in _family(os.getpid())))

    def stop(self) -> None:
        """Stop sampling; `peak` is then final."""
        self._done.set()
        self.join()


def _family(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += _family(int(child))
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    """Build the pages, ingest them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=260)
    parser.add_argument("--mb", type=float, default=2.9, help="size of each page")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsdesk-heavy-"))
    try:
        build(work / "pages", args.pages, args.mb)
        print(f"{args.pages} pages of {args.mb} MB written")
        settings = Settings.from_env(env={}, index_dir=work / "index")
        sampler = Sampler()
        with Desk.open(settings=settings, create=True) as desk:
            desk.embedder.embed(["warm up the model"])
            sampler.start()
            started = time.perf_counter()
            report = desk.ingest([work / "pages"])
            seconds = time.perf_counter() - started
            sampler.stop()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"ingested {len(report.added)} articles ({len(report.failed)} failed) in "
              f"{seconds:.1f} s; peak memory: this process {own:.0f} MB, with its helpers "
              f"{sampler.peak / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
