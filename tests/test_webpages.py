"""Saved web pages in any language: kept, searchable by a word of their own language, listed and
filtered by language; navigation pages skipped with a reason; scripts do not change the text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import DATA, ROOT, run_cli
from newsdesk.webpage import read_page

WEB = DATA / "web"
SHARED_PAGES = ROOT.parent / "shared" / "web" / "pages"
# One word (or name) from each article, as a reader of that language would search for it.
WORDS = {"ja.html": "フェリー", "zh.html": "公交", "ru.html": "библиотеки", "de.html": "Wasserpreise"}


@pytest.fixture(scope="module")
def languages_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four language pages and a section front, ingested once with the real CLI."""
    work = tmp_path_factory.mktemp("languages")
    pages = work / "pages"
    pages.mkdir()
    for name in [*WORDS, "section-front.html"]:
        shutil.copy(WEB / name, pages / name)
    index = work / "index"
    done = run_cli("ingest", str(pages), "--index-dir", str(index))
    assert done.returncode == 0, done.stderr
    assert "skipped: " in done.stderr and "section-front.html: a navigation page" in done.stderr
    assert "not articles 1" in done.stdout
    return index


@pytest.mark.parametrize("name", sorted(WORDS))
def test_a_word_of_the_articles_language_finds_it(languages_index: Path, name: str) -> None:
    done = run_cli("search", WORDS[name], "--index-dir", str(languages_index), "--json",
                   "--language", name.removesuffix(".html"))
    assert done.returncode == 0, done.stderr
    passages = json.loads(done.stdout)
    assert passages and passages[0]["source"] == name
    assert WORDS[name].lower() in passages[0]["text"].lower()


def test_the_language_is_listed_and_filters(languages_index: Path) -> None:
    rows = json.loads(run_cli("list", "--index-dir", str(languages_index), "--json").stdout)
    assert {r["id"]: r["language"] for r in rows} == {n: n.removesuffix(".html") for n in WORDS}
    table = run_cli("list", "--index-dir", str(languages_index), "--language", "ja").stdout
    assert "ja.html" in table and "de.html" not in table and table.strip().endswith("1 articles")
    other = run_cli("search", WORDS["ja.html"], "--index-dir", str(languages_index), "--json",
                    "--language", "de")
    assert all(p["source"] == "de.html" for p in json.loads(other.stdout))


def test_the_manifest_records_the_keyword_analyser(languages_index: Path) -> None:
    manifest = json.loads((languages_index / "manifest.json").read_text(encoding="utf-8"))
    assert "cjk-bigrams" in manifest["analyser"]
    assert manifest["splitter"] == "sentencex-by-language"


def test_a_navigation_page_is_no_article() -> None:
    page = read_page((WEB / "section-front.html").read_bytes(), "section-front.html")
    assert page.navigation.startswith("a navigation page: ")
    article = read_page((WEB / "de.html").read_bytes(), "de.html")
    assert article.navigation == "" and article.link_share < 0.1


def test_subheadings_stay_lines_of_their_own() -> None:
    html = ("<html><head><title>Council passes budget</title></head><body><article>"
            "<h1>Council passes budget</h1>"
            "<p>The council passed the budget on Tuesday after a long debate in the chamber.</p>"
            "<h2>Power and Performance</h2>"
            "<p>The new plant will supply power to nine thousand homes from next year.</p>"
            "<h3>USING HONEY INSTEAD OF SUGAR</h3>"
            "<p>The bakery switched to honey in all of its bread last spring, it said.</p>"
            "</article></body></html>")
    page = read_page(html.encode(), "budget.html")
    paragraphs = page.text.split("\n\n")
    assert "Power and Performance" in paragraphs and "USING HONEY INSTEAD OF SUGAR" in paragraphs
    assert page.known["title"] == "Council passes budget"


def test_inline_scripts_do_not_change_the_text() -> None:
    html = (WEB / "de.html").read_text(encoding="utf-8")
    script = "<script>" + "var x = {'k': 'Wasserpreise steigen'};\n" * 30_000 + "</script>"
    heavy = html.replace("</head>", script + "</head>").replace("</body>", script + "</body>")
    assert len(heavy) > 2_000_000
    assert read_page(heavy.encode(), "heavy.html").text == read_page(html.encode(), "de.html").text


@pytest.mark.skipif(not SHARED_PAGES.is_dir(), reason="../shared/web/pages is not here")
def test_every_saved_page_in_seven_languages_keeps_its_text() -> None:
    from newsdesk.prepare import read
    from newsdesk.sources import Candidate

    languages = {}
    for path in sorted(SHARED_PAGES.glob("*.html")):
        _, readings = read(Candidate(path, path.parent, path.name), path.read_bytes(), 1 << 24)
        article = readings[0].article
        assert article is not None and len(article.text) > 500, (path.name, readings[0].reason)
        languages[path.name] = article.language
    assert {languages[n] for n in ("bbc_chinese.html", "cnn_arabic.html", "donga_korean.html",
                                   "wiwo.html", "lefigaro.html", "elpais.html")} == {
        "zh", "ar", "ko", "de", "fr", "es"}


def test_the_extraction_benchmark_scores_pages_against_their_truth(tmp_path: Path) -> None:
    import gzip
    import re
    import subprocess
    import sys

    truth = {}
    (tmp_path / "html").mkdir()
    for name in WORDS:
        html = (WEB / name).read_text(encoding="utf-8")
        article = html[html.index("<article>"):html.index("</article>")]
        body = "\n\n".join(re.findall(r"<p>(.*?)</p>", article))  # the true body, by hand
        truth[name.removesuffix(".html")] = {"articleBody": body}
        (tmp_path / "html" / f"{name.removesuffix('.html')}.html.gz").write_bytes(
            gzip.compress(html.encode("utf-8")))
    (tmp_path / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    script = str(ROOT / "benchmarks" / "extraction.py")
    done = subprocess.run([sys.executable, script, "--data", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
            if line.startswith(("newsdesk", "trafilatura"))}
    assert rows["newsdesk"][1:4] == ["1.000", "1.000", "1.000"]  # F1, precision, recall
    assert "trafilatura" in rows and "4 pages" in done.stdout
    absent = subprocess.run([sys.executable, script, "--data", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=60)
    assert absent.returncode == 0 and absent.stdout.startswith("skipped: no benchmark data")
