"""Article text from real web pages: newsdesk's cleaned text beside trafilatura alone, scored
against hand-made ground truth, in one run.

Scoring is the shingle F1 of the scrapinghub article-extraction benchmark (its evaluate.py,
MIT licence), written anew here: a page's text and its true body become 4-word shingles of
\\w+ tokens; true positives, false positives and false negatives are counted over shingles and
normalised per page, so that long pages weigh no more than short ones; precision and recall
are averaged over pages, and F1 is their harmonic mean.

The data is not part of this repository (the pages remain their publishers'). Point the script
at a folder in that benchmark's layout, `ground-truth.json` ({id: {"articleBody": ..., "url":
...}}) and `html/<id>.html.gz`:

    git clone https://github.com/scrapinghub/article-extraction-benchmark
    python benchmarks/extraction.py --data article-extraction-benchmark

(or set NEWSDESK_EXTRACTION_DATA). Without data the script says so and exits 0. It prints, for
newsdesk and for `trafilatura.extract(html, include_comments=False)` (the benchmark's own
trafilatura settings): F1, precision, recall, pages left with no text, pages with their article
dropped (recall under 0.5) and seconds per page; then F1 by the language of the true body, and,
with --worst N, the N pages newsdesk does worst on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from newsdesk.errors import ArticleError
from newsdesk.language import detect
from newsdesk.prepare import read
from newsdesk.sources import Candidate

_TOKEN = re.compile(r"\w+")
_SHINGLE = 4
_DROPPED_RECALL = 0.5  # a page whose text holds under half of its true body lost its article

Scores = tuple[float, float, float]  # tp, fp, fn, normalised to sum to 1


@dataclass(frozen=True, slots=True)
class Page:
    """One benchmark page: its id, HTML bytes, true body and the language of that body."""

    id: str
    html: bytes
    truth: str
    language: str


def pages(folder: Path) -> Iterator[Page]:
    """The pages of a benchmark folder, in the order of its ground truth."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    for page_id, item in truth.items():
        body = str(item.get("articleBody") or "")
        html = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        yield Page(page_id, html, body, detect(body) or "?")


def shingles(text: str) -> Counter[tuple[str, ...]]:
    """4-word shingles of a text's \\w+ tokens (a text shorter than that is one shingle)."""
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i:i + _SHINGLE])
                   for i in range(max(1, len(tokens) - _SHINGLE + 1)) if tokens[i:i + _SHINGLE])


def score(truth: str, predicted: str) -> Scores:
    """(tp, fp, fn) of one page, over shingles, normalised per page."""
    true, pred = shingles(truth), shingles(predicted)
    tp, fp, fn = sum((true & pred).values()), sum((pred - true).values()), sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))


def _recall(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def summary(rows: list[Scores]) -> tuple[float, float, float]:
    """(F1, precision, recall) as the benchmark computes them."""
    precision = statistics.mean(_precision(*r) for r in rows if r[0] + r[1] > 0)
    recall = statistics.mean(_recall(*r) for r in rows if r[0] + r[2] > 0)
    return 2 * precision * recall / (precision + recall), precision, recall


def newsdesk_text(page: Page) -> str:
    """The text `newsdesk ingest` would index for the page ('' when it indexes nothing)."""
    candidate = Candidate(Path(f"{page.id}.html"), Path("."), f"{page.id}.html")
    try:
        _, readings = read(candidate, page.html, len(page.html) + 1)
    except ArticleError:
        return ""
    return "\n\n".join(r.article.text for r in readings if r.article is not None)


def trafilatura_text(page: Page) -> str:
    """trafilatura alone, with the settings of the benchmark's own trafilatura run."""
    import trafilatura

    return trafilatura.extract(page.html, include_comments=False) or ""


SYSTEMS: dict[str, Callable[[Page], str]] = {
    "newsdesk": newsdesk_text, "trafilatura alone": trafilatura_text}


def main() -> int:
    """Score every page with each system and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="benchmark folder (default: $NEWSDESK_EXTRACTION_DATA)")
    parser.add_argument("--worst", type=int, default=0, help="list the N worst pages")
    args = parser.parse_args()
    folder = args.data or (Path(os.environ["NEWSDESK_EXTRACTION_DATA"])
                           if os.environ.get("NEWSDESK_EXTRACTION_DATA") else None)
    if folder is None or not (folder / "ground-truth.json").is_file():
        print("skipped: no benchmark data. Get it with\n"
              "  git clone https://github.com/scrapinghub/article-extraction-benchmark\n"
              "and run  python benchmarks/extraction.py --data article-extraction-benchmark")
        return 0
    rows: dict[str, list[Scores]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    corpus = list(pages(folder))
    for page in corpus:
        for name, system in SYSTEMS.items():
            started = time.perf_counter()
            text = system(page)
            seconds[name] += time.perf_counter() - started
            rows[name].append(score(page.truth, text))
    _report(corpus, rows, seconds, args.worst)
    return 0


def _report(corpus: list[Page], rows: dict[str, list[Scores]], seconds: dict[str, float],
            worst: int) -> None:
    languages = Counter(p.language for p in corpus)
    print(f"{len(corpus)} pages; languages of the true bodies: "
          + ", ".join(f"{lang} {n}" for lang, n in languages.most_common()))
    print(f"\n{'':20} {'F1':>6} {'prec.':>6} {'recall':>6} {'no text':>8} {'dropped':>8} {'s/page':>7}")
    for name, scores in rows.items():
        f1, precision, recall = summary(scores)
        empty = sum(1 for r in scores if r[0] == 0 and r[1] == 0)
        dropped = sum(1 for r in scores if _recall(*r) < _DROPPED_RECALL)
        print(f"{name:20} {f1:6.3f} {precision:6.3f} {recall:6.3f} {empty:8d} {dropped:8d} "
              f"{seconds[name] / len(corpus):7.3f}")
    print(f"\nF1 by language ({', '.join(rows)}):")
    for language, count in languages.most_common():
        index = [i for i, p in enumerate(corpus) if p.language == language]
        figures = "  ".join(f"{summary([scores[i] for i in index])[0]:.3f}" for scores in rows.values())
        print(f"  {language:4} {count:4d} pages  {figures}")
    if worst:
        print(f"\nthe {worst} pages newsdesk does worst on (F1, precision, recall):")
        mine = rows["newsdesk"]
        for i in sorted(range(len(corpus)), key=lambda i: _f1(*mine[i]))[:worst]:
            print(f"  {_f1(*mine[i]):.3f} {_precision(*mine[i]):.3f} {_recall(*mine[i]):.3f}  "
                  f"{corpus[i].id}  {corpus[i].language}")


if __name__ == "__main__":
    sys.exit(main())
