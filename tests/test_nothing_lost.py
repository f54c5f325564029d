"""Nothing silently lost: a rule removes lines, never an open-ended run of them; every removed
line can be seen with its rule's name (`newsdesk ingest --explain`); a page left with no text
is reported by path; a short headline is the title."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import DATA, run_cli
from newsdesk.clean import clean, load_rules

STORY = [
    "Kestrel Robotics said on Monday it would cut 350 jobs at its Tacoma plant.",
    "The company blamed falling orders from warehouse operators across the region.",
    "Workers were told at a meeting on Monday morning, two of them said.",
    "The union said it would ask for talks with the company this week.",
    "Kestrel had hired 900 people in the past two years as orders grew.",
    "Its shares fell 4 percent in early trading on the news.",
    "The plant opened in 2015 with the help of a state grant.",
]


def _unclosed(separator: str) -> str:
    return separator.join([STORY[0], "Job Listings on GeekWork", *STORY[1:]])


def test_an_unclosed_block_keeps_the_story_after_it() -> None:
    for separator in ("\n\n", "\n"):  # paragraphs, and lines of a Markdown-like text
        cleaned = clean(_unclosed(separator), load_rules())
        assert cleaned.text.split("\n\n") == STORY
        assert [(r.line, r.rule) for r in cleaned.removed] == [
            ("Job Listings on GeekWork", "job listings (opening line; no end found)")]


def test_a_closed_block_is_removed_whole_and_each_line_named() -> None:
    text = "\n\n".join([STORY[0], "Job Listings on GeekWork", "Senior Engineer — Acme",
                        "Find more jobs on GeekWork. Employers, post a job here.", STORY[1]])
    cleaned = clean(text, load_rules())
    assert cleaned.text.split("\n\n") == STORY[:2]
    assert {r.rule for r in cleaned.removed} == {"job listings"} and len(cleaned.removed) == 3


def test_a_five_word_headline_is_the_title_and_stays_in_the_text() -> None:
    cleaned = clean("Kestrel Robotics cuts 350 jobs\n\n" + "\n\n".join(STORY), load_rules())
    assert cleaned.title == "Kestrel Robotics cuts 350 jobs"
    assert cleaned.text.split("\n\n") == ["Kestrel Robotics cuts 350 jobs", *STORY]


def test_lines_in_other_scripts_are_prose_not_labels() -> None:
    prose = ["梁振英周一表示对事件负责。",  # ends with a CJK full stop: one "word" by spaces
             "هل يسيطر المعارضون على مخازن الصواريخ؟",  # an Arabic question mark
             "सरकार ने नई योजना की घोषणा की।",  # a Devanagari full stop
             "معارضون يسيطرون على مخازن للصواريخ في ريف دمشق الغربي"]  # no case, no full stop
    cleaned = clean("\n\n".join(["港特首梁振英就住宅违建事件道歉", *prose]), load_rules())
    assert cleaned.title == "港特首梁振英就住宅违建事件道歉"
    assert cleaned.text.split("\n\n")[1:] == prose and cleaned.removed == ()


def test_a_page_with_nothing_left_is_reported_by_path(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "promo.md").write_text("# Subscribe\n\nAdvertisement\n\nShare this article\n",
                                     encoding="utf-8")
    (folder / "story.txt").write_text("\n\n".join(STORY), encoding="utf-8")
    done = run_cli("ingest", str(folder), "--index-dir", str(tmp_path / "index"), "--json")
    assert done.returncode == 0, done.stderr
    failed = json.loads(done.stdout)["failed"]
    assert [Path(f["path"]).name for f in failed] == ["promo.md"]
    assert "no article text left" in failed[0]["reason"] and "--explain" in failed[0]["reason"]


def test_explain_shows_kept_text_and_each_removed_line(tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text("By Dana Whitfield\n\n" + _unclosed("\n\n") + "\n\nAdvertisement\n",
                    encoding="utf-8")
    markdown = tmp_path / "story.md"
    markdown.write_text("# Kestrel cuts jobs\n\n" + _unclosed("\n\n") + "\n\nShare this article\n",
                        encoding="utf-8")
    done = run_cli("ingest", "--explain", str(text), str(markdown), str(DATA / "web" / "de.html"),
                   str(DATA / "web" / "section-front.html"), "--index-dir", str(tmp_path / "ix"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("-- text kept: 7 paragraphs") == 2 and all(s in out for s in STORY)
    assert "[byline] By Dana Whitfield" in out and "[advertisement] Advertisement" in out
    assert "[job listings (opening line; no end found)] Job Listings on GeekWork" in out
    assert "[sharing] Share this article" in out
    assert "[headline (kept as the title)] Kestrel cuts jobs" in out
    assert "Stadtwerke erhöhen zum ersten Juli die Wasserpreise um acht Prozent." in out
    assert "language: de" in out
    assert "not indexed: a navigation page: " in out
    assert not (tmp_path / "ix").exists()  # explaining indexes nothing
