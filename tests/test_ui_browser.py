"""The web chat as a person uses it: `newsdesk serve` in a subprocess, driven by headless Chromium.

Needs Debian's Chromium (`apt-get install -y chromium`); NEWSDESK_SKIP_BROWSER=1 skips these tests
when it is missing. Screenshots go to screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import CORPUS
from ui_fixtures import (
    CHROMIUM_ARGS,
    MARKUP,
    MARKUP_TITLE,
    REFUSED,
    REKOGNITION,
    SCREENSHOTS,
    chromium,
    free_port,
    html_article,
    newsdesk,
    served,
    server_env,
    stop,
    wait_for_http,
    write_article,
    zorblat_article,
)

THORN = ("Amazon said it would continue to allow organizations like Thorn, the International Center "
         "for Missing and Exploited Children, and Marinus Analytics to use Rekognition")
TIMEOUT = 30_000  # ms: an answer takes well under a second; page loads and uploads a little more
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`newsdesk serve` on an index it builds from a copy of corpus/."""
    with served(tmp_path_factory.mktemp("serve")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh browser session on the chat; fails the test on any script error or alert."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.rstrip("/"))
    context.set_default_timeout(TIMEOUT)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    opened.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                        dialog.dismiss()))
    opened.goto(server)
    opened.wait_for_selector("#nd-chat .nd-chat")
    yield opened
    context.close()
    assert problems == []


def ask(page: Page, question: str) -> None:
    """Type a question, press Enter and wait until its answer is complete."""
    done = page.locator("#nd-chat .nd-turn:not(.nd-pending)").count()
    page.locator("#nd-question textarea").fill(question)
    page.locator("#nd-question textarea").press("Enter")
    expect(page.locator("#nd-chat .nd-turn:not(.nd-pending)")).to_have_count(done + 1)
    expect(page.locator("#nd-chat .nd-pending")).to_have_count(0)


def watch_streaming(page: Page) -> None:
    """Record each text the answer being written shows, as it arrives."""
    page.evaluate("""() => {
      window.ndSeen = [];
      const chat = document.querySelector('#nd-chat');
      new MutationObserver(() => {
        const text = chat.querySelector('.nd-pending .nd-text');
        if (text) window.ndSeen.push(text.textContent);
      }).observe(chat, {subtree: true, childList: true, characterData: true});
    }""")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def open_archive(page: Page) -> None:
    page.get_by_role("tab", name="Archive").click()
    expect(page.locator("#nd-counts")).to_contain_text("articles")


def upload(page: Page, path: Path) -> None:
    """Add a file through the Archive tab and wait for its report."""
    open_archive(page)
    page.locator("#nd-upload input[type=file]").set_input_files(str(path))
    expect(page.locator("#nd-report")).to_contain_text(f"Ready to ask about: {path.name}")


@pytest.mark.browser
def test_an_answer_streams_in_and_its_chip_opens_the_highlighted_passage(page: Page) -> None:
    watch_streaming(page)
    page.locator("#nd-question textarea").fill(REKOGNITION)
    page.locator("#nd-question textarea").press("Enter")
    chip = page.locator('#nd-chat button.nd-chip[data-turn="0"][data-cite="1"]')
    expect(chip).to_be_visible()
    expect(page.locator("#nd-chat .nd-pending")).to_have_count(0)
    seen: list[str] = page.evaluate("window.ndSeen")
    assert len(set(seen)) >= 3 and THORN.startswith(seen[0].strip())  # it arrived piece by piece
    turn = page.locator('#nd-chat .nd-turn[data-turn="0"]')
    expect(turn.locator(".nd-text")).to_contain_text(THORN)
    expect(turn.locator(".nd-coverage")).to_have_text("1 article · GeekWire")
    expect(page.locator("#nd-examples")).to_be_hidden()

    source = page.locator('#nd-sources section[data-turn="0"] details.nd-source[data-cite="1"]')
    expect(source.locator("summary")).to_have_text("1 GeekWire · 004_5c8df6fe0fbd710e.txt")
    expect(source.locator("mark")).to_be_hidden()  # closed until asked for
    chip.click()
    expect(source).to_have_attribute("open", "")
    expect(source.locator("mark")).to_be_visible()
    expect(source.locator("mark")).to_contain_text(THORN)
    passage = source.locator(".nd-passage").inner_text()
    assert len(passage) > len(source.locator("mark").inner_text())  # the passage around the quote
    shoot(page, "chat-answer-and-passage.png")
    page.locator("#nd-sources").screenshot(path=str(SCREENSHOTS / "sources-panel-highlight.png"))

    turn.locator("button.nd-copy").click()
    expect(turn.locator("button.nd-copy")).to_have_text("Copied")
    copied: str = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(THORN) and "\n\nSources\n[1] GeekWire · 004_5c8df6fe0fbd710e.txt\n" in copied

    ask(page, "Why?")  # a follow-up, read with the conversation
    second = page.locator('#nd-chat .nd-turn[data-turn="1"]')
    expect(second.locator(".nd-question")).to_have_text("Why?")
    expect(second.locator(".nd-refused")).to_have_count(0)
    expect(second.locator("button.nd-chip")).not_to_have_count(0)
    expect(page.locator('#nd-sources section[data-turn="1"]')).to_be_visible()
    expect(page.locator('#nd-sources section[data-turn="0"]')).to_be_hidden()
    chip.click()  # an earlier answer's chip brings its sources back
    expect(page.locator('#nd-sources section[data-turn="0"]')).to_be_visible()
    expect(page.locator('#nd-sources section[data-turn="1"]')).to_be_hidden()

    page.locator("#nd-clear").click()
    expect(page.locator("#nd-chat .nd-turn")).to_have_count(0)
    expect(page.locator("#nd-examples")).to_be_visible()
    expect(page.locator("#nd-sources .nd-turn-sources")).to_have_count(0)


@pytest.mark.browser
def test_a_refusal_looks_different_and_offers_related_reading(page: Page) -> None:
    ask(page, REFUSED)
    answer = page.locator("#nd-chat .nd-turn .nd-answer")
    expect(answer).to_have_class("nd-answer nd-refused")
    expect(answer.locator(".nd-refusal-label")).to_have_text("Not in the archive")
    expect(answer.locator(".nd-text")).to_have_text("The archive doesn’t say.")
    expect(answer.locator("button.nd-chip")).to_have_count(0)
    related = answer.locator("details.nd-related")
    expect(related.locator(".nd-passage").first).to_be_hidden()  # collapsed
    related.locator("summary").click()
    expect(related.locator(".nd-passage")).to_have_count(3)
    expect(related.locator(".nd-passage").first).to_be_visible()
    expect(page.locator("#nd-sources")).to_contain_text("cites no source")
    shoot(page, "chat-refusal.png")


@pytest.mark.browser
def test_filters_apply_to_the_next_question(page: Page) -> None:
    page.get_by_text("Filters (apply to your next questions)").click()
    page.locator("#nd-since input, #nd-since textarea").first.fill("2030-01-01")
    ask(page, REKOGNITION)
    first = page.locator('#nd-chat .nd-turn[data-turn="0"]')
    expect(first.locator(".nd-filters")).to_have_text("Only since 2030-01-01")
    expect(first.locator(".nd-refused")).to_have_count(1)
    page.locator("#nd-since input, #nd-since textarea").first.fill("")
    ask(page, REKOGNITION)
    second = page.locator('#nd-chat .nd-turn[data-turn="1"]')
    expect(second.locator(".nd-filters")).to_have_count(0)
    expect(second.locator(".nd-text")).to_contain_text(THORN)


@pytest.mark.browser
def test_two_browser_sessions_keep_separate_conversations(browser: Browser, server: str) -> None:
    pages = []
    for _ in range(2):
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT)
        pages.append(context.new_page())
        pages[-1].goto(server)
        pages[-1].wait_for_selector("#nd-chat .nd-chat")
    one, two = pages
    questions = (REKOGNITION, "What did Microsoft do about facial recognition?")
    for tab, question in zip(pages, questions, strict=True):  # both asked before either is done
        tab.locator("#nd-question textarea").fill(question)
        tab.locator("#nd-question textarea").press("Enter")
    for tab, question in zip(pages, questions, strict=True):
        expect(tab.locator("#nd-chat .nd-turn:not(.nd-pending) .nd-question")).to_have_text([question])
    ask(one, "Why?")
    expect(one.locator("#nd-chat .nd-question")).to_have_text([REKOGNITION, "Why?"])
    expect(two.locator("#nd-chat .nd-question")).to_have_text([questions[1]])
    one.reload()  # a new page is a new session: it starts empty
    one.wait_for_selector("#nd-chat .nd-chat")
    expect(one.locator("#nd-chat .nd-turn")).to_have_count(0)
    for tab in pages:
        tab.context.close()


@pytest.mark.browser
def test_an_uploaded_article_can_be_asked_about_and_removed(page: Page, tmp_path: Path) -> None:
    upload(page, zorblat_article(tmp_path))
    expect(page.locator("#nd-report")).to_contain_text("added 1 · updated 0")
    expect(page.locator("#nd-articles")).to_contain_text("Zorblat kite festival returns to Tacoma")
    shoot(page, "archive-tab.png")
    page.locator("#nd-search input, #nd-search textarea").first.press_sequentially("zorblat")
    expect(page.locator("#nd-articles")).not_to_contain_text("Moratorium")
    expect(page.locator("#nd-articles")).to_contain_text("Zorblat kite festival")

    page.get_by_role("tab", name="Chat").click()
    ask(page, "When does the Zorblat kite festival return to Tacoma?")
    expect(page.locator("#nd-chat .nd-text").first).to_contain_text("Zorblat")
    expect(page.locator("#nd-sources summary").first).to_contain_text("zorblat.txt")

    open_archive(page)
    page.locator("#nd-remove-choice input").click()
    page.get_by_role("option", name="zorblat.txt", exact=False).click()
    page.locator("#nd-remove").click()
    expect(page.locator("#nd-confirm-text")).to_have_text(
        "Remove “Zorblat kite festival returns to Tacoma this August” (zorblat.txt) from the "
        "archive? Its passages will no longer be searched or cited.")
    page.locator("#nd-confirm-remove").click()
    expect(page.locator("#nd-report")).to_contain_text("Removed zorblat.txt.")
    expect(page.locator("#nd-articles")).not_to_contain_text("Zorblat")
    expect(page.locator("#nd-confirm")).to_be_hidden()


@pytest.mark.browser
def test_upload_errors_are_reported_per_file(page: Page, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    open_archive(page)
    page.locator("#nd-upload input[type=file]").set_input_files(str(broken))
    expect(page.locator("#nd-report .nd-failed")).to_have_text(
        "failed: broken.json: invalid JSON at line 1 column 2: "
        "Expecting property name enclosed in double quotes")


@pytest.mark.browser
def test_uploads_are_limited_by_size_and_type(page: Page, server: str, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 1_300_000, encoding="utf-8")  # 6.5 MB, over the 5 MB default
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4")
    open_archive(page)
    before = re.findall(r"\d+ articles", page.locator("#nd-counts").inner_text())
    page.locator("#nd-upload input[type=file]").set_input_files(str(big))
    expect(page.get_by_text('File(s) exceed the maximum allowed size of 5.0 Mb: "big.txt"')).to_be_visible()
    page.locator("#nd-upload input[type=file]").set_input_files(str(scan))
    expect(page.get_by_text("Invalid file type: scan.pdf.", exact=False)).to_be_visible()
    expect(page.locator("#nd-report")).to_have_text("")
    assert re.findall(r"\d+ articles", page.locator("#nd-counts").inner_text()) == before
    # the server refuses the big file too, whoever sends it
    with big.open("rb") as handle:
        response = httpx.post(server + "gradio_api/upload", files={"files": ("big.txt", handle)},
                              timeout=30)
    assert response.status_code == 413


@pytest.mark.browser
def test_html_in_an_article_shows_as_text(page: Page, tmp_path: Path) -> None:
    upload(page, html_article(tmp_path))
    expect(page.locator("#nd-articles")).to_contain_text(MARKUP_TITLE)
    page.get_by_role("tab", name="Chat").click()
    ask(page, "What did the Quillfeather gala raise money for?")
    expect(page.locator("#nd-chat .nd-text").first).to_contain_text(f"Quillfeather {MARKUP} gala")
    page.locator("#nd-chat button.nd-chip").first.click()
    expect(page.locator("#nd-sources mark").first).to_contain_text(MARKUP)
    shoot(page, "chat-html-as-text.png")
    for where in ("#nd-chat", "#nd-sources", "#nd-articles"):
        assert page.locator(f"{where} b, {where} script").count() == 0
    # the page fixture fails the test if alert(1) ever ran


def test_the_ask_endpoint_works_from_gradio_client(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    answer = client.predict(REKOGNITION, [], {}, api_name="/ask")
    assert answer["text"].startswith(THORN) and not answer["refused"]
    citation = answer["citations"][0]
    assert citation["passage"][citation["start"] - citation["passage_start"]:
                               citation["end"] - citation["passage_start"]] == citation["quote"]
    history = [{"role": "user", "content": REKOGNITION},
               {"role": "assistant", "content": answer["text"]}]
    assert not client.predict("Why?", history, None, api_name="/ask")["refused"]
    only = client.predict(REKOGNITION, [], {"outlets": ["The Daily Dot"]}, api_name="/ask")
    assert {c["outlet"] for c in only["citations"]} == {"The Daily Dot"}
    assert client.predict(REFUSED, api_name="/ask")["refused"]
    assert {a["id"] for a in client.predict(api_name="/articles")} >= {p.name for p in CORPUS.iterdir()}


def test_no_file_outside_the_uploads_is_served(server: str) -> None:
    secret = CORPUS / "000_ca56b235a267ddf0.txt"
    for route in (f"gradio_api/file={secret}", f"file={secret}", "gradio_api/file=/etc/passwd"):
        try:
            with urllib.request.urlopen(server + route, timeout=10) as response:
                body = response.read().decode("utf-8", "replace")
            assert "Rekognition" not in body and "root:" not in body, route
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404), route


def test_a_non_loopback_host_needs_a_login(tmp_path: Path, sample_index: Path) -> None:
    port = free_port()
    exe = Path(sys.executable).with_name("newsdesk")
    done = subprocess.run([str(exe), "serve", "--index-dir", str(sample_index), "--host", "0.0.0.0",
                           "--port", str(port)], cwd=tmp_path, env=server_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "newsdesk: refusing to serve on 0.0.0.0 without a login: anyone who can reach it could "
        "read and change the archive; add --auth USER:PASS (or set NEWSDESK_AUTH), or keep the "
        "default --host 127.0.0.1")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing was started


def test_auth_guards_the_chat_and_the_api(tmp_path: Path, sample_index: Path) -> None:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = newsdesk("serve", "--index-dir", str(sample_index), "--port", str(port),
                       "--auth", "ann:s3cret", cwd=tmp_path, env=server_env(tmp_path))
    try:
        wait_for_http(url, process)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "config", timeout=10)
        assert refused.value.code == 401
        with pytest.raises(ValueError):
            Client(url, auth=("ann", "wrong"), verbose=False)
        client = Client(url, auth=("ann", "s3cret"), verbose=False)
        assert client.predict(REKOGNITION, api_name="/ask")["text"].startswith(THORN)
    finally:
        stop(process)


@pytest.mark.browser
def test_the_empty_chat_offers_questions_made_from_the_archives_headlines(page: Page) -> None:
    buttons = page.locator("#nd-examples button.nd-example")
    expect(buttons.first).to_be_visible()
    questions = buttons.all_inner_texts()
    assert 1 <= len(questions) <= 3
    assert all(q.startswith("What does the archive say about ") for q in questions)
    assert "Rekognition" not in " ".join(questions)  # not the old fixed sample questions
    title = questions[0].removeprefix("What does the archive say about ").removesuffix("?")
    buttons.first.click()
    expect(page.locator("#nd-chat .nd-turn:not(.nd-pending)")).to_have_count(1)
    expect(page.locator("#nd-chat .nd-refused")).to_have_count(0)
    open_archive(page)
    expect(page.locator("#nd-articles")).to_contain_text(title)


@pytest.mark.browser
def test_a_pasted_title_filters_the_archive(page: Page) -> None:
    open_archive(page)
    expect(page.locator("#nd-articles")).to_contain_text("004_5c8df6fe0fbd710e.txt")
    page.evaluate("navigator.clipboard.writeText('moratorium')")
    page.locator("#nd-search input, #nd-search textarea").first.click()
    page.keyboard.press("Control+V")
    expect(page.locator("#nd-articles")).not_to_contain_text("004_5c8df6fe0fbd710e.txt")
    expect(page.locator("#nd-articles")).to_contain_text("Amazon Extends Moratorium")


@pytest.mark.browser
def test_a_removal_can_be_cancelled_and_the_upload_is_listed_first(page: Page,
                                                                    tmp_path: Path) -> None:
    note = write_article(tmp_path, "ferry-note.txt", "An undated note about the Quillby ferry",
                         "The Quillby ferry left late on Monday, its captain said.")
    upload(page, note)
    first_row = page.locator('#nd-articles [role="row"][data-index="0"]')
    expect(first_row).to_contain_text("ferry-note.txt")  # undated, but just added: on top
    page.locator("#nd-remove-choice input").click()
    page.get_by_role("option", name="ferry-note.txt", exact=False).click()
    page.locator("#nd-remove").click()
    expect(page.locator("#nd-confirm-text")).to_contain_text(
        "Remove “An undated note about the Quillby ferry” (ferry-note.txt) from the archive?")
    page.locator("#nd-cancel-remove").click()
    expect(page.locator("#nd-confirm")).to_be_hidden()
    expect(page.locator("#nd-articles")).to_contain_text("ferry-note.txt")  # still there
    page.locator("#nd-remove-choice input").click()
    page.get_by_role("option", name="ferry-note.txt", exact=False).click()
    page.locator("#nd-remove").click()
    page.locator("#nd-confirm-remove").click()
    expect(page.locator("#nd-report")).to_contain_text("Removed ferry-note.txt.")


@pytest.mark.browser
def test_a_refused_upload_clears_the_last_report(page: Page, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    open_archive(page)
    page.locator("#nd-upload input[type=file]").set_input_files(str(broken))
    expect(page.locator("#nd-report .nd-failed")).to_contain_text("failed: broken.json")
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4")
    page.locator("#nd-upload input[type=file]").set_input_files(str(scan))
    expect(page.get_by_text("Invalid file type: scan.pdf.", exact=False)).to_be_visible()
    expect(page.locator("#nd-report")).to_have_text("")
