"""The `newsdesk` command: thin subcommands that parse, call Desk, and print."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from newsdesk.config import EMBEDDERS, Settings
from newsdesk.errors import NewsdeskError
from newsdesk.types import IngestReport

log = logging.getLogger("newsdesk")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(index_dir=args.index_dir,
                                     embedder=getattr(args, "embedder", None))
        status: int = args.run(args, settings)
        return status
    except NewsdeskError as exc:
        print(f"newsdesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("newsdesk: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdesk", description="Ask a news archive; every claim cites its passage.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, default=None,
                        help="index folder (default: $NEWSDESK_INDEX_DIR, else ./index)")
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", parents=[common], help="add articles to the index",
                            description="Add or update articles from files and folders.")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or folders (.txt .md .html .htm .json .jsonl)")
    ingest.add_argument("--prune", action="store_true",
                        help="remove articles no longer present under the given folders")
    ingest.add_argument("--rebuild", action="store_true", help="start a fresh index")
    ingest.add_argument("--embedder", choices=EMBEDDERS, default=None,
                        help="embedding model (default: the index's, else wordllama)")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.set_defaults(run=_ingest)

    listing = sub.add_parser("list", parents=[common], help="list the indexed articles")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_list)
    return parser


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.desk import Desk

    with Desk.open(settings=settings, create=True, rebuild=args.rebuild) as desk:
        report = desk.ingest(args.paths, prune=args.prune, progress=sys.stderr.isatty())
        articles, chunks = desk.archive.catalog.counts()
    for notice in report.notices:
        print(f"note: {notice}", file=sys.stderr)
    for failure in report.failed:
        print(f"failed: {failure.path}: {failure.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_summary(report, articles, chunks, settings.index_dir)
    succeeded = report.added or report.updated or report.unchanged or report.removed
    return 1 if report.failed and not succeeded else 0


def _print_summary(report: IngestReport, articles: int, chunks: int, index_dir: Path) -> None:
    counts = " · ".join(f"{name} {len(getattr(report, name))}" for name in
                        ("added", "updated", "unchanged", "removed", "skipped", "failed"))
    print(counts)
    if report.skipped:
        print("skipped (unsupported type): " + ", ".join(report.skipped))
    print(f"{report.chunks} chunks embedded in {report.seconds:.2f} s; "
          f"{index_dir} holds {articles} articles, {chunks} chunks")


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.desk import Desk

    with Desk.open(settings=settings) as desk:
        articles = desk.articles()
    if args.json:
        print(json.dumps([a.to_dict() for a in articles], ensure_ascii=False))
        return 0
    _table(["id", "date", "outlet", "chunks", "title"],
           [[a.id, a.date or "—", a.outlet or "—", str(a.chunks), a.title or "—"] for a in articles])
    print(f"{len(articles)} articles")
    return 0


def _table(header: list[str], rows: list[list[str]], write: Callable[[str], None] = print) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    widths[-1] = 0
    for row in [header, *rows]:
        write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
