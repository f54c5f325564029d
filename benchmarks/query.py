"""Query latency: warm Desk.ask over the question set, on the sample corpus and on a synthetic
archive of 10,000 articles, and the wall time of a cold `newsdesk ask` in a new process.

    python benchmarks/query.py [--articles 10000] [--index DIR] [--repeat 3]

--index keeps (and reuses) the synthetic archive's index, which takes about a minute to build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth
from newsdesk import Desk, Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


def warm(desk: Desk, questions: list[dict[str, object]], repeat: int) -> list[float]:
    """Milliseconds per ask, after one untimed pass that loads models and caches."""
    for q in questions:
        desk.ask(str(q["question"]), history=q.get("history"))  # type: ignore[arg-type]
    times = []
    for _ in range(repeat):
        for q in questions:
            started = time.perf_counter()
            desk.ask(str(q["question"]), history=q.get("history"))  # type: ignore[arg-type]
            times.append(1000 * (time.perf_counter() - started))
    return times


def cold(index: Path, runs: int) -> list[float]:
    """Seconds for `newsdesk ask` in a fresh process on an existing index."""
    exe = Path(sys.executable).with_name("newsdesk")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(exe), "ask", "Which organizations could still use Rekognition?",
                        "--index-dir", str(index)], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{name:34s} p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   "
            f"({len(ordered)} asks)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="newsdesk-query-"))
    try:
        sample = work / "sample-index"
        with Desk.open(settings=Settings.from_env(env={}, index_dir=sample), create=True) as desk:
            desk.ingest([ROOT / "corpus"])
        with Desk.open(settings=Settings.from_env(env={}, index_dir=sample)) as desk:
            print(line("warm ask, sample corpus (5)", warm(desk, questions, args.repeat)))

        big = args.index or work / "big-index"
        settings = Settings.from_env(env={}, index_dir=big)
        if not (big / "manifest.json").exists():
            archive = work / "archive"
            synth.build(archive, args.articles)
            started = time.perf_counter()
            with Desk.open(settings=settings, create=True) as desk:
                desk.ingest([archive])
            print(f"built the {args.articles:,}-article index in "
                  f"{time.perf_counter() - started:.0f} s")
            shutil.rmtree(archive)
        with Desk.open(settings=settings) as desk:
            articles, chunks = desk.archive.catalog.counts()
            name = f"warm ask, {articles:,} articles"
            print(line(name, warm(desk, questions, args.repeat)) + f", {chunks:,} chunks")

        cold(sample, 1)  # the first run also compiles bytecode; not counted
        times = cold(sample, 5)
        print(f"{'cold `newsdesk ask` (new process)':34s} median {statistics.median(times):.2f} s"
              f"   max {max(times):.2f} s   (5 runs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
