"""Question sets, metrics and reports: how good the archive's answers are, per configuration."""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsdesk.errors import QuestionSetError, UsageError
from newsdesk.types import Answer, Article, Citation

if TYPE_CHECKING:
    from newsdesk.desk import Desk

log = logging.getLogger(__name__)

KINDS = ("single", "multi", "unanswerable", "followup")
CUTOFFS = (1, 3, 5, 10)
# Metrics where a higher value is better; everything else in a summary is a count or a cost.
HIGHER_IS_BETTER = ("correct", "refusal", *(f"hit@{k}" for k in CUTOFFS),
                    *(f"recall@{k}" for k in CUTOFFS), "mrr", "citation_hit",
                    "citation_precision", "faithfulness", "sentence_support")
LOWER_IS_BETTER = ("false_refusal", "fell_back", "words_median", "words_p90", "latency_p50_ms",
                   "latency_p95_ms")


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One line of a question set."""

    id: str
    question: str
    expect: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    kind: str
    history: tuple[Mapping[str, str], ...] = ()
    line: int = 0

    @property
    def answerable(self) -> bool:
        """Whether the archive holds the answer."""
        return self.kind != "unanswerable"


@dataclass(slots=True)
class QuestionResult:
    """How one question fared."""

    id: str
    kind: str
    question: str
    answer: str
    refused: bool
    correct: bool | None  # None for unanswerable questions
    expect: list[list[str]]
    missing: list[list[str]]  # expect groups the answer did not match
    sources: list[str]
    cited: list[str]
    retrieved: list[str]
    hit: dict[str, bool]
    recall: dict[str, float]
    reciprocal_rank: float
    citation_hit: bool | None
    citation_precision: bool | None
    quotes: int
    faithful_quotes: int
    words: int
    latency_ms: float
    mode: str = "extractive"  # generative mode: whether the model's checked answer was shown
    fell_back: bool = False  # a model was asked, but the extractive answer stands in
    sentences: int = 0  # generative sentences shown, and how many of them pass the check again
    supported: int = 0

    @property
    def passed(self) -> bool:
        """Right answer, or a refusal where the archive has none."""
        return self.refused if self.kind == "unanswerable" else bool(self.correct)


@dataclass(slots=True)
class EvalReport:
    """The results of one question set under one configuration."""

    config: dict[str, Any]
    results: list[QuestionResult]
    summary: dict[str, float] = field(default_factory=dict)
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short name for the configuration ("retrieval=bm25")."""
        return ", ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"


# -- question sets -------------------------------------------------------------------------
def load_questions(path: Path, *, keep_going: bool = False,
                   known_sources: Iterable[str] | None = None
                   ) -> tuple[list[EvalQuestion], list[QuestionSetError]]:
    """Read a JSONL question set. A bad line raises QuestionSetError naming the line and field;
    with keep_going it is skipped and returned among the errors instead."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from exc
    known = set(known_sources) if known_sources is not None else None
    questions: list[EvalQuestion] = []
    errors: list[QuestionSetError] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = _parse(str(path), number, line, known)
            if question.id in seen:
                raise QuestionSetError(str(path), number, "id", f"id {question.id!r} is repeated")
            seen.add(question.id)
            questions.append(question)
        except QuestionSetError as error:
            if not keep_going:
                raise
            errors.append(error)
    if not questions and not errors:
        raise UsageError(f"{path}: the question set is empty")
    return questions, errors


def _parse(source: str, line: int, text: str, known: set[str] | None) -> EvalQuestion:
    def fail(field_name: str, reason: str) -> QuestionSetError:
        return QuestionSetError(source, line, field_name, reason)

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail("", f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise fail("", "a line must be a JSON object")
    for name in ("id", "question", "kind"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise fail(name, "missing or not a non-empty string")
    if data["kind"] not in KINDS:
        raise fail("kind", f"unknown kind {data['kind']!r}; use one of {', '.join(KINDS)}")
    expect = data.get("expect")
    if not isinstance(expect, list) or not all(
            isinstance(g, list) and g and all(isinstance(s, str) and s for s in g) for g in expect):
        raise fail("expect", "must be a list of non-empty lists of strings")
    sources = data.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise fail("sources", "must be a list of article ids")
    if data["kind"] == "unanswerable" and (expect or sources):
        raise fail("expect", "an unanswerable question has \"expect\": [] and \"sources\": []")
    if data["kind"] != "unanswerable" and not expect:
        raise fail("expect", "an answerable question needs at least one expect group")
    if known is not None:
        for article in sources:
            if article not in known:
                raise fail("sources", f"{article!r} is not in the index")
    history = data.get("history", [])
    if not isinstance(history, list) or not all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant")
            and isinstance(t.get("content"), str) for t in history):
        raise fail("history", "must be a list of {\"role\": \"user\"|\"assistant\", "
                              "\"content\": str}")
    if data["kind"] == "followup" and not history:
        raise fail("history", "a followup question needs the turns before it")
    return EvalQuestion(data["id"], data["question"], tuple(tuple(g) for g in expect),
                        tuple(sources), data["kind"], tuple(history), line)


# -- scoring -------------------------------------------------------------------------------
def score(question: EvalQuestion, answer: Answer, article_text: Callable[[str], Article | None],
          latency_ms: float) -> QuestionResult:
    """Every metric for one answered question (see the README's evaluation section)."""
    lowered = answer.text.lower()
    missing = [list(g) for g in question.expect if not any(s.lower() in lowered for s in g)]
    gold = set(question.sources)
    retrieved = list(dict.fromkeys(s for p in answer.retrieved for s in p.sources))
    ranked_sources = [p.sources for p in answer.retrieved]
    hit, recall = {}, {}
    for k in CUTOFFS:
        top = {s for sources in ranked_sources[:k] for s in sources}
        hit[f"@{k}"] = bool(top & gold)
        recall[f"@{k}"] = len(top & gold) / len(gold) if gold else 0.0
    first = next((i for i, sources in enumerate(ranked_sources, 1) if set(sources) & gold), 0)
    cited = list(dict.fromkeys(c.source for c in answer.citations))
    faithful = sum(1 for c in answer.citations if _verbatim(c, article_text))
    answered = question.answerable and not answer.refused
    return QuestionResult(
        id=question.id, kind=question.kind, question=question.question, answer=answer.text,
        refused=answer.refused,
        correct=(not answer.refused and not missing) if question.answerable else None,
        expect=[list(g) for g in question.expect], missing=missing, sources=sorted(gold),
        cited=cited, retrieved=retrieved, hit=hit, recall=recall,
        reciprocal_rank=1.0 / first if first else 0.0,
        citation_hit=bool(set(cited) & gold) if answered else None,
        citation_precision=set(cited) <= gold if answered else None,
        quotes=len(answer.citations), faithful_quotes=faithful,
        words=len(answer.text.split()) if not answer.refused else 0,
        latency_ms=round(latency_ms, 2), **_generative(answer))


def _generative(answer: Answer) -> dict[str, Any]:
    """For generative mode: the mode, whether it fell back, and each shown sentence checked
    again against the quotes its citations carry (an Answer's own data, not its flags)."""
    if answer.mode != "generative":
        return {"mode": answer.mode, "fell_back": bool(answer.note)}
    from newsdesk.support import date_words, sentence_supported

    by_number = {c.number: c for c in answer.citations}
    supported = sum(sentence_supported(
        s.text, [by_number[n].quote for n in s.citations],
        [f"{by_number[n].outlet} {by_number[n].title} {date_words(by_number[n].date)}"
         for n in s.citations])
        for s in answer.sentences)
    return {"mode": "generative", "fell_back": False, "sentences": len(answer.sentences),
            "supported": supported}


def _verbatim(citation: Citation, article: Callable[[str], Article | None]) -> bool:
    """Whether a citation's quote is in its article exactly: at its span, or (for a fact from
    the article's metadata) as that field's value."""
    found = article(citation.source)
    if found is None:
        return False
    if citation.field:
        return bool(citation.quote) and str(getattr(found, citation.field, "")) == citation.quote
    return found.text[citation.start:citation.end] == citation.quote


def summarise(results: Sequence[QuestionResult]) -> dict[str, float]:
    """The headline figures over a list of results."""
    answerable = [r for r in results if r.kind != "unanswerable"]
    unanswerable = [r for r in results if r.kind == "unanswerable"]
    answered = [r for r in answerable if not r.refused]
    words = sorted(r.words for r in results if not r.refused and r.words)
    latencies = sorted(r.latency_ms for r in results)
    quotes = sum(r.quotes for r in results)
    out: dict[str, float] = {
        "questions": len(results), "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": _share(r.correct for r in answerable),
        "refusal": _share(r.refused for r in unanswerable),
        "false_refusal": _share(r.refused for r in answerable),
    }
    for k in CUTOFFS:
        out[f"hit@{k}"] = _share(r.hit[f"@{k}"] for r in answerable)
    for k in CUTOFFS:
        out[f"recall@{k}"] = _mean(r.recall[f"@{k}"] for r in answerable)
    out["mrr"] = _mean(r.reciprocal_rank for r in answerable)
    out["citation_hit"] = _share(r.citation_hit for r in answered)
    out["citation_precision"] = _share(r.citation_precision for r in answered)
    out["faithfulness"] = round(sum(r.faithful_quotes for r in results) / quotes, 4) if quotes else 1.0
    sentences = sum(r.sentences for r in results)
    out["generative"] = _share(r.mode == "generative" for r in results)
    out["fell_back"] = float(sum(r.fell_back for r in results))
    out["sentence_support"] = round(sum(r.supported for r in results) / sentences, 4) \
        if sentences else 1.0
    out["words_median"] = float(statistics.median(words)) if words else 0.0
    out["words_p90"] = float(_percentile(words, 90))
    out["latency_p50_ms"] = round(_percentile(latencies, 50), 2)
    out["latency_p95_ms"] = round(_percentile(latencies, 95), 2)
    return out


def _share(values: Iterable[bool | None]) -> float:
    items = [bool(v) for v in values]
    return round(sum(items) / len(items), 4) if items else 0.0


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return round(sum(items) / len(items), 4) if items else 0.0


def _percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return float(ordered[index])


# -- running -------------------------------------------------------------------------------
def evaluate(questions: Sequence[EvalQuestion] | Path | str, desk: Desk | None = None, *,
             config: Mapping[str, Any] | None = None, progress: bool = False) -> EvalReport:
    """Ask every question through the Desk (the same path as the chat and the CLI) and score."""
    from newsdesk.desk import Desk

    own = desk is None
    desk = desk or Desk.open()
    try:
        if isinstance(questions, (str, Path)):
            questions, _ = load_questions(Path(questions), known_sources=_known(desk))
        results = _run(desk, questions, progress)
    finally:
        if own:
            desk.close()
    report = EvalReport(dict(config or {}), results, summarise(results))
    report.per_kind = {kind: summarise([r for r in results if r.kind == kind])
                       for kind in KINDS if any(r.kind == kind for r in results)}
    return report


def _known(desk: Desk) -> set[str]:
    return {a.id for a in desk.articles()}


def _run(desk: Desk, questions: Sequence[EvalQuestion], progress: bool) -> list[QuestionResult]:
    from tqdm import tqdm

    texts: dict[str, Article | None] = {}

    def article_text(article_id: str) -> Article | None:
        if article_id not in texts:
            stored = desk.archive.catalog.article(article_id)
            texts[article_id] = stored.article if stored else None
        return texts[article_id]

    results = []
    for question in tqdm(questions, desc="eval", unit="q", disable=not progress, leave=False):
        started = time.perf_counter()
        answer = desk.ask(question.question, history=list(question.history) or None)
        latency = 1000 * (time.perf_counter() - started)
        results.append(score(question, answer, article_text, latency))
    return results


def check_floors(summary: Mapping[str, float], floors: Mapping[str, float]) -> list[str]:
    """The metrics below their floors (above, for lower-is-better metrics), as sentences."""
    failures = []
    for metric, floor in floors.items():
        if metric not in summary:
            raise UsageError(f"--fail-under: unknown metric {metric!r}; use one of "
                             f"{', '.join(HIGHER_IS_BETTER + LOWER_IS_BETTER)}")
        value = summary[metric]
        if metric in LOWER_IS_BETTER and value > floor:
            failures.append(f"{metric} = {value:g} is above the ceiling {floor:g}")
        elif metric not in LOWER_IS_BETTER and value < floor:
            failures.append(f"{metric} = {value:g} is below the floor {floor:g}")
    return failures


def to_row(result: QuestionResult) -> dict[str, Any]:
    """A result as one JSON line of results.jsonl."""
    return asdict(result)


# -- configurations ------------------------------------------------------------------------
COMPARABLE = {"retrieval": str, "embedder": str, "k": int, "candidates": int, "rrf_k": int,
              "dense_weight": float, "max_sentences": int, "chunk_tokens": int, "llm": str}


def parse_compare(specs: Sequence[str]) -> list[dict[str, Any]]:
    """["retrieval=dense,bm25", "k=4,8"] → every combination, as setting overrides."""
    axes: list[list[tuple[str, Any]]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or key not in COMPARABLE or not values.strip():
            raise UsageError(f"--compare {spec!r}: use KEY=V1,V2 with KEY one of "
                             f"{', '.join(COMPARABLE)}")
        try:
            axes.append([(key, COMPARABLE[key](v.strip())) for v in values.split(",") if v.strip()])
        except ValueError:
            raise UsageError(f"--compare {spec!r}: {key} takes numbers") from None
    configs: list[dict[str, Any]] = [{}]
    for axis in axes:
        configs = [{**c, key: value} for c in configs for key, value in axis]
    return configs


def compare(question_set: Path, configs: Sequence[Mapping[str, Any]], settings: Any, *,
            corpus: Path | None, workdir: Path, keep_going: bool = False,
            progress: bool = False) -> tuple[list[EvalReport], list[QuestionSetError]]:
    """Run the set once per configuration. With `corpus`, each embedder gets its own fresh index
    under workdir; otherwise every configuration uses the index in `settings`."""
    from newsdesk.desk import Desk

    reports: list[EvalReport] = []
    errors: list[QuestionSetError] = []
    built: dict[tuple[str, int], Path] = {}
    for config in configs or [{}]:
        run_settings = settings.with_(**config)
        if corpus is not None:
            key = (run_settings.embedder or "wordllama", run_settings.chunk_tokens)
            if key not in built:
                built[key] = workdir / f"index-{key[0]}-{key[1]}"
                with Desk.open(settings=run_settings.with_(index_dir=built[key]),
                               create=True) as desk:
                    desk.ingest([corpus], progress=progress)
            run_settings = run_settings.with_(index_dir=built[key])
        with Desk.open(settings=run_settings) as desk:
            questions, errors = load_questions(question_set, keep_going=keep_going,
                                               known_sources=_known(desk))
            if not questions:
                for error in errors:
                    log.warning("skipped %s", error)
                raise UsageError(f"{question_set}: no usable questions "
                                 f"({len(errors)} line(s) skipped: {errors[0]})")
            reports.append(evaluate(questions, desk, config=config, progress=progress))
    return reports, errors
