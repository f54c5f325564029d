"""A fuzz pass over the readers: random bytes, mutated real files and made-up structures in
every supported format. No crash, no hang (a time bound per file), every failure a per-file
error naming the file.

Each suffix in `newsdesk.sources.SUPPORTED` is fuzzed, so a reader added later (the WARC and
feed readers are on their way) is covered as soon as its suffix is listed. Give it seeds to
mutate: files with its suffix anywhere under tests/data/ are used, and a generator of valid
documents can be added to GENERATORS below. `make test` runs a bounded pass; `make fuzz`
(FUZZ_SCALE=20) a longer one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, DATA
from newsdesk.prepare import Work, prepare
from newsdesk.sources import STREAMED, SUPPORTED, Candidate

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
TIME_BOUND = 10.0  # seconds for one file of at most 64 KB; a normal one takes milliseconds
MAX_TOKENS = 256
MAX_BYTES = 5 * 1024 * 1024  # the default NEWSDESK_MAX_FILE_MB


def _seeds(suffix: str) -> list[bytes]:
    """Real files of the format, to mutate."""
    files = sorted(p for root in (DATA, CORPUS) for p in root.rglob(f"*{suffix}") if p.is_file())
    return [p.read_bytes()[:65536] for p in files]


# -- made-up documents of each format ------------------------------------------------------
_words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _words,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["text", "title", "date", "url", "publisher", "author", "x"]) | _words,
        inner, max_size=5), max_leaves=20)
_TAGS = ["html", "head", "body", "title", "meta", "article", "p", "div", "span", "script",
         "style", "h1", "a", "table", "tr", "td", "br", "!--", "![CDATA[", "?xml", "svg", "iframe"]


@st.composite
def _html(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        tag = draw(st.sampled_from(_TAGS))
        attrs = draw(st.sampled_from(["", ' class="x"', ' content="2021-13-45"',
                                      ' property="og:title" content="', " lang=zh"]))
        parts.append(draw(st.sampled_from([f"<{tag}{attrs}>", f"</{tag}>", draw(_words),
                                           "&amp;&#0;&#x110000;&bogus;"])))
    return "".join(parts)


@st.composite
def _markdown(draw: st.DrawFn) -> str:
    pieces = ["---\ntitle: x\ndate: ", "---\n", "# ", "> " * 30, "- ", "1. ", "```\n", "    ",
              "[a](b)", "![i](", "*", "_", "|a|b|\n|-|-|\n", "<div>", "\\", "\n\n", "---"]
    return "".join(draw(st.lists(st.sampled_from(pieces) | _words, max_size=40)))


GENERATORS: dict[str, st.SearchStrategy[bytes]] = {
    ".json": _json.map(lambda v: json.dumps(v).encode()),
    ".jsonl": st.lists(_json.map(json.dumps) | _words, max_size=8).map(
        lambda lines: "\n".join(lines).encode()),
    ".html": _html().map(str.encode),
    ".htm": _html().map(str.encode),
    ".md": _markdown().map(str.encode),
    ".markdown": _markdown().map(str.encode),
    ".txt": _words.map(str.encode),
}


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes flipped, inserted, deleted, repeated or cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "cut"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at:at + 256] * draw(st.integers(2, 20))
        else:
            del data[at:]
    return bytes(data[:65536])


def _inputs(suffix: str) -> st.SearchStrategy[bytes]:
    seeds = _seeds(suffix)
    made = GENERATORS.get(suffix, st.nothing())
    return st.one_of(st.binary(max_size=4096), made, *([_mutated(seeds)] if seeds else []))


def _read(tmp: Path, suffix: str, data: bytes) -> None:
    """Prepare one file as ingest does and check that the outcome is an orderly one."""
    path = tmp / f"fuzzed{suffix}"
    candidate = Candidate(path, tmp, path.name)
    streamed = suffix in STREAMED  # a web archive is read from its file, page by page
    if streamed:
        path.write_bytes(data)
    started = time.perf_counter()
    result = prepare(Work(candidate, "f" * 32, b"" if streamed else data, MAX_BYTES, len(data)),
                     MAX_TOKENS)
    took = time.perf_counter() - started
    assert took < TIME_BOUND, f"{len(data)} bytes of {suffix} took {took:.1f} s"
    for failure in result.failures:
        assert failure.path.startswith(str(path)) and failure.reason.strip(), failure
        assert not failure.reason.startswith("internal error"), failure  # an unforeseen exception
    for article, chunks, _ in result.articles:
        assert article.text.strip() and chunks
        for chunk in chunks:
            assert chunk.text == article.text[chunk.start:chunk.end] and chunk.text.strip()
    assert len(result.tokens) == sum(len(chunks) for _, chunks, _ in result.articles)


def _fuzz(suffix: str) -> Callable[..., None]:
    @settings(max_examples=60 * SCALE, deadline=None, derandomize=SCALE == 1,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(data=_inputs(suffix))
    @example(data=b"[" * 100_000 + b"]" * 100_000)  # nested past the interpreter's recursion limit
    @example(data=b"<div>" * 50_000)
    @example(data=b"<svg>html")  # found by this test: htmldate's lxml drop_tree assertion
    @example(data=b"> " * 20_000 + b"deep quote")
    @example(data=b"{\"text\": \"" + b"a" * 60_000 + b"\"}")
    @example(data="\ufeff\u202e\u0000".encode() + b"\xff\xfe")
    def test(tmp_path: Path, data: bytes) -> None:
        _read(tmp_path, suffix, data)

    return test


for _suffix in SUPPORTED:
    globals()[f"test_fuzz_{_suffix.lstrip('.')}_reader"] = _fuzz(_suffix)
