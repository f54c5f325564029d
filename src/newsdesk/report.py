"""Evaluation output: report.md, results.jsonl, summary.json and the metrics chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from newsdesk.evaluation import HIGHER_IS_BETTER, LOWER_IS_BETTER, EvalReport, QuestionResult, to_row

TABLE_METRICS = ("correct", "refusal", "false_refusal", "hit@5", "recall@5", "mrr",
                 "citation_hit", "citation_precision", "faithfulness", "words_median",
                 "latency_p50_ms", "latency_p95_ms", "generative", "fell_back", "sentence_support")
CHART_METRICS = ("correct", "refusal", "hit@5", "mrr", "citation_precision", "faithfulness")


def write(reports: Sequence[EvalReport], out: Path, question_set: str) -> list[Path]:
    """Write the four report files into `out` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.md", out / "results.jsonl", out / "summary.json", out / "metrics.png"]
    paths[0].write_text(markdown(reports, question_set), encoding="utf-8")
    with paths[1].open("w", encoding="utf-8") as handle:
        for report in reports:
            for result in report.results:
                row = to_row(result)
                row["config"] = report.config
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    paths[2].write_text(json.dumps(summary_json(reports), indent=2) + "\n", encoding="utf-8")
    chart(reports, paths[3])
    return paths


def summary_json(reports: Sequence[EvalReport]) -> dict[str, object]:
    """summary.json: the summary itself for one configuration, one entry each for several."""
    if len(reports) == 1:
        return {"config": reports[0].config, **reports[0].summary,
                "per_kind": reports[0].per_kind}
    return {"configurations": [{"config": r.config, **r.summary, "per_kind": r.per_kind}
                               for r in reports],
            "best": winners(reports)}


def winners(reports: Sequence[EvalReport]) -> dict[str, str]:
    """For each metric, the configuration(s) that do best on it ("a / b" when tied)."""
    out: dict[str, str] = {}
    for metric in TABLE_METRICS:
        values = [r.summary.get(metric, 0.0) for r in reports]
        best = min(values) if metric in LOWER_IS_BETTER else max(values)
        tied = [r.label for r, v in zip(reports, values, strict=True) if v == best]
        out[metric] = " / ".join(tied) if len(tied) < len(reports) else "all tie"
    return out


def markdown(reports: Sequence[EvalReport], question_set: str) -> str:
    """report.md: summary table, per-kind table, winners, then every failure in detail."""
    lines = [f"# Evaluation of {question_set}", ""]
    lines += _table(["configuration", *TABLE_METRICS],
                    [[r.label, *(_fmt(r.summary.get(m, 0.0)) for m in TABLE_METRICS)]
                     for r in reports])
    first = reports[0]
    lines += ["", f"Questions: {first.summary['questions']:.0f} "
                  f"({first.summary['answerable']:.0f} answerable, "
                  f"{first.summary['unanswerable']:.0f} unanswerable).", ""]
    if len(reports) > 1:
        lines += ["## Best configuration per metric", ""]
        lines += _table(["metric", "best"], [[m, c] for m, c in winners(reports).items()])
        lines.append("")
    for report in reports:
        heading = f" — {report.label}" if len(reports) > 1 else ""
        lines += [f"## By kind{heading}", ""]
        lines += _table(["kind", "questions", "correct", "refusal", "false_refusal", "hit@5",
                         "citation_precision"],
                        [[kind, f"{s['questions']:.0f}", _fmt(s["correct"]), _fmt(s["refusal"]),
                          _fmt(s["false_refusal"]), _fmt(s["hit@5"]),
                          _fmt(s["citation_precision"])] for kind, s in report.per_kind.items()])
        failures = [r for r in report.results if not r.passed or r.citation_precision is False]
        lines += ["", f"## Failures{heading} ({len(failures)})", ""]
        for result in failures:
            lines += _failure(result)
    return "\n".join(lines) + "\n"


def _failure(r: QuestionResult) -> list[str]:
    if r.kind == "unanswerable":
        what = "answered a question the archive cannot answer"
    elif r.refused:
        what = "refused an answerable question"
    elif r.missing:
        what = "answer misses " + "; ".join(" / ".join(g) for g in r.missing)
    else:
        what = "cited a source outside the expected ones"
    return [f"### {r.id} ({r.kind}): {what}", "",
            f"- question: {r.question}",
            f"- expected: {' + '.join(' / '.join(g) for g in r.expect) or 'a refusal'}"
            f" from {', '.join(r.sources) or '—'}",
            f"- answered: {r.answer}",
            f"- cited: {', '.join(r.cited) or '—'}",
            f"- retrieved: {', '.join(r.retrieved[:10]) or '—'}", ""]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _fmt(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) and value <= 1.0 else f"{value:g}"


def chart(reports: Sequence[EvalReport], path: Path) -> None:
    """A grouped bar chart of the main metrics, one bar per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(reports)
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    for i, report in enumerate(reports):
        xs = [j + (i - (len(reports) - 1) / 2) * width for j in range(len(CHART_METRICS))]
        ax.bar(xs, [report.summary.get(m, 0.0) for m in CHART_METRICS], width, label=report.label)
    ax.set_xticks(range(len(CHART_METRICS)), CHART_METRICS, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title("newsdesk evaluation")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["HIGHER_IS_BETTER", "chart", "markdown", "summary_json", "winners", "write"]
