"""A model-based test of the index (like Chroma's own): a Hypothesis state machine adds,
rewrites, deletes and removes articles, ingests them again, kills the writer part-way and
reopens the index in a fresh process. After every step the catalog, the vectors and the keyword
index hold exactly what a plain Python model says, and `search` finds each live article by a
word unique to it.

`make test` runs a few short examples; `make fuzz` (FUZZ_SCALE=20) runs many more.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, seed, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conftest import settings_for
from newsdesk import Desk
from newsdesk.keyword import chunk_key
from newsdesk.sources import SUPPORTED

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
CI_SEED = 20261201
EXE = Path(sys.executable).with_name("newsdesk")
MAX_ARTICLES = 6
KILL_EVERY, REOPEN_EVERY = 2, 6  # steps between two that start a process, to keep runs short
# Each paragraph (a unique word, then 8 of these) is 140-170 cl100k tokens: one chunk apiece.
FILLER = [
    "The harbour committee met in the old customs house to go over the ferry timetable.",
    "Several residents asked whether the evening crossing could leave a little later on weekdays.",
    "The operator said that its two boats were already running close to their limits in summer.",
    "A new ticket machine will be installed beside the waiting room before the autumn storms.",
    "Members of the committee also discussed repairs to the slipway damaged in the spring.",
    "The harbour master said the work would be paid for from the maintenance fund.",
    "Local shops near the pier reported that visitor numbers had recovered after a quiet winter.",
    "A volunteer group offered to repaint the railings along the promenade at no cost.",
    "The committee agreed to publish the minutes of the meeting on the parish notice board.",
    "Questions about parking near the terminal were passed on to the county highways office.",
    "Fishermen asked for the ice plant on the north quay to open an hour earlier each morning.",
    "The lifeboat crew thanked the town for the donations collected at the summer fair.",
    "A survey of the breakwater found two sections where the stones had shifted in the gales.",
    "Teachers from the primary school plan a visit to the lighthouse with the older pupils.",
    "The café at the end of the pier will stay open on Sundays until the end of October.",
    "Birdwatchers reported a large flock of terns nesting on the shingle spit this year.",
    "The sailing club said its junior regatta had attracted more boats than ever before.",
    "A proposal to light the coastal footpath was sent back for a cheaper design.",
    "The county archive lent old photographs of the harbour for an exhibition in the library.",
    "Drivers were reminded that the lower car park floods at the highest spring tides.",
]
_LETTERS = "bcdfghjklmnpqrstvwxz"


def unique_word(n: int) -> str:
    """A made-up word no filler holds, kept whole by the stemmer: qz…vk."""
    code = ""
    while True:
        n, digit = divmod(n, len(_LETTERS))
        code += _LETTERS[digit]
        if n == 0:
            return f"qz{code}vk"


@dataclass(frozen=True)
class Version:
    """One text of an article: its unique word and how many paragraphs (= chunks) it has."""

    word: str
    paragraphs: int

    def text(self) -> str:
        rng = random.Random(self.word)
        return "".join(
            f"The {self.word} proposal came up again at the meeting. "
            + " ".join(rng.sample(FILLER, 8)) + "\n\n" for _ in range(self.paragraphs))


_DUMP = """
import json, sys
from newsdesk import Desk
index, words = sys.argv[1], json.loads(sys.argv[2])
report = Desk.check(index)
with Desk.open(index) as desk:
    articles = {a.id: [a.chunks, desk.archive.catalog.article(a.id).article.text]
                for a in desk.articles()}
    found = {w: [p.source for p in desk.search(w, k=20)] for w in words}
print(json.dumps({"findings": [f.problem for f in report.findings], "passages": report.passages,
                  "vectors": report.vectors, "keyword": report.keyword, "articles": articles,
                  "found": found}))
"""


STATS: Counter[str] = Counter()  # what ran, written to tests/artifacts/index-model.json
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _record(what: str) -> None:
    STATS[what] += 1
    if currently_in_test_context():
        event(what)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "index-model.json").write_text(json.dumps(dict(sorted(STATS.items())), indent=1))


def _pick(articles: dict[str, Version], which: int) -> str:
    return sorted(articles)[which % len(articles)]


class IndexModel(RuleBasedStateMachine):
    """The index against a dict: article id -> Version, for the files and for the index."""

    @initialize()
    def start(self) -> None:
        _record("examples")
        self.root = Path(tempfile.mkdtemp(prefix="newsdesk-model-"))
        self.folder = self.root / "news"
        self.folder.mkdir()
        self.index = self.root / "index"
        self.disk: dict[str, Version] = {}  # the files in the folder
        self.indexed: dict[str, Version] = {}  # what the index must hold
        self.words = 0
        self.since_kill = self.since_reopen = 0  # steps since the last of each (3-7 s apiece)
        self.desk: Desk | None = self._open()

    def teardown(self) -> None:
        if getattr(self, "desk", None) is not None:
            self.desk.close()
        if hasattr(self, "root"):
            shutil.rmtree(self.root, ignore_errors=True)

    def _open(self) -> Desk:
        """The index opened for writing, as every writer opens it (repairing a killed write)."""
        return Desk.open(settings=settings_for(self.index), create=True)

    def _version(self, paragraphs: int) -> Version:
        self.words += 1
        return Version(unique_word(self.words), paragraphs)

    def _write(self, article: str, version: Version) -> None:
        (self.folder / article).write_text(version.text(), encoding="utf-8")
        self.disk[article] = version

    # -- changing the files -----------------------------------------------------------------
    @precondition(lambda self: len(self.disk) < MAX_ARTICLES)
    @rule(paragraphs=st.integers(1, 4))
    def add_file(self, paragraphs: int) -> None:
        _record("add_file")
        self._write(f"story-{self.words:03d}.txt", self._version(paragraphs))

    @precondition(lambda self: self.disk)
    @rule(which=st.integers(0, 999), paragraphs=st.integers(1, 4))
    def rewrite_file(self, which: int, paragraphs: int) -> None:
        _record("rewrite_file")
        self._write(_pick(self.disk, which), self._version(paragraphs))

    @precondition(lambda self: self.disk)
    @rule(which=st.integers(0, 999))
    def delete_file(self, which: int) -> None:
        _record("delete_file")
        article = _pick(self.disk, which)
        (self.folder / article).unlink()
        del self.disk[article]

    # -- writing the index ------------------------------------------------------------------
    def _pending(self) -> bool:
        """Whether an ingest with --prune has anything to change."""
        return self._after_ingest(prune=True) != self.indexed

    @precondition(lambda self: self._pending())
    @rule(prune=st.booleans())
    def ingest(self, prune: bool) -> None:
        self._ingest(prune)

    @precondition(lambda self: not self._pending())
    @rule(prune=st.booleans())
    def ingest_again_unchanged(self, prune: bool) -> None:
        self._ingest(prune)

    def _ingest(self, prune: bool) -> None:
        assert self.desk is not None
        report = self.desk.ingest([self.folder], prune=prune)
        assert [f.reason for f in report.failed] == ([] if self.disk else [
            f"no supported files in this folder ({', '.join(SUPPORTED)})"])
        _record("ingest: wrote chunks" if report.chunks else "ingest: nothing to embed")
        before = self.indexed
        assert set(report.added) == {a for a in self.disk if a not in before}
        assert set(report.updated) == {a for a in self.disk if a in before and before[a] != self.disk[a]}
        assert set(report.unchanged) == {a for a in self.disk if before.get(a) == self.disk[a]}
        self.indexed = self._after_ingest(prune)
        assert set(report.removed) == set(before) - set(self.indexed)

    def _after_ingest(self, prune: bool) -> dict[str, Version]:
        kept = {} if prune else {a: v for a, v in self.indexed.items() if a not in self.disk}
        return kept | self.disk

    @precondition(lambda self: self.indexed)
    @rule(which=st.integers(0, 999))
    def remove(self, which: int) -> None:
        _record("remove")
        assert self.desk is not None
        article = _pick(self.indexed, which)
        assert self.desk.remove([article]) == [article]
        del self.indexed[article]

    @precondition(lambda self: self.since_kill >= KILL_EVERY and self._pending())
    @rule(delay=st.floats(0.0, 0.6), prune=st.booleans())
    def killed_ingest(self, delay: float, prune: bool) -> None:
        """`newsdesk ingest` in another process, SIGKILLed `delay` seconds after it starts
        writing (if still running; its writes take a few tenths of a second): each article then
        holds its old version or its new one, never a mix, and the next ingest completes the
        index to what an uninterrupted run gives. (Which of the allowed states the kill left is
        a matter of timing, so the model goes on from the completed one: Hypothesis needs each
        example to run the same way every time.)"""
        assert self.desk is not None
        self.since_kill = 0
        self.desk.close()
        self.desk = None
        command = [str(EXE), "ingest", str(self.folder), "--index-dir", str(self.index)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
        process = subprocess.Popen(command + (["--prune"] if prune else []), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_for_writing(process)
        try:
            process.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            finished = False
        target = self._after_ingest(prune)
        self.desk = self._open()
        if finished:
            # 1: nothing to ingest and nothing removed (the folder holds no file)
            assert process.returncode == (0 if self.disk or (prune and self.indexed) else 1)
            _record("killed_ingest: finished before the kill" + (
                "" if target != self.indexed else ", with nothing to write"))
            self.indexed = target
            return
        found = self._catalog_versions()
        for article in set(found) | set(self.indexed) | set(target):
            assert found.get(article) in (self.indexed.get(article), target.get(article)), article
        _record("killed_ingest: killed, " + (
            "with nothing to write" if target == self.indexed else
            "before its first commit" if found == self.indexed else
            "after its last commit" if found == target else "between two commits"))
        self.index_holds_exactly_the_model(found)  # whole, at one of the allowed states
        self.indexed = found
        self._ingest(prune)  # the next run completes it, reporting what was still missing
        assert self.indexed == target

    def _wait_for_writing(self, process: subprocess.Popen[bytes]) -> None:
        """Until the process writes its first catalog row (SQLite's write-ahead log, created
        empty when the catalog opens, grows) or ends; nothing else has the catalog open."""
        log = self.index / "catalog.sqlite-wal"
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if log.exists() and log.stat().st_size > 0:
                return
            time.sleep(0.002)

    def _catalog_versions(self) -> dict[str, Version]:
        """Which of the versions written so far each indexed article holds."""
        assert self.desk is not None
        known = {v.word: v for v in (*self.indexed.values(), *self.disk.values())}
        out: dict[str, Version] = {}
        for info in self.desk.articles():
            stored = self.desk.archive.catalog.article(info.id)
            assert stored is not None
            words = [w for w in known if w in stored.article.text]
            assert len(words) == 1, (info.id, words)
            out[info.id] = known[words[0]]
        return out

    @precondition(lambda self: self.since_reopen >= REOPEN_EVERY)
    @rule()
    def reopen_in_a_fresh_process(self) -> None:
        _record("reopen_in_a_fresh_process")
        assert self.desk is not None
        self.since_reopen = 0
        self.desk.close()
        self.desk = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
        words = [v.word for v in self.indexed.values()]
        done = subprocess.run([sys.executable, "-c", _DUMP, str(self.index), json.dumps(words)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["findings"] == []
        chunks = sum(v.paragraphs for v in self.indexed.values())
        assert seen["passages"] == seen["vectors"] == seen["keyword"] == chunks
        assert {a: n for a, (n, _) in seen["articles"].items()} == {
            a: v.paragraphs for a, v in self.indexed.items()}
        for article, version in self.indexed.items():
            assert version.word in seen["articles"][article][1]
            assert set(seen["found"][version.word]) == {article}
        self.desk = self._open()

    # -- what must hold after every step ----------------------------------------------------
    @invariant()
    def after_every_step(self) -> None:
        if getattr(self, "desk", None) is None:
            return
        _record("checks (after every step)")
        self.since_kill += 1
        self.since_reopen += 1
        self.index_holds_exactly_the_model(self.indexed)

    def index_holds_exactly_the_model(self, model: dict[str, Version]) -> None:
        """Catalog, vectors and keyword index hold exactly the model's articles and chunks."""
        assert self.desk is not None
        archive = self.desk.archive
        assert self._catalog_versions() == model
        assert {a.id: a.chunks for a in self.desk.articles()} == {
            a: v.paragraphs for a, v in model.items()}
        chunk_ids = archive.catalog.all_chunk_ids()
        assert {cid.rsplit("#", 1)[0] for cid in chunk_ids} == set(model)
        assert len(chunk_ids) == sum(v.paragraphs for v in model.values())
        assert archive.vectors.ids() == chunk_ids and archive.vectors.count() == len(chunk_ids)
        keyword = archive.keyword()
        assert keyword.held_keys() == {chunk_key(rid, cid) for rid, _, cid in archive.catalog.chunk_keys()}
        assert keyword.documents == len(chunk_ids)

    @invariant()
    def search_finds_each_article_by_its_word(self) -> None:
        if getattr(self, "desk", None) is None:
            return
        for article, version in self.indexed.items():
            passages = self.desk.search(version.word, k=10)
            assert passages and passages[0].source == article
            assert {p.source for p in passages} == {article}
            assert len(passages) == version.paragraphs


if SCALE == 1:  # `make test`: the same examples every run (the seed gives ones that kill writers)
    IndexModel = seed(CI_SEED)(IndexModel)
IndexModel.TestCase.settings = settings(
    max_examples=6 * SCALE, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestIndexModel = pytest.mark.slow(IndexModel.TestCase)


@pytest.mark.slow
def test_a_writer_killed_as_it_writes_and_a_fresh_process_see_the_model() -> None:
    """The state machine's rules in a fixed order, so that every run kills a writer while it
    writes and reopens the index in a fresh process, whatever the examples above drew."""
    machine = IndexModel()

    def step(rule: Callable[..., None], *args: object) -> None:
        rule(*args)
        machine.after_every_step()
        machine.search_finds_each_article_by_its_word()

    try:
        step(machine.start)
        for paragraphs in (3, 1, 2):
            step(machine.add_file, paragraphs)
        step(machine.ingest, False)
        step(machine.rewrite_file, 0, 4)
        step(machine.delete_file, 1)
        step(machine.add_file, 2)
        step(machine.killed_ingest, 0.05, True)  # killed 50 ms after it starts writing
        step(machine.ingest_again_unchanged, True)
        step(machine.remove, 0)
        step(machine.rewrite_file, 0, 1)
        step(machine.ingest, False)
        step(machine.reopen_in_a_fresh_process)
    finally:
        machine.teardown()
