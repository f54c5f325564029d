"""The `newsdesk` command: thin subcommands that parse, call Desk, and print."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from newsdesk.config import EMBEDDERS, Settings
from newsdesk.errors import NewsdeskError, UsageError
from newsdesk.printable import printable
from newsdesk.types import Answer, IngestReport

if TYPE_CHECKING:
    from newsdesk.desk import Desk
    from newsdesk.evaluation import EvalReport
    from newsdesk.prepare import Reading

log = logging.getLogger("newsdesk")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(index_dir=args.index_dir,
                                     embedder=getattr(args, "embedder", None),
                                     llm=getattr(args, "llm", None),
                                     chroma_url=args.chroma_url)
        status: int = args.run(args, settings)
        sys.stdout.flush()  # here, so that a closed pipe is met inside this try
        return status
    except NewsdeskError as exc:
        _print(f"newsdesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _print("newsdesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read the output stopped reading (`newsdesk ask … | head -1`): so do we,
        # quietly, with the status of a process ended by SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _print(*parts: object, file: TextIO | None = None, flush: bool = False) -> None:
    """print, without the control characters and terminal escape sequences that text from
    articles, files and their names may hold."""
    print(*(printable(str(part)) for part in parts), file=file, flush=flush)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdesk", description="Ask a news archive; every claim cites its passage.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, default=None,
                        help="index folder (default: $NEWSDESK_INDEX_DIR, else ./index)")
    common.add_argument("--chroma-url", default=None, metavar="URL",
                        help="Chroma server that holds the vectors, http://HOST:PORT (default: "
                             "$NEWSDESK_CHROMA_URL, else where the index keeps them; a new "
                             "index keeps them in its folder)")
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", parents=[common], help="add articles to the index",
                            description="Add or update articles from files and folders.")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or folders (.txt .md .html .htm .json .jsonl .xml .rss "
                             ".atom .warc .warc.gz)")
    ingest.add_argument("--explain", action="store_true",
                        help="index nothing: show, for each FILE, the text it gives and every "
                             "line the cleaning rules remove, with the rule's name")
    ingest.add_argument("--prune", action="store_true",
                        help="remove articles no longer present under the given folders")
    ingest.add_argument("--rebuild", action="store_true", help="start a fresh index")
    ingest.add_argument("--embedder", choices=EMBEDDERS, default=None,
                        help="embedding model (default: the index's, else wordllama)")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.set_defaults(run=_ingest)

    listing = sub.add_parser("list", parents=[common], help="list the indexed articles")
    listing.add_argument("--language", action="append", metavar="CODE",
                         help="only articles in this language (ISO 639-1, as listed)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_list)

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--since", metavar="DATE", help="only articles dated on or after DATE")
    filters.add_argument("--until", metavar="DATE", help="only articles dated on or before DATE")
    filters.add_argument("--outlet", action="append", metavar="NAME", help="only this outlet")
    filters.add_argument("--source", action="append", metavar="ID", help="only this article")
    filters.add_argument("--language", action="append", metavar="CODE",
                         help="only articles in this language (ISO 639-1 code, e.g. de, ja)")

    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--llm", metavar="MODEL", default=None,
                       help="generative answers, each sentence checked against its passage: "
                            "openai:MODEL, ollama:MODEL, gguf:PATH, or none (default: "
                            "$NEWSDESK_LLM, else none: extractive answers)")

    ask = sub.add_parser("ask", parents=[common, filters, model],
                         help="answer a question with sources")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.set_defaults(run=_ask)

    chat = sub.add_parser("chat", parents=[common, filters, model], help="a conversation in the terminal")
    chat.set_defaults(run=_chat)

    search = sub.add_parser("search", parents=[common, filters], help="ranked passages, no answer")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=10, help="how many passages (default 10)")
    search.add_argument("--json", action="store_true", help="print JSON")
    search.set_defaults(run=_search)

    check = sub.add_parser(
        "check", parents=[common], help="verify the index; --repair rebuilds what is missing",
        description="Compare the catalog, the vectors and the keyword index (counts and ids); "
                    "with --repair, rebuild what is missing or damaged from what is there.")
    check.add_argument("--repair", action="store_true",
                       help="embed missing vectors again, rebuild the keyword index, keep what a "
                            "damaged catalog still holds")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=_check)

    serve = sub.add_parser("serve", parents=[common, model], help="the web chat",
                           description="Serve the web chat (Gradio) on the index.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument("--auth", metavar="USER:PASS", default=None,
                       help="require this login (needed for a non-loopback --host; "
                            "or set NEWSDESK_AUTH)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="also answer requests for this host name (repeat for more; or set "
                            "NEWSDESK_ALLOWED_HOSTS=a,b); others are refused, against DNS "
                            "rebinding")
    serve.set_defaults(run=_serve)

    ev = sub.add_parser("eval", parents=[common, model], help="score the answers against a question set",
                        description="Run a question set (JSONL) and write report.md, "
                                    "results.jsonl, summary.json and metrics.png.")
    ev.add_argument("questions", type=Path, metavar="QUESTIONS.jsonl")
    ev.add_argument("--corpus", type=Path, metavar="DIR",
                    help="ingest this folder into a fresh temporary index first")
    ev.add_argument("--out", type=Path, metavar="DIR",
                    help="where to write the report (default eval-runs/<time>/)")
    ev.add_argument("--compare", action="append", default=[], metavar="KEY=V1,V2",
                    help="run once per value (retrieval, embedder, k, candidates, rrf_k, "
                         "dense_weight, max_sentences, chunk_tokens, llm); repeat for every "
                         "combination")
    ev.add_argument("--fail-under", nargs="+", default=[], metavar="METRIC=VALUE",
                    help="exit 1 when a metric is below VALUE (above, for false_refusal, "
                         "words_* and latency_*)")
    ev.add_argument("--keep-going", action="store_true",
                    help="report and skip bad question lines instead of stopping")
    ev.add_argument("--json", action="store_true", help="print summary.json")
    ev.set_defaults(run=_eval)
    return parser


def _filters(args: argparse.Namespace) -> dict[str, object]:
    return {"languages": args.language or (),
            "since": args.since, "until": args.until, "outlets": args.outlet or (),
            "sources": args.source or ()}


def _open_or_build(settings: Settings) -> Desk:
    """The Desk on the index; when there is none yet, build it from the corpus folder first."""
    from newsdesk.desk import Desk
    from newsdesk.store import Manifest

    if Manifest.read(settings.index_dir) is None and settings.corpus_dir.is_dir():
        _print(f"newsdesk: no index at {settings.index_dir} yet; building it from "
              f"{settings.corpus_dir}/ first", file=sys.stderr)
        with Desk.open(settings=settings, create=True) as desk:
            report = desk.ingest([settings.corpus_dir], progress=sys.stderr.isatty())
        for failure in report.failed:
            _print(f"failed: {failure.path}: {failure.reason}", file=sys.stderr)
        _print(f"newsdesk: indexed {len(report.added)} articles in {report.seconds:.1f} s",
              file=sys.stderr)
    return Desk.open(settings=settings)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    with _open_or_build(settings) as desk:
        desk.start_model()
        answer = desk.ask(args.question, filters=_filters(args))
    if answer.note:
        _print(f"newsdesk: note: {answer.note}", file=sys.stderr)
    if args.json:
        _print(answer.to_json(indent=2))
    else:
        _print_answer(answer)
    return 0


def _print_answer(answer: Answer) -> None:
    from newsdesk.cite import plain_text

    _print(plain_text(answer, width=92))


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.limits import recent_history

    history: list[dict[str, str]] = []
    with _open_or_build(settings) as desk:
        desk.start_model()
        _print("Ask the archive (an empty line or Ctrl-D ends; /clear forgets the conversation).")
        while True:
            try:
                question = input("\nyou> ").strip()
            except EOFError:
                _print()
                return 0
            if not question or question in ("exit", "quit"):
                return 0
            if question == "/clear":
                history.clear()
                _print("(conversation cleared)")
                continue
            try:
                answer = desk.ask(question, history=recent_history(history, settings),
                                  filters=_filters(args))
            except UsageError as exc:
                _print(f"newsdesk: {exc}", file=sys.stderr)
                continue
            _print()
            if answer.note:
                _print(f"newsdesk: note: {answer.note}", file=sys.stderr)
            _print_answer(answer)
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": answer.text}]


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.cite import clip, source_line

    with _open_or_build(settings) as desk:
        passages = desk.search(args.query, k=args.k, filters=_filters(args))
    if args.json:
        _print(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2))
        return 0
    for rank, p in enumerate(passages, start=1):
        also = f" (also in {', '.join(p.sources[1:])})" if p.also_in else ""
        _print(f"{rank:>2}. {p.score:.4f}  {source_line(p)}{also}")
        _print(textwrap.indent(textwrap.fill(clip(p.text, 320), 88), "      "))
    if not passages:
        _print("no passages found")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile
    import time

    from newsdesk import report
    from newsdesk.evaluation import check_floors, compare, parse_compare

    floors = _floors(args.fail_under)
    configs = parse_compare(args.compare)
    if args.corpus is None and any("embedder" in c or "chunk_tokens" in c for c in configs):
        raise UsageError("comparing embedders or chunk sizes needs --corpus DIR (each gets "
                         "its own index)")
    if args.corpus is not None and not args.corpus.is_dir():
        raise UsageError(f"--corpus {args.corpus}: no such folder")
    out = args.out or Path("eval-runs") / time.strftime("%Y%m%d-%H%M%S")
    progress = sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="newsdesk-eval-") as work:
        if args.corpus is None and not (settings.index_dir / "manifest.json").exists():
            _open_or_build(settings).close()
        try:
            reports, errors = compare(args.questions, configs, settings, corpus=args.corpus,
                                      workdir=Path(work), keep_going=args.keep_going,
                                      progress=progress)
        finally:  # the temporary indexes' vectors, when a Chroma server holds them
            from newsdesk.archive import discard

            for folder in Path(work).iterdir():
                discard(folder)
    for error in errors:
        _print(f"skipped: {error}", file=sys.stderr)
    paths = report.write(reports, out, str(args.questions))
    if args.json:
        _print(json.dumps(report.summary_json(reports), indent=2))
    else:
        _print_eval(reports, paths)
    failures = [f"{r.label}: {f}" if len(reports) > 1 else f
                for r in reports for f in check_floors(r.summary, floors)]
    for failure in failures:
        _print(f"newsdesk: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _floors(specs: list[str]) -> dict[str, float]:
    floors: dict[str, float] = {}
    for spec in specs:
        metric, sep, value = spec.partition("=")
        try:
            floors[metric.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--fail-under {spec!r}: use METRIC=NUMBER") from None
        if not sep:
            raise UsageError(f"--fail-under {spec!r}: use METRIC=NUMBER")
    return floors


def _print_eval(reports: list[EvalReport], paths: list[Path]) -> None:
    from newsdesk.report import TABLE_METRICS, winners

    shown: tuple[str, ...] = ("correct", "refusal", "false_refusal", "hit@5", "mrr", "citation_precision",
             "faithfulness", "words_median", "latency_p50_ms")
    if any(r.config.get("llm", "none") != "none" or r.summary["generative"] for r in reports):
        shown = (*shown, "generative", "fell_back", "sentence_support")
    rows = [[r.label, *(f"{r.summary[m]:.3f}" if r.summary[m] <= 1 else f"{r.summary[m]:g}"
                        for m in shown)] for r in reports]
    _table(["configuration", *shown], rows)
    first = reports[0].summary
    _print(f"\n{first['questions']:.0f} questions ({first['answerable']:.0f} answerable, "
          f"{first['unanswerable']:.0f} unanswerable)")
    if len(reports) > 1:
        best = winners(reports)
        _print("best: " + "; ".join(f"{m}: {best[m]}" for m in TABLE_METRICS if m in shown))
    _print(f"report: {paths[0].parent}/ ({', '.join(p.name for p in paths)})")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from newsdesk_ui.app import serve
    except ImportError as exc:
        raise UsageError(f"the web chat cannot be loaded ({exc}); reinstall newsdesk") from exc
    auth = args.auth or settings.auth
    with _open_or_build(settings) as desk:
        desk.start_model()  # `serve` starts a GGUF model's server once and keeps it
        articles = len(desk.articles())
        serve(desk, host=args.host, port=args.port, auth=auth, allowed_hosts=args.allowed_host,
              announce=lambda url: _print(f"newsdesk: the web chat on {articles} articles is at "
                                         f"{url} (Ctrl-C stops it)", flush=True))
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.desk import Desk

    if args.explain:
        return _explain(args.paths, settings)
    with Desk.open(settings=settings, create=True, rebuild=args.rebuild) as desk:
        report = desk.ingest(args.paths, prune=args.prune, progress=sys.stderr.isatty())
        articles, chunks = desk.archive.catalog.counts()
    for notice in report.notices:
        _print(f"note: {notice}", file=sys.stderr)
    for passed in report.not_articles:
        _print(f"skipped: {passed.path}: {passed.reason}", file=sys.stderr)
    for failure in report.failed:
        _print(f"failed: {failure.path}: {failure.reason}", file=sys.stderr)
    if args.json:
        _print(json.dumps(report.to_dict()))
    else:
        _print_summary(report, articles, chunks, settings.index_dir)
    succeeded = report.added or report.updated or report.unchanged or report.removed
    return 1 if report.failed and not succeeded else 0


def _print_summary(report: IngestReport, articles: int, chunks: int, index_dir: Path) -> None:
    counts = " · ".join(f"{name} {len(getattr(report, name))}" for name in
                        ("added", "updated", "unchanged", "removed", "skipped", "failed"))
    if report.not_articles:
        counts += f" · not articles {len(report.not_articles)}"
    _print(counts)
    if report.skipped:
        _print("skipped (unsupported type): " + ", ".join(report.skipped))
    _print(f"{report.chunks} chunks embedded in {report.seconds:.2f} s; "
          f"{index_dir} holds {articles} articles, {chunks} chunks")


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.desk import Desk

    report = Desk.check(settings=settings, repair=args.repair)
    if args.json:
        _print(json.dumps(report.to_dict(), ensure_ascii=False))
    for finding in report.findings:
        done = finding.repaired if report.repaired else f"--repair {finding.repair}"
        _print(f"{finding.part}: {finding.problem}; {done}", file=sys.stderr if args.json else sys.stdout)
    if report.lost:
        shown = ", ".join(report.lost[:20]) + (" …" if len(report.lost) > 20 else "")
        _print(f"newsdesk: the catalog lost the text of {len(report.lost)} articles; ingest their "
              f"files again: {shown}", file=sys.stderr)
    if not args.json:
        _print(f"{report.index_dir}: {report.articles:,} articles, {report.passages:,} passages, "
              f"{report.vectors:,} vectors, {report.keyword:,} in the keyword index"
              + (" — whole" if report.ok else ""))
    if not report.ok:
        _print(f"newsdesk: the index needs repair: run `newsdesk check --repair --index-dir "
              f"{report.index_dir}`", file=sys.stderr)
        return 1
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.desk import Desk

    with Desk.open(settings=settings) as desk:
        articles = desk.articles()
    if args.language:
        wanted = {code.lower() for code in args.language}
        articles = [a for a in articles if a.language in wanted]
    if args.json:
        _print(json.dumps([a.to_dict() for a in articles], ensure_ascii=False))
        return 0
    _table(["id", "date", "lang", "outlet", "chunks", "title"],
           [[a.id, a.date or "—", a.language or "—", a.outlet or "—", str(a.chunks),
             a.title or "—"] for a in articles])
    _print(f"{len(articles)} articles")
    return 0


def _table(header: list[str], rows: list[list[str]], write: Callable[[str], None] = _print) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _explain(paths: Sequence[Path], settings: Settings) -> int:
    """`ingest --explain`: what each file gives, and what the rules removed, without indexing."""
    from newsdesk.prepare import explain

    status = 0
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--explain {path}: give a file, not a folder")
        failures, readings = explain(path, settings.max_file_bytes)
        for failure in failures:
            _print(f"failed: {failure.path}: {failure.reason}", file=sys.stderr)
            status = 1
        for reading in readings:
            _print_reading(reading)
    return status


def _print_reading(reading: Reading) -> None:
    record, cleaned, article = reading.record, reading.cleaned, reading.article
    _print(f"== {record.where or record.id}  (article id {record.id})")
    if article is not None:
        _print(f"title: {article.title or '—'} · author: {article.author or '—'} · outlet: "
              f"{article.outlet or '—'} · date: {article.date or '—'} · language: "
              f"{article.language or '—'}")
    if cleaned is None:
        _print(f"not indexed: {reading.reason}\n")
        return
    paragraphs = [p for p in cleaned.text.split("\n\n") if p]
    _print(f"-- text kept: {len(paragraphs)} paragraphs, {len(cleaned.text)} characters")
    _print(cleaned.text or "(none)")
    _print(f"-- removed by the rules: {len(cleaned.removed)} lines")
    for removed in cleaned.removed:
        _print(f"[{removed.rule}] {removed.line}")
    if article is None:
        _print(f"not indexed: {reading.reason}")
    _print()
