"""Query latency: warm Desk.ask over the question set, on the sample corpus, on the BBC dev
archive (2,225 articles, its 400 dev questions, when ../shared/bbc is there) and on a synthetic
archive of 10,000 articles (about 100,000 chunks), and the wall time of a cold `newsdesk ask` in a
new process. For the BBC archive it also prints where the time goes, stage by stage.

    python benchmarks/query.py [--articles 10000] [--index DIR] [--bbc-index DIR] [--repeat 3]

--index and --bbc-index keep (and reuse) those archives' indexes, which take about a minute
each to build.
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
from newsdesk.evidence import Evidence
from newsdesk.features import matrices

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
BBC = ROOT.parent / "shared" / "bbc"
STAGES = ("prepare", "evidence", "features", "decide")


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


def stages(desk: Desk, questions: list[dict[str, object]]) -> dict[str, list[float]]:
    """Milliseconds per stage of a warm ask, each question once: question analysis, embedding
    and retrieval (prepare); reading the candidate sentences (evidence); their feature
    matrices (features); scoring, refusal and choosing the sentences (decide)."""
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    composer = desk._composer()
    for q in questions:
        started = time.perf_counter()
        prepared = desk._prepare(str(q["question"]), q.get("history"), None)  # type: ignore[arg-type]
        times["prepare"].append(1000 * (time.perf_counter() - started))
        if prepared is None or not prepared.hits or not prepared.question.terms:
            continue
        started = time.perf_counter()
        evidence = Evidence(desk.archive, prepared.question, prepared.vector, prepared.hits)
        times["evidence"].append(1000 * (time.perf_counter() - started))
        if not evidence.sentences:
            continue
        started = time.perf_counter()
        features = matrices(evidence)
        times["features"].append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        composer.decide(prepared.question, evidence, features)
        times["decide"].append(1000 * (time.perf_counter() - started))
    return times


def bbc(index: Path | None, work: Path, repeat: int) -> None:
    """Warm asks over the BBC dev questions (with their history), and the per-stage split."""
    if not (BBC / "articles").is_dir() or not (BBC / "dev_questions.jsonl").is_file():
        print(f"skipped the BBC archive: {BBC} is absent")
        return
    questions = [json.loads(line) for line in
                 (BBC / "dev_questions.jsonl").read_text().splitlines() if line.strip()]
    index = index or work / "bbc-index"
    settings = Settings.from_env(env={}, index_dir=index)
    if not (index / "manifest.json").exists():
        started = time.perf_counter()
        with Desk.open(settings=settings, create=True) as desk:
            desk.ingest([BBC / "articles"])
        print(f"built the BBC index in {time.perf_counter() - started:.0f} s")
    with Desk.open(settings=settings) as desk:
        articles, chunks = desk.archive.catalog.counts()
        print(line(f"warm ask, BBC ({articles:,} articles)", warm(desk, questions, repeat))
              + f", {chunks:,} chunks")
        split = stages(desk, questions)
    print(f"{'  per stage, p50':34s} " + "   ".join(
        f"{stage} {statistics.median(split[stage]):.1f} ms" for stage in STAGES if split[stage]))


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
    parser.add_argument("--bbc-index", type=Path, default=None)
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
        bbc(args.bbc_index, work, args.repeat)

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
