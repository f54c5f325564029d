"""Files → cleaned articles with metadata → chunks → vectors, written incrementally."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from newsdesk.archive import Archive, Prepared, embed_chunks
from newsdesk.catalog import StoredArticle
from newsdesk.clean import load_rules
from newsdesk.embed import Embedder
from newsdesk.errors import ArticleError
from newsdesk.prepare import FileResult, Helpers, Work, prepare
from newsdesk.sources import STREAMED, Candidate, discover, read_bytes, suffix
from newsdesk.types import Failure, IngestReport

log = logging.getLogger(__name__)

# Bump when reading, cleaning or chunking code changes what an unchanged file produces.
# 3: sentence splitter and keyword analyser by language; 4: control characters and terminal
# escapes removed
PIPELINE_VERSION = "4"
_BATCH_CHUNKS = 4096
_PARALLEL_FROM = 200  # files to prepare before a helper process pays for its start-up
# Bytes of files read and not yet written: what bounds ingest's memory, whatever the file sizes
# (a count of files did not: 260 saved pages of 2.9 MB were all held at once, 760 MB). 32 MB is
# ten such pages, more than the two helpers take in the time one batch is embedded.
BYTES_IN_FLIGHT = 32 * 1024 * 1024
_HELPERS = 2
_TOKEN_CACHE_LIMIT = 2_000_000  # chunks; past this, keyword tokens are recomputed at the end


class Ingestor:
    """One ingest run over files and folders into an archive opened for writing."""

    def __init__(self, archive: Archive, embedder: Embedder, max_file_bytes: int) -> None:
        self.archive = archive
        self.embedder = embedder
        self.max_file_bytes = max_file_bytes
        self._max_tokens = archive.manifest.chunk_tokens
        salt = f"{PIPELINE_VERSION}|{load_rules().fingerprint}|{self._max_tokens}".encode()
        self._salt = salt

    def run(self, paths: Sequence[Path], *, prune: bool = False,
            progress: bool = False) -> IngestReport:
        """Ingest; a bad file is reported and the rest goes on. See IngestReport."""
        started = time.perf_counter()
        report = IngestReport()
        found = discover(paths)
        report.skipped += found.skipped
        report.failed += found.failed
        present: dict[str, str] = {}  # article id -> the file (key) it came from in this run
        self._tokens: dict[str, str] = {}
        with self.archive.writing():
            try:
                works = self._changed_files(found.candidates, report, present, progress)
                for batch in _batches(self._prepared(works), _BATCH_CHUNKS):
                    self._write_batch(batch, report, present)
                if prune:
                    self._prune(found.roots, present, report)
                self.archive.finish_writing(self._tokens)
            finally:
                self._tokens = {}
        report.seconds = time.perf_counter() - started
        return report

    def _changed_files(self, candidates: Sequence[Candidate], report: IngestReport,
                       present: dict[str, str], progress: bool) -> Iterator[Work]:
        """Read each file; files identical to their last ingest are settled here."""
        from tqdm import tqdm

        catalog = self.archive.catalog
        for candidate in tqdm(candidates, desc="ingest", unit="file", disable=not progress,
                              delay=1.0, leave=False):
            record = catalog.file_record(candidate.key)
            try:
                work = self._read(candidate)
            except ArticleError as exc:
                report.failed.append(Failure(exc.path, exc.reason))
                self._keep_previous(candidate.key, present)
                continue
            if record is not None and record.fingerprint == work.fingerprint:
                report.unchanged += record.articles
                present.update(dict.fromkeys(record.articles, candidate.key))
                continue
            yield work

    def _read(self, candidate: Candidate) -> Work:
        """A file's bytes and fingerprint; a web archive is only hashed here, read in a helper."""
        digest = hashlib.blake2b(digest_size=16)
        if suffix(candidate.path) not in STREAMED:
            data = read_bytes(candidate, self.max_file_bytes)
            digest.update(data + self._salt)
            return Work(candidate, digest.hexdigest(), data, self.max_file_bytes, len(data))
        try:
            with open(candidate.path, "rb") as stream:
                while block := stream.read(1 << 20):
                    digest.update(block)
            size = candidate.path.stat().st_size
        except OSError as exc:
            raise ArticleError(str(candidate.path), f"cannot be read: {exc.strerror}") from exc
        digest.update(self._salt)
        return Work(candidate, digest.hexdigest(), b"", self.max_file_bytes, size)

    def _prepared(self, works: Iterator[Work]) -> Iterator[FileResult]:
        """Prepare files in order: in this process for small jobs, beside it for big ones."""
        first: list[Work] = []
        held = 0
        for work in works:
            first.append(work)
            held += work.size
            if len(first) >= _PARALLEL_FROM or held >= BYTES_IN_FLIGHT:
                break
        else:
            yield from (prepare(work, self._max_tokens) for work in _handed_out(first, works))
            return
        with Helpers(_HELPERS) as helpers:
            yield from helpers.map(_handed_out(first, works), self._max_tokens, BYTES_IN_FLIGHT)

    def _write_batch(self, results: list[FileResult], report: IngestReport,
                     present: dict[str, str]) -> None:
        items: list[Prepared] = []
        files: list[tuple[str, str, str, Sequence[str]]] = []
        gone: list[str] = []  # records a file no longer has (deleted from a feed, say)
        for result in results:
            if len(self._tokens) < _TOKEN_CACHE_LIMIT:
                chunk_ids = (c.id for _, chunks, _ in result.articles for c in chunks)
                self._tokens.update(zip(chunk_ids, result.tokens, strict=False))
            ids = self._classify(result, items, report, present)
            report.failed += result.failures
            report.notices += result.notices
            report.not_articles += result.not_articles
            if result.failures:  # keep what the file gave before; it is parsed again next run
                self._keep_previous(result.candidate.key, present)
            else:
                files.append((result.candidate.key, str(result.candidate.root),
                              result.fingerprint, ids))
                kept = set(ids)
                gone += [a for a in self.archive.catalog.article_ids_from_file(result.candidate.key)
                         if a not in kept and a not in present]
        vectors = embed_chunks(self.embedder, items)
        self.archive.write(items, vectors, files, gone)
        report.chunks += len(vectors)
        report.removed += gone

    def _classify(self, result: FileResult, items: list[Prepared], report: IngestReport,
                  present: dict[str, str]) -> list[str]:
        """Sort a file's articles into added / updated / unchanged; refuse id clashes."""
        key = result.candidate.key
        states = self.archive.catalog.article_states(a.id for a, _, _ in result.articles)
        ids: list[str] = []
        for article, chunks, fingerprint in result.articles:
            owner = present.get(article.id) or (states[article.id][1] if article.id in states else key)
            if owner != key and (article.id in present or Path(owner).exists()):
                result.failures.append(Failure(
                    str(result.candidate.path),
                    f"article id {article.id} is already taken by {owner}; "
                    "ingest folders with distinct file names, or remove the other article first"))
                continue
            present[article.id] = key
            ids.append(article.id)
            state = states.get(article.id)
            if state is not None and state[0] == fingerprint and state[1] == key:
                report.unchanged.append(article.id)
                continue
            (report.updated if state is not None else report.added).append(article.id)
            stored = StoredArticle(article, key, str(result.candidate.root), fingerprint)
            items.append(Prepared(stored, chunks))
        return ids

    def _keep_previous(self, key: str, present: dict[str, str]) -> None:
        """A file that failed keeps the articles it gave before (nothing indexed is lost)."""
        for article_id in self.archive.catalog.article_ids_from_file(key):
            present.setdefault(article_id, key)

    def _prune(self, roots: Sequence[Path], present: dict[str, str], report: IngestReport) -> None:
        gone = sorted({aid for root in roots for aid in self.archive.catalog.article_ids_under(str(root))}
                      - set(present))
        if gone:
            self.archive.remove(gone)
            report.removed += gone


def _handed_out(first: list[Work], rest: Iterator[Work]) -> Iterator[Work]:
    """The works read ahead, then the rest; each read-ahead one is let go as it is handed out
    (a chain over the list would hold them all to the end of the run)."""
    first.reverse()
    while first:
        yield first.pop()
    yield from rest


def _batches(results: Iterable[FileResult], max_chunks: int) -> Iterator[list[FileResult]]:
    """Group prepared files so that each write carries about max_chunks chunks; the first
    writes are smaller, so that embedding starts while the helpers are still warming up."""
    batch: list[FileResult] = []
    size = 0
    limit = min(256, max_chunks)
    for result in results:
        batch.append(result)
        size += sum(len(chunks) for _, chunks, _ in result.articles)
        if size >= limit:
            yield batch
            batch, size = [], 0
            limit = min(limit * 2, max_chunks)
    if batch:
        yield batch
