"""The keyword index: bm25s's tokenization, irregular verbs, and search over the catalog."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from conftest import BENCHMARKS, CORPUS
from newsdesk import Desk
from newsdesk.keyword import tokenize
from newsdesk.tokens import _IRREGULAR as IRREGULAR

sys.path.insert(0, str(BENCHMARKS))
import synth


def test_tokens_are_bm25s_s_own_plus_irregular_verbs() -> None:
    regular = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.iterdir())]
    regular = [" ".join(w for w in t.split() if w.strip(",.“”").lower() not in IRREGULAR)
               for t in regular]
    theirs = bm25s.tokenize(regular, stopwords=list(STOPWORDS_EN_PLUS),
                            stemmer=Stemmer.Stemmer("english"), return_ids=False,
                            show_progress=False)
    assert tokenize(regular) == theirs
    assert tokenize(["Amazon said it paid"]) == [["amazon", "say", "pay"]]
    assert tokenize(["The, and OF"]) == [[]]


def test_search_and_idf_follow_the_catalog(sample_desk: Desk) -> None:
    keyword = sample_desk.archive.keyword()
    hits = keyword.search("Thorn Marinus Analytics", 3)
    rows = sample_desk.archive.catalog.chunk_rows_by_rid([rid for rid, _ in hits])
    assert hits and rows[hits[0][0]].article_id == "004_5c8df6fe0fbd710e.txt"
    idf = keyword.idf(["amazon", "marinus", "neverseen"])
    assert idf["amazon"] < idf["marinus"] < idf["neverseen"]
    assert keyword.share("amazon") > 0.5 and keyword.share("neverseen") == 0


UNIQUE = ("Zorblat Quendix opened a ferry line between Orvik and Palmont in March. "
          "The Zorblat ferry carries forty cars. Quendix said the line would run all year.\n\n")


def _hits_by_article(desk: Desk, query: str) -> dict[str, list[float]]:
    hits = desk.archive.keyword().search(query, 50)
    rows = desk.archive.catalog.chunk_rows_by_rid([rid for rid, _ in hits])
    out: dict[str, list[float]] = {}
    for rid, score in hits:
        out.setdefault(rows[rid].article_id, []).append(round(score, 4))
    return out


def test_small_changes_update_the_keyword_index_without_a_rebuild(open_desk, tmp_path: Path) -> None:
    base, later = tmp_path / "base", tmp_path / "later"
    synth.build(base, 120, chunks=4)
    (base / "ferry.txt").write_text(UNIQUE * 3, encoding="utf-8")
    later.mkdir()
    (later / "ferry-copy.txt").write_text(UNIQUE * 3, encoding="utf-8")
    desk = open_desk()
    desk.ingest([base])
    main_id = desk.archive.keyword().main_id

    desk.ingest([later])  # a few chunks against ~500: they go to the added segment
    keyword = desk.archive.keyword()
    assert keyword.main_id == main_id and keyword.pending > 0
    assert keyword.documents == desk.archive.catalog.counts()[1]
    hits = _hits_by_article(desk, "Zorblat Quendix ferry")
    # the same text scores the same in the main index and in the added segment
    assert hits["ferry.txt"] == hits["ferry-copy.txt"] != []
    assert keyword.idf(["zorblat"])["zorblat"] == pytest.approx(
        math.log(1 + (keyword.documents - 2 + 0.5) / (2 + 0.5)))

    desk.remove(["ferry.txt"])  # removed from the main index: never found again
    assert set(_hits_by_article(desk, "Zorblat Quendix ferry")) == {"ferry-copy.txt"}
    (later / "ferry-copy.txt").write_text("Palmont's harbour reopened.\n\n" + UNIQUE,
                                          encoding="utf-8")
    desk.ingest([later])  # replaced in the added segment
    before = _hits_by_article(desk, "Palmont harbour")
    assert set(before) == {"ferry-copy.txt"}
    keyword = desk.archive.keyword()
    assert keyword.main_id == main_id and keyword.documents == desk.archive.catalog.counts()[1]
    desk.close()

    reopened = open_desk()  # the index as saved on disk
    loaded = reopened.archive.keyword()
    assert (loaded.main_id, loaded.pending, loaded.documents) == (
        main_id, keyword.pending, keyword.documents)
    assert _hits_by_article(reopened, "Palmont harbour") == before

    synth.build(later / "more", 30, chunks=4, seed=8)  # past REBUILD_SHARE: rebuilt whole
    assert len(reopened.ingest([later]).added) == 30
    rebuilt = reopened.archive.keyword()
    assert rebuilt.main_id != main_id and rebuilt.pending == 0
    assert rebuilt.documents == reopened.archive.catalog.counts()[1]
    assert set(_hits_by_article(reopened, "Palmont harbour")) == {"ferry-copy.txt"}


def test_a_damaged_keyword_index_is_rebuilt_from_the_catalog(open_desk, corpus: Path,
                                                             index_dir: Path) -> None:
    desk = open_desk()
    desk.ingest([corpus])
    before = desk.archive.keyword().search("Thorn Marinus Analytics", 5)
    desk.close()
    (index_dir / "bm25" / "dead.npy").write_bytes(b"not an array")
    reopened = open_desk()
    assert reopened.archive.keyword().search("Thorn Marinus Analytics", 5) == before != []
    assert np.load(index_dir / "bm25" / "dead.npy").size == 0  # saved again, whole
