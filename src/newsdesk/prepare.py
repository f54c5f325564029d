"""Files → cleaned, chunked articles: the CPU-heavy half of ingest, run here or in helpers.

Big ingests hand this work to helper processes while the main process embeds and writes.
This module imports nothing heavy, so helpers start quickly.
"""

from __future__ import annotations

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
from typing import IO

from newsdesk import keyword
from newsdesk.chunk import Chunker
from newsdesk.clean import clean, load_rules
from newsdesk.errors import ArticleError, NewsdeskError
from newsdesk.printable import printable
from newsdesk.sources import Candidate, parse
from newsdesk.types import Article, Chunk, Failure

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Work:
    """A file to prepare: its bytes and their fingerprint."""

    candidate: Candidate
    fingerprint: str
    data: bytes


@dataclass(slots=True)
class FileResult:
    """What preparing a file gave."""

    candidate: Candidate
    fingerprint: str
    articles: list[tuple[Article, list[Chunk], str]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # keyword tokens of each chunk, in order
    failures: list[Failure] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@cache
def _chunker(max_tokens: int) -> Chunker:
    return Chunker(max_tokens)


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
    rules = load_rules()
    result = FileResult(work.candidate, work.fingerprint)
    try:
        parsed = parse(work.candidate, work.data)
    except ArticleError as exc:
        result.failures.append(Failure(exc.path, exc.reason))
        return result
    result.failures += parsed.failures
    result.notices += parsed.notices
    for record in parsed.records:
        known = {key: printable(value) for key, value in record.known.items()}
        cleaned = clean(printable(record.text), rules, known)
        where = str(work.candidate.path) + (record.id[len(work.candidate.rel):] or "")
        if not cleaned.text.strip():
            result.failures.append(Failure(where, "no article text left after removing boilerplate"))
            continue
        if record.known.get("date") and not cleaned.date:
            result.notices.append(f"{where}: date {record.known['date']!r} not understood; left empty")
        article = Article(record.id, cleaned.text, cleaned.title, cleaned.outlet, cleaned.author,
                          cleaned.date, record.known.get("url", ""))
        result.articles.append(
            (article, _chunker(max_tokens).chunks(article.id, article.text), fingerprint(article)))
    texts = [c.text for _, chunks, _ in result.articles for c in chunks]
    result.tokens = [" ".join(words) for words in keyword.tokenize(texts)] if texts else []
    return result


def fingerprint(article: Article) -> str:
    """What an article's content hashes to; equal fingerprints need no re-embedding."""
    digest = hashlib.blake2b(digest_size=12)
    for value in (article.text, article.title, article.outlet, article.author, article.date,
                  article.url):
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

    def map(self, works: Iterable[Work], max_tokens: int, window: int) -> Iterator[FileResult]:
        """Results in the order of `works` (dealt round-robin), at most `window` files in
        flight. Threads feed and drain the pipes so that no helper waits on a full pipe while
        this process embeds."""
        slots = threading.Semaphore(window)
        lanes: list[queue.Queue[FileResult | BaseException | None]] = [
            queue.Queue() for _ in self._processes]
        failures: queue.Queue[BaseException] = queue.Queue()

        def feed() -> None:
            pipes: list[IO[bytes]] = [p.stdin for p in self._processes if p.stdin is not None]
            try:
                for i, work in enumerate(works):
                    slots.acquire()
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
            slots.release()
            yield item


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
