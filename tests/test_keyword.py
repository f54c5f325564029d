"""The keyword index: bm25s's tokenization, irregular verbs, and search over the catalog."""

from __future__ import annotations

import bm25s
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from conftest import CORPUS
from newsdesk import Desk
from newsdesk.keyword import _IRREGULAR as IRREGULAR
from newsdesk.keyword import tokenize


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
