"""`newsdesk search` lists only passages that match the query at all, and the README says what
the embedder setting does to an existing index."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import ROOT, run_cli
from newsdesk import Desk


def test_search_returns_only_passages_that_hold_a_word_of_the_query(sample_desk: Desk) -> None:
    assert sample_desk.search("xqzv blorf glimtrask") == []
    assert sample_desk.search("the and of") == []  # stop words only
    thorn = sample_desk.search("Thorn", k=10)
    assert thorn and len(thorn) < 10
    assert all("Thorn" in p.text for p in thorn)
    ring = sample_desk.search("Ring partnerships", k=10)
    assert ring and all(re.search(r"\bRing\b|partnership", p.text, re.I) for p in ring)
    assert sample_desk.search("Rekognition", k=3, filters={"outlet": "No Such Outlet"}) == []


def test_the_cli_says_when_nothing_matches(sample_index: Path) -> None:
    done = run_cli("search", "xqzv blorf", "--index-dir", str(sample_index))
    assert done.returncode == 0 and done.stdout == "no passages found\n"
    listed = run_cli("search", "Thorn", "--json", "--index-dir", str(sample_index))
    passages = json.loads(listed.stdout)
    assert passages and all("Thorn" in p["text"] for p in passages)


def test_another_embedder_on_an_existing_index_is_an_error_the_readme_describes(
        sample_index: Path) -> None:
    done = run_cli("ask", "Who is Thorn?", "--index-dir", str(sample_index),
                   env={"NEWSDESK_EMBEDDER": "minilm"})
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert ("embedder: index has 'wordllama', settings ask for 'minilm' (from NEWSDESK_EMBEDDER or "
            "--embedder; unset it to use the index's)") in done.stderr
    row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `NEWSDESK_EMBEDDER`"))
    assert "only for a new index" not in row and "error" in row
