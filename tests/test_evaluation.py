"""The evaluation runner: metrics on hand-computed cases, report files, gate, compare, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, run_cli
from newsdesk import QuestionSetError, UsageError
from newsdesk.evaluation import (
    EvalQuestion,
    check_floors,
    load_questions,
    parse_compare,
    score,
    summarise,
)
from newsdesk.types import Answer, Article, Citation, Passage

ARTICLE = "Alpha said the ban ends in June. Beta disagreed."


def _passage(source: str) -> Passage:
    return Passage(id=f"{source}#0", source=source, title="", outlet="", date="", text="x",
                   start=0, end=1, score=0.1)


def _answer(text: str, cited: list[str], retrieved: list[str], refused: bool = False,
            quote: tuple[int, int] = (0, 32)) -> Answer:
    citations = tuple(Citation(number=i + 1, source=s, title="", outlet="", date="",
                               quote=ARTICLE[quote[0]:quote[1]], passage=ARTICLE, start=quote[0],
                               end=quote[1]) for i, s in enumerate(cited))
    return Answer(question="q", text=text, citations=citations, refused=refused,
                  retrieved=tuple(_passage(s) for s in retrieved))


def test_metrics_match_a_hand_computed_case() -> None:
    lookup = {"a": Article("a", ARTICLE), "b": Article("b", ARTICLE),
              "c": Article("c", "other text entirely")}.get
    q1 = EvalQuestion("1", "When does it end?", (("june",),), ("a",), "single")
    q2 = EvalQuestion("2", "Who?", (("alpha",), ("gamma",)), ("b",), "multi")
    q3 = EvalQuestion("3", "Price?", (), (), "unanswerable")
    q4 = EvalQuestion("4", "Cost?", (), (), "unanswerable")
    results = [
        # right, cites the gold source, gold source ranked 2nd of 3
        score(q1, _answer("Alpha said the ban ends in June. [1]", ["a"], ["c", "a", "b"]), lookup, 10),
        # misses "gamma"; cites a gold and a non-gold source; gold ranked 1st
        score(q2, _answer("Alpha said so. [1][2]", ["b", "c"], ["b", "a"]), lookup, 30),
        score(q3, _answer("The archive doesn’t say.", [], ["a"], refused=True), lookup, 20),
        score(q4, _answer("Alpha said it. [1]", ["a"], ["a"]), lookup, 40),
    ]
    assert [r.passed for r in results] == [True, False, True, False]
    assert results[1].missing == [["gamma"]]
    s = summarise(results)
    assert (s["correct"], s["refusal"], s["false_refusal"]) == (0.5, 0.5, 0.0)
    assert (s["hit@1"], s["hit@3"]) == (0.5, 1.0)
    assert s["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["recall@1"] == 0.5
    assert (s["citation_hit"], s["citation_precision"]) == (1.0, 0.5)
    # 4 quotes (a; b and c; none; a): the one attributed to c is not in c's text
    assert s["faithfulness"] == pytest.approx(3 / 4)
    assert s["words_median"] == 4 and s["latency_p50_ms"] == 30
    assert check_floors(s, {"correct": 0.5, "false_refusal": 0.1}) == []
    assert check_floors(s, {"correct": 0.9}) == ["correct = 0.5 is below the floor 0.9"]
    with pytest.raises(UsageError, match="unknown metric"):
        check_floors(s, {"happiness": 1})


def test_compare_specs_expand_to_every_combination() -> None:
    assert parse_compare(["retrieval=dense,bm25", "k=4,8"]) == [
        {"retrieval": "dense", "k": 4}, {"retrieval": "dense", "k": 8},
        {"retrieval": "bm25", "k": 4}, {"retrieval": "bm25", "k": 8}]
    with pytest.raises(UsageError, match="KEY=V1,V2"):
        parse_compare(["colour=red"])


@pytest.mark.parametrize(("line", "field", "reason"), [
    ('{"id": "x", "question": "Q?", "expect": [["a"]], "sources": ["000.txt"]', "", "invalid JSON"),
    ('{"question": "Q?", "expect": [], "sources": [], "kind": "unanswerable"}', "id", "missing"),
    ('{"id": "x", "question": "Q?", "expect": [["a"]], "sources": [], "kind": "poem"}', "kind",
     "unknown kind"),
    ('{"id": "x", "question": "Q?", "expect": [["a"]], "sources": ["nope.txt"], "kind": "single"}',
     "sources", "not in the index"),
    ('{"id": "x", "question": "Q?", "expect": "a", "sources": [], "kind": "single"}', "expect",
     "list"),
    ('{"id": "x", "question": "Q?", "expect": [], "sources": [], "kind": "followup"}', "expect",
     "at least one"),
])
def test_bad_lines_name_the_line_and_field(tmp_path: Path, line: str, field: str,
                                           reason: str) -> None:
    good = '{"id": "g", "question": "Q?", "expect": [], "sources": [], "kind": "unanswerable"}'
    path = tmp_path / "set.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(QuestionSetError) as error:
        load_questions(path, known_sources={"000.txt"})
    assert (error.value.line, error.value.field) == (2, field) and reason in error.value.reason
    questions, errors = load_questions(path, keep_going=True, known_sources={"000.txt"})
    assert [q.id for q in questions] == ["g"] and len(errors) == 1


def _tiny_set(path: Path) -> Path:
    lines = [
        {"id": "t1", "question": "Which organizations could still use Rekognition?",
         "expect": [["human trafficking"]], "kind": "single",
         "sources": ["000_ca56b235a267ddf0.txt", "002_0107e865e703d7d5.txt",
                     "004_5c8df6fe0fbd710e.txt"]},
        {"id": "t2", "question": "How much does Amazon charge customers to use Rekognition?",
         "expect": [], "sources": [], "kind": "unanswerable"},
        {"id": "t3", "question": "Who is Microsoft's president?", "expect": [["zebra"]],
         "sources": ["000_ca56b235a267ddf0.txt"], "kind": "single"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_eval_command_writes_the_report_and_gates(tmp_path: Path) -> None:
    questions = _tiny_set(tmp_path / "tiny.jsonl")
    out = tmp_path / "run"
    done = run_cli("eval", str(questions), "--corpus", str(CORPUS), "--out", str(out), "--json",
                   "--fail-under", "correct=0.4", "refusal=1")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["correct"], summary["refusal"]) == (0.5, 1.0)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.png", "report.md",
                                                     "results.jsonl", "summary.json"]
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t1", "t2", "t3"] and rows[2]["missing"] == [["zebra"]]
    report = (out / "report.md").read_text()
    assert "| defaults |" in report and "### t3 (single): answer misses zebra" in report
    assert json.loads((out / "summary.json").read_text())["correct"] == 0.5

    gated = run_cli("eval", str(questions), "--corpus", str(CORPUS), "--out", str(out),
                    "--fail-under", "correct=0.9")
    assert gated.returncode == 1 and "correct = 0.5 is below the floor 0.9" in gated.stderr


def test_compare_gives_one_row_per_configuration(tmp_path: Path) -> None:
    questions = _tiny_set(tmp_path / "tiny.jsonl")
    out = tmp_path / "cmp"
    done = run_cli("eval", str(questions), "--corpus", str(CORPUS), "--out", str(out), "--json",
                   "--compare", "retrieval=dense,bm25,hybrid")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [c["config"] for c in summary["configurations"]] == [
        {"retrieval": "dense"}, {"retrieval": "bm25"}, {"retrieval": "hybrid"}]
    assert "correct" in summary["best"]
    table = [line for line in (out / "report.md").read_text().splitlines()
             if line.startswith("| retrieval=")]
    assert len(table) == 3


def test_a_bad_question_set_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Q?", "expect": [], "sources": [], "kind": "??"}\n',
                   encoding="utf-8")
    done = run_cli("eval", str(bad), "--corpus", str(CORPUS), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "bad.jsonl:1 field 'kind': unknown kind" in done.stderr
    kept = run_cli("eval", str(bad), "--corpus", str(CORPUS), "--out", str(tmp_path / "o"),
                   "--keep-going")
    assert kept.returncode == 1 and "no usable questions" in kept.stderr
