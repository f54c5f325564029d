"""Files → cleaned, chunked articles: the CPU-heavy half of ingest, run here or in helpers.

Big ingests hand this work to helper processes while the main process embeds and writes.
This module imports nothing heavy, so helpers start quickly.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import logging
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO

from newsdesk.chunk import Chunker
from newsdesk.clean import Cleaned, clean, load_rules
from newsdesk.errors import ArticleError, NewsdeskError
from newsdesk.language import detect
from newsdesk.printable import printable
from newsdesk.sources import STREAMED, Candidate, Parsed, Record, parse, read_bytes, suffix
from newsdesk.tokens import tokenize
from newsdesk.types import Article, Chunk, Failure

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Work:
    """A file to prepare: its bytes (empty for a web archive, read from its path) and their
    fingerprint, and the most bytes one page of a web archive may have."""

    candidate: Candidate
    fingerprint: str
    data: bytes
    max_bytes: int
    size: int = 0  # the bytes this work holds in memory or reads, for the in-flight bound


@dataclass(slots=True)
class FileResult:
    """What preparing a file gave."""

    candidate: Candidate
    fingerprint: str
    articles: list[tuple[Article, list[Chunk], str]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # keyword tokens of each chunk, in order
    failures: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    not_articles: list[Failure] = field(default_factory=list)  # navigation pages, with why


@cache
def _chunker(max_tokens: int) -> Chunker:
    return Chunker(max_tokens)


@dataclass(frozen=True, slots=True)
class Reading:
    """One record of a file as ingest reads it: the record, its cleaned text (None for a
    navigation page), and the article, or why there is none."""

    record: Record
    cleaned: Cleaned | None
    article: Article | None
    reason: str = ""


def read(candidate: Candidate, data: bytes, max_bytes: int) -> tuple[Parsed, list[Reading]]:
    """Parse a file and clean each of its records (raises ArticleError for a file that cannot
    be read at all)."""
    parsed = parse(candidate, data, max_bytes)
    return parsed, [_reading(record) for record in parsed.records]


def explain(path: Path, max_bytes: int) -> tuple[list[Failure], list[Reading]]:
    """What ingesting one file would index, record by record, and what could not be read."""
    candidate = Candidate(path, path.parent.resolve(), path.name)
    try:
        data = b"" if suffix(path) in STREAMED else read_bytes(candidate, max_bytes)
        parsed, readings = read(candidate, data, max_bytes)
    except ArticleError as exc:
        return [Failure(exc.path, exc.reason)], []
    return parsed.failures, readings


def _reading(record: Record) -> Reading:
    if record.navigation:
        return Reading(record, None, None, record.navigation)
    known = {key: printable(value) for key, value in record.known.items()}
    cleaned = clean(printable(record.text), load_rules(), known, record.headings,
                    labels=not record.extracted)
    if not cleaned.text.strip():
        return Reading(record, cleaned, None, (
            f"no article text left after removing boilerplate ({len(cleaned.removed)} lines "
            "removed; `newsdesk ingest --explain FILE` shows which rules removed them)"))
    return Reading(record, cleaned, Article(
        record.id, cleaned.text, cleaned.title, cleaned.outlet, cleaned.author, cleaned.date,
        known.get("url", ""), detect(cleaned.text)))


def prepare(work: Work, max_tokens: int) -> FileResult:
    """Parse, clean and chunk one file, and compute its chunks' keyword tokens. An exception
    nobody foresaw becomes the file's failure ("internal error: ..."; its traceback is logged
    at INFO, `-v`), so that one file never stops a run."""
    try:
        return _prepare(work, max_tokens)
    except Exception as exc:  # a bug or a parser's surprise on hostile input: this file only
        log.info("preparing %s failed", work.candidate.path, exc_info=True)
        return FileResult(work.candidate, work.fingerprint, failures=[
            Failure(str(work.candidate.path), f"internal error: {exc!r}")])


def _prepare(work: Work, max_tokens: int) -> FileResult:
    result = FileResult(work.candidate, work.fingerprint)
    try:
        parsed, readings = read(work.candidate, work.data, work.max_bytes)
    except ArticleError as exc:
        result.failures.append(Failure(exc.path, exc.reason))
        return result
    result.failures += parsed.failures
    result.notices += parsed.notices
    for reading in readings:
        record, article = reading.record, reading.article
        where = record.where or str(work.candidate.path)
        if article is None:
            lost = result.not_articles if record.navigation else result.failures
            lost.append(Failure(where, reading.reason))
            continue
        if record.known.get("date") and not article.date:
            result.notices.append(f"{where}: date {record.known['date']!r} not understood; left empty")
        chunks = _chunker(max_tokens).chunks(article.id, article.text, article.language)
        result.articles.append((article, chunks, fingerprint(article)))
    texts = [c.text for _, chunks, _ in result.articles for c in chunks]
    result.tokens = [" ".join(words) for words in tokenize(texts)] if texts else []
    return result


def fingerprint(article: Article) -> str:
    """What an article's content hashes to; equal fingerprints need no re-embedding."""
    digest = hashlib.blake2b(digest_size=12)
    for value in (article.text, article.title, article.outlet, article.author, article.date,
                  article.url, article.language):
        digest.update(value.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class Helpers:
    """Python processes that parse, clean and chunk while this one embeds and writes.

    Plain subprocesses speaking pickle over their pipes: unlike multiprocessing's spawn, they
    never re-import the caller's __main__ (a script without a main guard would run twice), and
    unlike fork they inherit no threads of Chroma or the tokenizer.
    """

    def __init__(self, count: int) -> None:
        # In a process group of their own, helpers do not get the terminal's Ctrl-C (and print
        # no KeyboardInterrupt of their own): this process stops them when it is interrupted.
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-c", "from newsdesk.prepare import serve; serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, process_group=0)
            for _ in range(count)]

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.wait()

    def map(self, works: Iterable[Work], max_tokens: int, budget: int) -> Iterator[FileResult]:
        """Results in the order of `works` (dealt round-robin), with at most `budget` bytes of
        files handed out and not yet taken back as results (a file larger than that goes
        alone). Threads feed and drain the pipes so that no helper waits on a full pipe while
        this process embeds."""
        in_flight = _Budget(budget)
        sizes: collections.deque[int] = collections.deque()
        lanes: list[queue.Queue[FileResult | BaseException | None]] = [
            queue.Queue() for _ in self._processes]
        failures: queue.Queue[BaseException] = queue.Queue()

        def feed() -> None:
            pipes: list[IO[bytes]] = [p.stdin for p in self._processes if p.stdin is not None]
            try:
                for i, work in enumerate(works):
                    in_flight.acquire(work.size)
                    sizes.append(work.size)
                    pipe = pipes[i % len(pipes)]
                    pickle.dump((work, max_tokens), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                    pipe.flush()
                for pipe in pipes:
                    pickle.dump(None, pipe)
                    pipe.close()
            except BaseException as exc:  # handed to the consuming side
                failures.put(exc)
                for process in self._processes:
                    process.kill()

        def drain(process: subprocess.Popen[bytes],
                  lane: queue.Queue[FileResult | BaseException | None]) -> None:
            try:
                while (result := pickle.load(process.stdout)) is not None:  # type: ignore[arg-type]
                    lane.put(result)
                lane.put(None)
            except EOFError:
                lane.put(failures.get() if not failures.empty() else NewsdeskError(
                    "an ingest helper process stopped unexpectedly (exit status "
                    f"{process.wait()}); see the messages above"))

        threading.Thread(target=feed, name="newsdesk-ingest-feed", daemon=True).start()
        for process, lane in zip(self._processes, lanes, strict=True):
            threading.Thread(target=drain, args=(process, lane), name="newsdesk-ingest-drain",
                             daemon=True).start()
        for i in itertools.count():
            item = lanes[i % len(lanes)].get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            in_flight.release(sizes.popleft())
            yield item


class _Budget:
    """A bound on the bytes in flight: taking more waits until enough is given back; a piece
    larger than the whole bound is taken when nothing else is in flight."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> None:
        """Wait until `size` bytes fit, then take them."""
        with self._changed:
            self._changed.wait_for(lambda: self._used == 0 or self._used + size <= self._limit)
            self._used += size

    def release(self, size: int) -> None:
        """Give `size` bytes back."""
        with self._changed:
            self._used -= size
            self._changed.notify_all()


def serve() -> None:
    """The helper's loop: (work, max_tokens) in, FileResult out, until None (or until the
    ingest that started it is gone)."""
    # EOFError, BrokenPipeError: the ingest stopped (interrupted or killed); nothing is left to do
    with contextlib.suppress(EOFError, BrokenPipeError):
        _serve(sys.stdin.buffer, sys.stdout.buffer)


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    while (message := pickle.load(stdin)) is not None:
        work, max_tokens = message
        pickle.dump(prepare(work, max_tokens), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()
    pickle.dump(None, stdout)
    stdout.flush()
