"""Fit the answer model (src/newsdesk/rules/answer_model.json) on one set of archives and report
how it holds on the others.

    python benchmarks/calibrate.py                      # fit on the BBC dev set, check the rest
    python benchmarks/calibrate.py --write              # ... and write the model file
    python benchmarks/calibrate.py --fit web own held --check bbc    # the other way round

What is fitted, all from question sets written by people who had not seen the system:
- the sentence scorer: a logistic regression over evidence.FEATURES, labelled by whether a
  candidate sentence holds an expected answer string;
- the refusal scorer: a logistic regression over model.REFUSAL_FEATURES, answerable against
  unanswerable questions, fitted on out-of-fold sentence scores (so it sees scores as they are
  on unseen questions), with its threshold at the out-of-fold false-refusal rate --refuse-at;
- how many sentences an answer takes: the share of the best sentence's probability a further
  sentence needs and the words within which it may join, the pair with the highest
  correctness whose median answer stays within --median-words.
Figures on the fitting set are out-of-fold (5-fold by question); on the others, the model
fitted on the whole fitting set. Every answer is composed by the same Composer that `ask` uses
and scored by the same code as `newsdesk eval`.

Needs scikit-learn (`pip install -e '.[calibrate]'`) and ../shared beside the repository for
the dev sets (a set whose folder is absent is skipped, with a line saying so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsdesk import Desk, Settings
from newsdesk.answer import Composer, Draft
from newsdesk.cite import build_answer
from newsdesk.evaluation import EvalQuestion, load_questions, score, summarise
from newsdesk.evidence import Evidence
from newsdesk.features import FEATURES, matrices
from newsdesk.model import MODEL_FILE, REFUSAL_FEATURES, AnswerModel, Linear, refusal_features
from newsdesk.question import Question
from newsdesk.retrieve import Hit

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SETS = {
    "bbc": (SHARED / "bbc" / "dev_questions.jsonl", SHARED / "bbc" / "articles"),
    "web": (SHARED / "web" / "dev_questions.jsonl", SHARED / "web" / "pages"),
    "own": (ROOT / "tests" / "data" / "questions.jsonl", ROOT / "corpus"),
    "held": (ROOT / "tests" / "data" / "heldout" / "questions.jsonl",
             ROOT / "tests" / "data" / "heldout" / "archive"),
}
FOLDS = 5
RATIOS = (1.01, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1)
BUDGETS = (40, 50, 60, 70)  # words within which further sentences may join
CANDIDATES = 2  # sentences per part of a question
MAX_SENTENCES = 3
C_SENTENCE = 0.1  # L2 strength of the sentence scorer (chosen by 5-fold CV on the BBC set)
C_REFUSAL = 1.0


@dataclass
class Case:
    """One question with its retrieved evidence, feature matrices and labels."""

    question: EvalQuestion
    read: Question
    hits: list[Hit]
    evidence: Evidence
    matrices: list[np.ndarray]
    labels: list[np.ndarray]  # per part: whether each candidate holds an expected string
    fold: int = 0


@dataclass
class Archive:
    """A question set, its open Desk and its cases."""

    name: str
    desk: Desk
    cases: list[Case]


def gather(name: str, work: Path) -> Archive | None:
    """Index a set's articles (once, under work/) and read the evidence of every question."""
    questions_path, articles = SETS[name]
    if not questions_path.exists() or not articles.is_dir():
        print(f"skipped {name}: {questions_path.parent} is absent", file=sys.stderr)
        return None
    index = work / f"index-{name}"
    if not (index / "manifest.json").exists():
        with Desk.open(settings=Settings.from_env(env={}, index_dir=index), create=True) as desk:
            desk.ingest([articles])
    desk = Desk.open(settings=Settings.from_env(env={}, index_dir=index))
    questions, _ = load_questions(questions_path, known_sources={a.id for a in desk.articles()})
    cases = []
    for i, q in enumerate(questions):
        prepared = desk._prepare(q.question, list(q.history) or None, None)
        assert prepared is not None
        evidence = Evidence(desk.archive, prepared.question, prepared.vector, prepared.hits)
        scored = matrices(evidence)
        cases.append(Case(q, prepared.question, prepared.hits, evidence, scored,
                          _labels(q, evidence, len(scored)), fold=i % FOLDS))
    return Archive(name, desk, cases)


def _labels(q: EvalQuestion, evidence: Evidence, parts: int) -> list[np.ndarray]:
    """A part's candidates that hold its expected string (the groups of a question of as many
    parts as groups go in order; otherwise any group counts for every part)."""
    texts = [s.text.lower() for s in evidence.sentences]
    groups = [[a.lower() for a in g] for g in q.expect]
    out = []
    for p in range(parts):
        mine = [groups[p]] if len(groups) == parts else groups
        out.append(np.array([any(a in t for g in mine for a in g) for t in texts], dtype=bool))
    return out


# -- fitting -------------------------------------------------------------------------------
def fit_linear(x: np.ndarray, y: np.ndarray, c: float) -> Linear:
    """A standardised L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    fitted = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    return Linear(mean.astype(np.float32), scale.astype(np.float32),
                  fitted.coef_[0].astype(np.float32), float(fitted.intercept_[0]))


def fit_sentences(cases: Sequence[Case]) -> Linear:
    """The sentence scorer, on the parts whose candidates hold an answer at all."""
    rows = [(m, y) for c in cases if c.question.answerable
            for m, y in zip(c.matrices, c.labels, strict=True) if y.any()]
    return fit_linear(np.vstack([m for m, _ in rows]), np.concatenate([y for _, y in rows]),
                      C_SENTENCE)


def refusal_rows(cases: Sequence[Case], scorers: Sequence[Linear]) -> np.ndarray:
    """The refusal features of each case, with the sentence scorer it is to be judged by."""
    rows = []
    for case, scorer in zip(cases, scorers, strict=True):
        probabilities = [1.0 / (1.0 + np.exp(-scorer(m))) for m in case.matrices]
        rows.append(refusal_features(case.evidence, case.read, case.matrices, probabilities))
    return np.vstack(rows)


# -- answering and scoring -----------------------------------------------------------------
def run(archive: Archive, cases: Sequence[Case], models: Sequence[AnswerModel]) -> dict[str, float]:
    """Compose every answer with its model and score it as `newsdesk eval` does."""
    results = []
    for case, model in zip(cases, models, strict=True):
        composer = Composer(archive.desk.archive, archive.desk.settings.max_sentences, model)
        started = time.perf_counter()
        draft: Draft = composer.decide(case.read, case.evidence, case.matrices)
        answer = build_answer(case.question.question, draft, case.hits, {})
        results.append(score(case.question, answer, _article(archive.desk),
                             1000 * (time.perf_counter() - started)))
    summary = summarise(results)
    for kind in ("single", "multi", "followup"):
        chosen = [r for r in results if r.kind == kind]
        summary[f"correct_{kind}"] = summarise(chosen)["correct"] if chosen else float("nan")
    return summary


def _article(desk: Desk):  # type: ignore[no-untyped-def]
    def lookup(article_id: str):  # type: ignore[no-untyped-def]
        stored = desk.archive.catalog.article(article_id)
        return stored.article if stored else None
    return lookup


def ranking(cases: Sequence[Case], scorers: Sequence[Linear]) -> tuple[float, float, float]:
    """Share of answerable questions whose every expected string is in the top 1, 2, 3
    candidates of its parts (before any refusal)."""
    hits = np.zeros(3)
    answerable = [(c, s) for c, s in zip(cases, scorers, strict=True) if c.question.answerable]
    for case, scorer in answerable:
        for k in (1, 2, 3):
            chosen = {int(i) for m in case.matrices for i in np.argsort(-scorer(m))[:k]}
            text = " ".join(case.evidence.sentences[i].text for i in chosen).lower()
            hits[k - 1] += all(any(a.lower() in text for a in g) for g in case.question.expect)
    return tuple(float(h) / max(1, len(answerable)) for h in hits)  # type: ignore[return-value]


# -- the whole fit -------------------------------------------------------------------------
def calibrate(fit: Sequence[Archive], refuse_at: float, words: float
              ) -> tuple[AnswerModel, dict[str, dict[str, float]]]:
    """Fit on `fit`; returns the model and its out-of-fold figures on each fitting archive."""
    cases = [c for a in fit for c in a.cases]
    owners = [a for a in fit for _ in a.cases]
    folds = [fit_sentences([c for c in cases if c.fold != f]) for f in range(FOLDS)]
    oof = [folds[c.fold] for c in cases]
    y = np.array([c.question.answerable for c in cases])
    features = refusal_rows(cases, oof)
    refusal_oof = np.zeros(len(cases))
    for f in range(FOLDS):
        train = np.array([c.fold != f for c in cases])
        scorer = fit_linear(features[train], y[train], C_REFUSAL)
        refusal_oof[~train] = scorer(features[~train])
    refusal = fit_linear(features, y, C_REFUSAL)
    # the threshold, as a probability, at which `refuse_at` of the answerable are refused
    cut = float(np.quantile(refusal_oof[y], refuse_at))
    threshold = float(1.0 / (1.0 + np.exp(-cut)))
    best: tuple[float, int, float, dict, dict] | None = None
    for ratio in RATIOS:
        for budget in BUDGETS:
            models = [_fold_model(oof[i], refusal_oof[i], ratio, budget, threshold)
                      for i in range(len(cases))]
            summary, each = _run_many(owners, cases, models)
            if summary["words_median"] <= words and (best is None or summary["correct"] > best[2]):
                best = (ratio, budget, summary["correct"], summary, each)
    assert best is not None, "no selection keeps the answers short enough"
    model = AnswerModel(fit_sentences(cases), refusal, threshold, best[0], CANDIDATES,
                        MAX_SENTENCES, best[1])
    figures = {}
    for archive in fit:
        mine = [i for i, o in enumerate(owners) if o is archive]
        figures[f"{archive.name} (out of fold)"] = best[4][archive.name] | dict(zip(
            ("top1", "top2", "top3"), ranking([cases[i] for i in mine], [oof[i] for i in mine]),
            strict=True))
    if len(fit) > 1:
        figures["all fitted (out of fold)"] = best[3]
    return model, figures


def _fold_model(sentence: Linear, refusal_logit: float, ratio: float, budget: int,
                threshold: float) -> AnswerModel:
    """A model whose refusal score is a constant: the case's out-of-fold refusal log-odds."""
    constant = Linear(np.zeros(len(REFUSAL_FEATURES), np.float32),
                      np.ones(len(REFUSAL_FEATURES), np.float32),
                      np.zeros(len(REFUSAL_FEATURES), np.float32), float(refusal_logit))
    return AnswerModel(sentence, constant, threshold, ratio, CANDIDATES, MAX_SENTENCES, budget)


def _run_many(owners: Sequence[Archive], cases: Sequence[Case], models: Sequence[AnswerModel]
              ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The figures over all the cases (each archive weighed by its questions), and per archive."""
    by: dict[str, tuple[Archive, list[Case], list[AnswerModel]]] = {}
    for owner, case, model in zip(owners, cases, models, strict=True):
        by.setdefault(owner.name, (owner, [], []))[1].append(case)
        by[owner.name][2].append(model)
    each = {name: run(a, cs, ms) for name, (a, cs, ms) in by.items()}
    results = list(each.values())
    total = sum(r["questions"] for r in results)
    return {k: sum(r[k] * r["questions"] for r in results) / total for k in results[0]}, each


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", nargs="+", default=["bbc"], choices=sorted(SETS))
    parser.add_argument("--check", nargs="+", default=None, choices=sorted(SETS))
    parser.add_argument("--refuse-at", type=float, default=0.03,
                        help="out-of-fold false-refusal rate the threshold is set at (0.03)")
    parser.add_argument("--median-words", type=float, default=45,
                        help="the longest median answer, in words, the selection may give (45)")
    parser.add_argument("--work", type=Path, default=None, help="keep the indexes here")
    parser.add_argument("--write", action="store_true", help="write the model file")
    args = parser.parse_args(argv)
    check = args.check or [s for s in SETS if s not in args.fit]
    work = args.work or Path(tempfile.mkdtemp(prefix="newsdesk-calibrate-"))
    started = time.perf_counter()
    archives = {n: a for n in dict.fromkeys([*args.fit, *check]) if (a := gather(n, work))}
    fit = [archives[n] for n in args.fit if n in archives]
    if not fit:
        print("nothing to fit on", file=sys.stderr)
        return 1
    model, rows = calibrate(fit, args.refuse_at, args.median_words)
    for name in check:
        if name in archives:
            a = archives[name]
            figures = run(a, a.cases, [model] * len(a.cases))
            figures |= dict(zip(("top1", "top2", "top3"),
                                ranking(a.cases, [model.sentence] * len(a.cases)), strict=True))
            rows[name] = figures
    _print(rows, model, args)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.write:
        path = ROOT / "src" / "newsdesk" / "rules" / MODEL_FILE
        path.write_text(json.dumps(_document(model, rows, args), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for a in archives.values():
        a.desk.close()
    return 0


SHOWN = ("correct", "correct_single", "correct_multi", "correct_followup", "refusal",
         "false_refusal", "citation_precision", "faithfulness", "words_median", "top1", "top2",
         "top3")


def _print(rows: dict[str, dict], model: AnswerModel, args: argparse.Namespace) -> None:
    print(f"fitted on {', '.join(args.fit)}: ratio {model.ratio}, words {model.words}, "
          f"refusal threshold "
          f"{model.threshold:.3f} (out-of-fold false refusals {args.refuse_at:.0%})")
    width = max(len(r) for r in rows)
    print(f"{'set':<{width}}  " + "  ".join(f"{m[:12]:>12}" for m in SHOWN))
    for name, figures in rows.items():
        print(f"{name:<{width}}  " + "  ".join(
            f"{figures.get(m, float('nan')):>12.3f}" if m != "words_median"
            else f"{figures.get(m, 0):>12g}" for m in SHOWN))


def _document(model: AnswerModel, rows: dict[str, dict], args: argparse.Namespace) -> dict:
    return {
        "about": "newsdesk's answer model; written by benchmarks/calibrate.py — do not edit",
        "fitted_on": list(args.fit),
        "fitted": time.strftime("%Y-%m-%d"),
        "figures": {name: {m: round(float(f[m]), 4) for m in SHOWN if m in f}
                    for name, f in rows.items()},
        "sentence": model.sentence.to_json(FEATURES),
        "refusal": model.refusal.to_json(REFUSAL_FEATURES) | {
            "threshold": round(model.threshold, 6), "refuse_at": args.refuse_at},
        "selection": {"ratio": model.ratio, "candidates": model.candidates,
                      "max_sentences": model.max_sentences, "words": model.words,
                      "median_words": args.median_words},
    }


if __name__ == "__main__":
    sys.exit(main())
