"""Ingest throughput: a synthetic archive into a fresh index, again unchanged, then with a few
new articles (the keyword index is then updated by the change, not rebuilt).

Prints articles/s, chunks/s, the embedder's own time on the same chunks and the ratio
ingest ÷ embed-only, and the unchanged re-run as a share of the first run — all measured in
this one run, in this process (model loading excluded from both timings).

    python benchmarks/ingest.py [--articles 2000] [--embedder wordllama]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth
from newsdesk import Desk, Settings
from newsdesk.keyword import KeywordIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--chunks-per-article", type=int, default=10)
    parser.add_argument("--embedder", default="wordllama")
    parser.add_argument("--new", type=int, default=10, help="articles added in the third run")
    parser.add_argument("--keep", type=Path, default=None, help="build the index here and keep it")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsdesk-bench-"))
    try:
        archive = work / "archive"
        index = args.keep or work / "index"
        shutil.rmtree(index, ignore_errors=True)
        t = time.perf_counter()
        synth.build(archive, args.articles, args.chunks_per_article)
        print(f"generated {args.articles} articles in {time.perf_counter() - t:.1f} s")

        settings = Settings.from_env(index_dir=index, embedder=args.embedder)
        with Desk.open(settings=settings, create=True) as desk:
            embedder = desk.embedder  # load the model before timing
            first = desk.ingest([archive])
            articles, chunks = desk.archive.catalog.counts()
            texts = [text for _, _, _, text in desk.archive.catalog.all_chunks()]
            fresh = type(embedder)()  # a new instance: nothing remembered from the ingest
            t = time.perf_counter()
            for i in range(0, len(texts), 4096):
                fresh.embed(texts[i:i + 4096])
            embed_only = time.perf_counter() - t
            second = desk.ingest([archive])
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            synth.build(archive / "new", args.new, args.chunks_per_article, seed=99)
            third = desk.ingest([archive])  # a few new articles beside the unchanged ones
            keyword = desk.archive.keyword()
            t = time.perf_counter()
            KeywordIndex.build(desk.archive.catalog.all_chunks(), 0)
            keyword_rebuild = time.perf_counter() - t
        assert not first.failed, first.failed[:3]
        assert len(second.unchanged) == articles and second.chunks == 0
        assert len(third.added) == args.new and keyword.pending == third.chunks

        print(f"embedder                 {args.embedder}")
        print(f"articles, chunks         {articles:,}, {chunks:,}")
        print(f"first ingest             {first.seconds:.2f} s")
        print(f"  articles/s             {articles / first.seconds:,.0f}")
        print(f"  chunks/s               {chunks / first.seconds:,.0f}")
        print(f"embed only, same chunks  {embed_only:.2f} s ({chunks / embed_only:,.0f} chunks/s)")
        print(f"ingest ÷ embed-only      {first.seconds / embed_only:.2f}")
        print(f"unchanged re-run         {second.seconds:.3f} s "
              f"({100 * second.seconds / first.seconds:.1f} % of the first run)")
        print(f"re-run, {args.new} new articles {third.seconds:.3f} s ({third.chunks} chunks; the keyword "
              f"index is updated, not rebuilt: a rebuild alone takes {keyword_rebuild:.2f} s)")
        print(f"peak memory (this process, first two runs) {peak:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
