"""Answer quality on every question set at hand, in one table, through the real Desk.

    python benchmarks/quality.py [--work DIR] [--sets own held bbc web]

The sets: the project's own (tests/data/questions.jsonl on corpus/), the held-out archive
(tests/data/heldout), and the two dev sets when ../shared has them (BBC News, 2,225 articles;
35 saved web pages in seven languages). Each archive is ingested into a fresh index (kept under
--work, if given, and reused). Then the cross-archive figures the shipped answer model was
calibrated with (rules/answer_model.json, written by benchmarks/calibrate.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

from newsdesk import Desk, Settings
from newsdesk.evaluation import evaluate, load_questions

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SETS = {
    "own": ("project set (5 articles)", ROOT / "tests/data/questions.jsonl", ROOT / "corpus"),
    "held": ("held-out archive (8 articles)", ROOT / "tests/data/heldout/questions.jsonl",
             ROOT / "tests/data/heldout/archive"),
    "bbc": ("BBC dev (2,225 articles)", SHARED / "bbc/dev_questions.jsonl", SHARED / "bbc/articles"),
    "web": ("web dev (35 pages, 7 languages)", SHARED / "web/dev_questions.jsonl",
            SHARED / "web/pages"),
}
COLUMNS = (("correct", "correct"), ("single", "single"), ("multi", "multi"),
           ("followup", "follow-up"), ("refusal", "refused"), ("false_refusal", "false ref."),
           ("citation_precision", "cit. prec."), ("faithfulness", "verbatim"),
           ("words_median", "words"), ("latency_p50_ms", "p50 ms"))


def measure(name: str, work: Path) -> dict[str, float] | None:
    """The summary of one set, with correctness per kind of question."""
    label, questions_path, articles = SETS[name]
    if not questions_path.exists() or not articles.is_dir():
        print(f"skipped {label}: {articles} is absent", file=sys.stderr)
        return None
    index = work / f"index-{name}"
    settings = Settings.from_env(env={}, index_dir=index)
    if not (index / "manifest.json").exists():
        with Desk.open(settings=settings, create=True) as desk:
            desk.ingest([articles])
    with Desk.open(settings=settings) as desk:
        questions, _ = load_questions(questions_path, known_sources={a.id for a in desk.articles()})
        report = evaluate(questions, desk)
    figures = dict(report.summary)
    for kind in ("single", "multi", "followup"):
        figures[kind] = report.per_kind[kind]["correct"] if kind in report.per_kind else float("nan")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="keep the indexes here")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="newsdesk-quality-"))
    rows = {SETS[n][0]: f for n in args.sets if (f := measure(n, work)) is not None}
    _table("set", rows, COLUMNS)
    model = json.loads((resources.files("newsdesk") / "rules" / "answer_model.json").read_text())
    print(f"\nThe answer model was fitted on {' + '.join(model['fitted_on'])} "
          f"({model['fitted']}); its calibration figures (out of fold on the fitting sets, "
          "never-seen sets as they are):")
    _table("calibration set", model["figures"], (
        ("correct", "correct"), ("correct_single", "single"), ("correct_multi", "multi"),
        ("correct_followup", "follow-up"), ("refusal", "refused"),
        ("false_refusal", "false ref."), ("citation_precision", "cit. prec."),
        ("words_median", "words"), ("top1", "top1"), ("top3", "top3")))
    return 0


def _table(first: str, rows: dict[str, dict[str, float]],
           columns: tuple[tuple[str, str], ...]) -> None:
    width = max([len(first), *map(len, rows)])
    print(f"{first:<{width}}  " + "  ".join(f"{title:>10}" for _, title in columns))
    for name, figures in rows.items():
        cells = []
        for key, _ in columns:
            value = float(figures.get(key, float("nan")))
            if value != value:  # not measured for this row (the pooled row has no top1)
                cells.append(f"{'—':>10}")
            elif key in ("words_median", "latency_p50_ms"):
                cells.append(f"{round(value, 1):>10g}")
            else:
                cells.append(f"{value:>10.1%}")
        print(f"{name:<{width}}  " + "  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
