"""newsdesk at scale: synthetic archives of 10,000 and 100,000 articles (about 100,000 and
1,000,000 chunks, made by varied.py), ingested with the vectors in the embedded Chroma and in
a Chroma server, and measured:

- ingest: chunks/s over the whole run (the keyword index built at the end included), and per
  quarter of the run (is it sustained?), with the peak memory of the ingesting process;
- the index's size on disk (and the Chroma server's data folder);
- warm questions through `Desk.ask` over a fixed question list (the project's set, then BBC
  development questions when ../shared/bbc is there): p50 / p95 of the whole ask and of
  retrieval alone (`Desk.search` of the same question: embedding, both searches, fusion);
- a cold `newsdesk ask` (a new process, median of three);
- the peak memory of `newsdesk serve` after answering the question list once through its API
  (and of the Chroma server, for the server store).

    python benchmarks/scale.py [--articles 10000 100000] [--stores embedded server]
                               [--work DIR] [--keep]

A million chunks takes about an hour per store on two cores; the archive and the indexes are
deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import varied
from newsdesk import Desk, Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
BBC_QUESTIONS = ROOT.parent / "shared" / "bbc" / "dev_questions.jsonl"
BIN = Path(sys.executable).parent


def question_list(bbc: int = 40) -> list[dict[str, Any]]:
    """The fixed question list: the project's set, then the first `bbc` BBC questions."""
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    if BBC_QUESTIONS.exists():
        more = [json.loads(line) for line in BBC_QUESTIONS.read_text().splitlines() if line.strip()]
        rows += [q for q in more if q["kind"] != "followup"][:bbc]
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered at {url}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def memory_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def disk_mb(*paths: Path) -> float:
    total = 0
    for path in paths:
        for dirpath, _, files in os.walk(path):
            total += sum((Path(dirpath) / f).stat().st_blocks * 512 for f in files)
    return total / 1024 / 1024


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ingest(archive: Path, settings: Settings) -> dict[str, Any]:
    """`newsdesk ingest` of the archive: chunks/s overall and per quarter of the writes, and
    the peak memory of the ingesting process (its two helper processes not counted)."""
    import sqlite3

    catalog = settings.index_dir / "catalog.sqlite"
    samples: list[tuple[float, int]] = []
    peak = main_cpu = 0.0
    started, cpu_before = time.perf_counter(), children_cpu_s()
    with tempfile.TemporaryFile("w+") as out:  # a pipe would fill up with 100,000 ids
        process = subprocess.Popen([str(BIN / "newsdesk"), "ingest", str(archive), "--json"],
                                   env=_env(settings), stdout=out, text=True)
        while process.poll() is None:
            time.sleep(2)
            try:
                peak = max(peak, memory_mb(process.pid)[0])
                main_cpu = cpu_s(process.pid)
                with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
                    count = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                samples.append((time.perf_counter() - started, int(count)))
            except (OSError, sqlite3.Error, KeyError):
                pass  # not started yet, or just finished
        seconds = time.perf_counter() - started
        total_cpu = children_cpu_s() - cpu_before
        out.seek(0)
        summary = json.loads(out.read() or "{}")
    chunks = samples[-1][1] if samples else 0
    written = next((t for t, c in samples if c == chunks), seconds)
    quarters = []
    for q in range(4):
        inside = [(t, c) for t, c in samples if written * q / 4 <= t <= written * (q + 1) / 4]
        if len(inside) < 2:
            quarters.append(0.0)
            continue
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        quarters.append((c1 - c0) / (t1 - t0))
    return {"articles": len(summary.get("added", [])), "chunks": summary.get("chunks", chunks),
            "seconds": seconds, "chunks_per_s": summary.get("chunks", chunks) / seconds,
            "quarters": quarters, "failed": len(summary.get("failed", [])),
            "after_last_write_s": seconds - written, "peak_mb": peak,
            "main_cpu_s": main_cpu, "total_cpu_s": total_cpu}


def warm(settings: Settings, questions: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """p50/p95 of Desk.ask and of retrieval alone, after one untimed pass; then the first ask
    after another process added an article (the reader reloads what changed)."""
    asks: list[float] = []
    searches: list[float] = []
    cpu: list[float] = []
    with Desk.open(settings=settings) as desk:
        for q in questions:
            desk.ask(q["question"], history=q.get("history"))
        for q in questions:
            t = time.perf_counter()
            desk.search(q["question"], k=settings.k)
            searches.append(1000 * (time.perf_counter() - t))
            t, c = time.perf_counter(), time.process_time()
            desk.ask(q["question"], history=q.get("history"))
            asks.append(1000 * (time.perf_counter() - t))
            cpu.append(1000 * (time.process_time() - c))
        new = work / "one-more"
        varied.build(new, 1, seed=99)
        subprocess.run([str(BIN / "newsdesk"), "ingest", str(new / "000" / "000000.txt")],
                       env=_env(settings), check=True, capture_output=True)
        t, c = time.perf_counter(), time.process_time()
        desk.ask(questions[0]["question"])
        after_write = (1000 * (time.perf_counter() - t), 1000 * (time.process_time() - c))
        shutil.rmtree(new)
    return {"ask": percentiles(asks), "retrieve": percentiles(searches), "n": len(asks),
            "ask_cpu": percentiles(cpu), "after_write_ms": after_write}


def cold(settings: Settings, runs: int = 3) -> float:
    """Median seconds of `newsdesk ask` in a new process."""
    env = _env(settings)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([str(BIN / "newsdesk"), "ask", "Which organizations could still use "
                        "Rekognition?"], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def serve_memory(settings: Settings, questions: list[dict[str, Any]]) -> tuple[float, float]:
    """Peak and current memory of `newsdesk serve` after it answered every question."""
    from gradio_client import Client

    port = free_port()
    process = subprocess.Popen([str(BIN / "newsdesk"), "serve", "--port", str(port)],
                               env=_env(settings), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url, process)
        client = Client(url, verbose=False)
        for q in questions:
            client.predict(q["question"], q.get("history") or [], {}, api_name="/ask")
        return memory_mb(process.pid)
    finally:
        stop(process, signal.SIGINT)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env["NEWSDESK_INDEX_DIR"] = str(settings.index_dir)
    if settings.chroma_url:
        env["NEWSDESK_CHROMA_URL"] = settings.chroma_url
    return env


def measure(archive: Path, store: str, work: Path, questions: list[dict[str, Any]],
            keep: bool) -> dict[str, Any]:
    """Everything for one archive in one store."""
    index, data = work / f"index-{store}", work / f"chroma-{store}"
    shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    server = None
    url = None
    if store == "server":
        port = free_port()
        server = subprocess.Popen([str(BIN / "chroma"), "run", "--path", str(data), "--host",
                                   "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/api/v2/heartbeat", server)
    settings = Settings.from_env(env={}, index_dir=index, chroma_url=url)
    try:
        load = os.getloadavg()[0]
        out: dict[str, Any] = {"store": store, **ingest(archive, settings)}
        print(f"  {time.strftime('%H:%M')} {store}: ingested {out['chunks']:,} chunks in "
              f"{out['seconds']:.0f} s", flush=True)
        out["disk_mb"] = disk_mb(index)
        out["server_disk_mb"] = disk_mb(data) if server else 0.0
        out["warm"] = warm(settings, questions, work)
        out["cold_s"] = cold(settings)
        out["serve_mb"] = serve_memory(settings, questions)
        out["server_mb"] = memory_mb(server.pid) if server else (0.0, 0.0)
        out["load"] = (load, os.getloadavg()[0])
        return out
    finally:
        if server is not None:
            stop(server)
        if not keep:
            shutil.rmtree(index, ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)


def report(n: int, r: dict[str, Any]) -> None:
    ask, retrieve = r["warm"]["ask"], r["warm"]["retrieve"]
    quarters = " / ".join(f"{q:,.0f}" for q in r["quarters"])
    server = (f" + Chroma server {r['server_disk_mb']:,.0f} MB on disk, "
              f"{r['server_mb'][0]:,.0f} MB peak" if r["store"] == "server" else "")
    lines = [
        f"{n:,} articles, {r['chunks']:,} chunks — {r['store']} store",
        f"  ingest              {r['chunks_per_s']:,.0f} chunks/s ({r['seconds']:,.0f} s; per "
        f"quarter of the writes {quarters} chunks/s; {r['after_last_write_s']:.0f} s after the "
        f"last write; peak {r['peak_mb']:,.0f} MB; {r['failed']} failed)",
        f"  ingest CPU          {r['main_cpu_s']:,.0f} s in the ingesting process "
        f"({r['chunks'] / max(r['main_cpu_s'], 1e-9):,.0f} chunks per CPU-second), "
        f"{r['total_cpu_s']:,.0f} s with its helpers",
        f"  index on disk       {r['disk_mb']:,.0f} MB{server}",
        f"  warm Desk.ask       p50 {ask[0]:.1f} ms   p95 {ask[1]:.1f} ms   "
        f"({r['warm']['n']} questions; CPU p50 {r['warm']['ask_cpu'][0]:.1f} ms, "
        f"p95 {r['warm']['ask_cpu'][1]:.1f} ms)",
        f"  retrieval alone     p50 {retrieve[0]:.1f} ms   p95 {retrieve[1]:.1f} ms   "
        f"({100 * retrieve[0] / ask[0]:.0f} % of the ask at p50)",
        f"  first ask after another process added an article  "
        f"{r['warm']['after_write_ms'][0]:,.0f} ms (CPU {r['warm']['after_write_ms'][1]:,.0f} ms)",
        f"  cold `newsdesk ask` {r['cold_s']:.2f} s",
        f"  serve memory        peak {r['serve_mb'][0]:,.0f} MB, now {r['serve_mb'][1]:,.0f} MB "
        "(after answering the list once)",
        f"  load average        {r['load'][0]:.1f} before, {r['load'][1]:.1f} after (2 cores)"]
    print("\n" + "\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stores", nargs="+", default=["embedded", "server"],
                        choices=["embedded", "server"])
    parser.add_argument("--chunks-per-article", type=int, default=8,
                        help="size of the articles (8: about 10 chunks each)")
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the archives and indexes")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="newsdesk-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    questions = question_list()
    try:
        for n in args.articles:
            archive = work / f"archive-{n}"
            t = time.perf_counter()
            made = work / f"archive-{n}.source"  # --keep keeps the archive for the next run
            if not made.exists():
                shutil.rmtree(archive, ignore_errors=True)
                made.write_text(varied.build(archive, n, args.chunks_per_article))
            source = made.read_text()
            print(f"generated {n:,} articles from {source} in {time.perf_counter() - t:.0f} s "
                  f"({disk_mb(archive):,.0f} MB); {len(questions)} questions", flush=True)
            for store in args.stores:
                report(n, measure(archive, store, work, questions, args.keep))
            if not args.keep:
                shutil.rmtree(archive, ignore_errors=True)
                made.unlink()
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
