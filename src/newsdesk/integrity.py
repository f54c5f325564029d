"""Checking an index whole — catalog ↔ vectors ↔ keyword index — and rebuilding what is
missing from what is there (`newsdesk check [--repair]`).

The catalog holds every article's text, so lost vectors are embedded again from it and a
lost keyword index is rebuilt from it. A damaged catalog keeps what SQLite can still read:
article rows are copied out one by one into a new catalog (their chunks recomputed, which
gives the same chunk ids), the damaged file is kept beside it, and the articles whose rows
are gone are named (from their vectors' ids) so that their files can be ingested again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from newsdesk.archive import _BUSY, _CATALOG, _KEYWORD, _LOCK, alone, vector_metadata
from newsdesk.catalog import Catalog, StoredArticle
from newsdesk.chunk import Chunker, article_of_chunk
from newsdesk.embed import load_embedder
from newsdesk.errors import IndexCorruptError, IndexMissingError
from newsdesk.keyword import KeywordIndex, chunk_key
from newsdesk.locks import FolderLock
from newsdesk.store import CHROMA_DIR, EMBEDDED, Manifest, VectorStore
from newsdesk.types import Article

_PROBES = 10_000  # row ids tried past an unreadable one before the rest is taken as lost
_EMBED_BATCH = 2048


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with an index: which part, what, and what repairing does about it."""

    part: str  # "catalog", "vectors" or "keyword"
    problem: str
    repair: str  # what --repair does about it
    repaired: str  # the same, once done


@dataclass(slots=True)
class CheckReport:
    """What `check_index` found (and, with repair, fixed); `lost` names articles whose text
    went with a damaged catalog."""

    index_dir: str
    articles: int = 0
    passages: int = 0
    vectors: int = 0
    keyword: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: bool = False
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the index is whole (after the repair, if one ran)."""
        return not self.findings or self.repaired

    def to_dict(self) -> dict[str, object]:
        """Plain data for `--json`."""
        return asdict(self) | {"ok": self.ok}


def check_index(index_dir: Path, *, repair: bool = False) -> CheckReport:
    """Compare the catalog, the vectors and the keyword index; with `repair` (which takes the
    index's write lock), rebuild what is missing or damaged from what is there."""
    manifest = Manifest.read(index_dir)
    if manifest is None:
        raise IndexMissingError(f"there is no index at {index_dir}")
    lock = FolderLock(index_dir / _LOCK, _BUSY.format(index_dir=index_dir)) if repair else None
    try:
        with alone(index_dir, "repairing") if repair else nullcontext():
            return _Checker(index_dir, manifest, repair).run()
    finally:
        if lock is not None:
            lock.release()


class _Checker:
    def __init__(self, index_dir: Path, manifest: Manifest, repair: bool) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.repair = repair
        self.report = CheckReport(str(index_dir), repaired=repair)

    def found(self, part: str, problem: str, repair: str, repaired: str) -> None:
        self.report.findings.append(Finding(part, problem, repair, repaired))

    def run(self) -> CheckReport:
        catalog = self._catalog()
        if catalog is None:
            return self.report
        try:
            self.report.articles, self.report.passages = catalog.counts()
            written = catalog.get_meta("dirty") != "1"
            if self.repair:
                catalog.set_meta("dirty", "1")  # a repair cut short is finished by the next writer
            vectors = self._vectors()
            if vectors is not None:
                try:
                    self._compare_vectors(catalog, vectors, written)
                finally:
                    vectors.close()
            self._keyword(catalog)
            if self.repair:
                catalog.set_meta("dirty", "0")
        finally:
            catalog.close()
        return self.report

    # -- the catalog ------------------------------------------------------------------------
    def _catalog(self) -> Catalog | None:
        path = self.index_dir / _CATALOG
        problem = _catalog_problem(path)
        if problem is None:
            return Catalog(path)
        self.found("catalog", f"{path} is damaged ({problem})",
                   "keeps the articles SQLite can still read and names the others",
                   "kept the articles SQLite could still read (the damaged file is "
                   f"{path.name}.damaged)")
        if not self.repair:
            return None
        kept = _salvage(path, self.manifest.chunk_tokens)
        shutil.rmtree(self.index_dir / _KEYWORD, ignore_errors=True)  # it refers to old row ids
        catalog = Catalog(path)
        self.report.lost = sorted(self._vector_articles() - kept)
        return catalog

    def _vector_articles(self) -> set[str]:
        """The articles the vector store has vectors of (empty when it cannot be opened)."""
        try:
            vectors = VectorStore(self.index_dir, self.manifest)
        except IndexCorruptError:
            return set()
        try:
            return {article_of_chunk(cid) for cid in vectors.ids()}
        finally:
            vectors.close()

    # -- the vectors ------------------------------------------------------------------------
    def _vectors(self) -> VectorStore | None:
        path = self.index_dir / CHROMA_DIR
        try:
            return VectorStore(self.index_dir, self.manifest)
        except IndexCorruptError as exc:
            damage = str(exc).split("; run")[0]
        self.found("vectors", damage, "replaces it and embeds every passage again from the catalog",
                   "replaced it; every passage is embedded again from the catalog")
        if not self.repair or self.manifest.vectors != EMBEDDED:
            return None  # a server's collection is the server's to repair
        shutil.rmtree(path)
        return VectorStore(self.index_dir, self.manifest)

    def _compare_vectors(self, catalog: Catalog, vectors: VectorStore, written: bool) -> None:
        """Passages without a vector and vectors without a passage; `written` says the last
        write finished, so that vectors without a passage mean catalog rows were lost."""
        known = catalog.all_chunk_ids()
        stored = vectors.ids()
        missing, orphans = sorted(known - stored), sorted(stored - known)
        if missing:
            self.found("vectors", f"{len(missing):,} of the {len(known):,} passages have no vector",
                       "embeds them again from the catalog", "embedded them again from the catalog")
            if self.repair:
                _embed_again(catalog, vectors, missing, self.manifest.embedder)
        if orphans:
            self.found("vectors", f"{len(orphans):,} vectors belong to no passage of the catalog",
                       "deletes them", "deleted them")
            if written:
                present = set(catalog.articles(sorted({article_of_chunk(o) for o in orphans})))
                gone = {article_of_chunk(o) for o in orphans} - present
                self.report.lost = sorted(set(self.report.lost) | gone)
            if self.repair:
                vectors.delete(orphans)
        self.report.vectors = vectors.count()

    # -- the keyword index ------------------------------------------------------------------
    def _keyword(self, catalog: Catalog) -> None:
        path = self.index_dir / _KEYWORD
        index = KeywordIndex.load(path)
        generation = catalog.generation
        expected = {chunk_key(rid, cid) for rid, _, cid in catalog.chunk_keys()}
        if index is not None and index.generation != generation:
            # behind the catalog, as after any write: brought up to date (as a search would)
            index = index.updated(catalog.chunk_keys(), generation, catalog.chunks_by_rid) \
                or KeywordIndex.build(catalog.all_chunks(), generation)
        if index is None:
            problem = "missing or unreadable" if expected else ""
        else:
            held = index.held_keys()
            problem = "" if held == expected else (
                f"holds {len(held):,} passages where the catalog has {len(expected):,}")
        if problem:
            self.found("keyword", problem, "rebuilds it from the catalog",
                       "rebuilt it from the catalog")
        if problem and self.repair:
            index = KeywordIndex.build(catalog.all_chunks(), generation)
            index.save(path)
        self.report.keyword = index.documents if index is not None else 0


def _catalog_problem(path: Path) -> str | None:
    """Why SQLite cannot read the catalog whole (None when it can)."""
    if not path.exists():
        return "the file is missing"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        db.close()
    problems = [str(r[0]) for r in rows if r[0] != "ok"]
    return "; ".join(problems[:3]) if problems else None


def _salvage(path: Path, chunk_tokens: int) -> set[str]:
    """Replace a damaged catalog by one holding every article row SQLite can still read (the
    damaged file is kept as catalog.sqlite.damaged); returns the ids of the articles kept."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".salvage-") as work:
        copy = Path(work) / "damaged.sqlite"
        shutil.copyfile(path, copy)
        _distrust_stated_size(copy)
        source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            try:  # a catalog from before articles had a language has no such column
                source.execute("SELECT language FROM articles LIMIT 0")
                language = "language"
            except sqlite3.DatabaseError:
                language = "''"
            articles = list(_readable(source, "articles", "rid, id, text, title, outlet, author, "
                                      f"date, url, {language}, file, root, fingerprint"))
            files = list(_readable(source, "files", "rowid, path, root, fingerprint, articles"))
        finally:
            source.close()
        fresh = Path(work) / _CATALOG
        kept = _write_catalog(fresh, articles, files, chunk_tokens)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{path}.damaged{suffix}")
        os.replace(fresh, path)
    return kept


def _distrust_stated_size(path: Path) -> None:
    """Make SQLite size the database by its file, not by its header: a truncated file then
    opens, and only the pages that are gone fail to read. (The header's page count is used only
    while its 'version-valid-for' number, at offset 92, equals the change counter at 24.)"""
    with path.open("r+b") as handle:
        header = handle.read(100)
        if len(header) < 100:
            return
        counter = struct.unpack(">I", header[24:28])[0]
        handle.seek(92)
        handle.write(struct.pack(">I", (counter + 1) & 0xFFFFFFFF))


def _readable(db: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple[object, ...]]:
    """The rows of a table that can still be read, in row id order; past an unreadable row,
    the next row ids are tried one by one."""
    query = f"SELECT {columns} FROM {table} WHERE rowid > ? ORDER BY rowid"
    last, missed = 0, 0
    while missed <= _PROBES:
        try:
            for row in db.execute(query, (last,)):
                last, missed = int(row[0]), 0
                yield row
            return
        except sqlite3.DatabaseError:
            last, missed = last + 1, missed + 1


def _write_catalog(path: Path, articles: list[tuple[object, ...]],
                   files: list[tuple[object, ...]], chunk_tokens: int) -> set[str]:
    """A new catalog of the salvaged rows; a file is remembered only if all its articles are
    (otherwise its next ingest reads it again). Returns the article ids written."""
    catalog = Catalog(path)
    chunker = Chunker(chunk_tokens)
    kept: set[str] = set()
    try:
        with catalog.transaction() as db:
            for _, aid, text, title, outlet, author, date, url, lang, file, root, fp in articles:
                article = Article(*(str(v) for v in (aid, text, title, outlet, author, date, url,
                                                     lang or "")))
                stored = StoredArticle(article, str(file), str(root), str(fp))
                catalog.replace_articles(db, stored, chunker.chunks(article.id, article.text,
                                                                    article.language))
                kept.add(article.id)
            for _, file_path, root, fingerprint, ids in files:
                try:
                    listed = [str(i) for i in json.loads(str(ids))]
                except ValueError:
                    continue
                if set(listed) <= kept:
                    catalog.record_file(db, str(file_path), str(root), str(fingerprint), listed)
    finally:
        catalog.close()
    return kept


def _embed_again(catalog: Catalog, vectors: VectorStore, chunk_ids: list[str],
                 embedder_name: str) -> None:
    """Embed the catalog's passages that have no vector, with the index's own model."""
    embedder = load_embedder(embedder_name)
    for i in range(0, len(chunk_ids), _EMBED_BATCH):
        rows = catalog.chunk_rows_by_id(chunk_ids[i:i + _EMBED_BATCH])
        articles = catalog.articles(sorted({row.article_id for row in rows.values()}))
        order = list(rows.values())
        texts = [articles[r.article_id].article.text[r.start:r.end] for r in order]
        vectors.upsert([r.id for r in order], embedder.embed(texts),
                       [vector_metadata(articles[r.article_id].article) for r in order])


