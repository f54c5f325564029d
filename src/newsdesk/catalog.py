"""The catalog: articles, their cleaned text and chunk spans, in SQLite beside the vectors.

Chroma holds only vectors and filter fields; the passage texts live here once per article
(a chunk is a span of its article's text), which keeps Chroma writes at full speed and lets
every citation point at an exact place in the article.

Several processes share the file (SQLite's WAL mode: readers never wait for the writer). A
`snapshot` makes every read of one thread see the same committed state, so that a question is
answered from one state of the archive even while another process writes. Every committed
chunk added or removed is logged in `changes` with its generation, so that a keyword index
can be brought up to date by what changed rather than by reading the whole catalog.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from newsdesk.database import Database
from newsdesk.types import Article, ArticleInfo, Chunk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, root TEXT NOT NULL, fingerprint TEXT NOT NULL,
    articles TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, file TEXT NOT NULL, root TEXT NOT NULL,
    title TEXT NOT NULL, outlet TEXT NOT NULL, outlet_key TEXT NOT NULL, author TEXT NOT NULL,
    date TEXT NOT NULL, url TEXT NOT NULL, text TEXT NOT NULL, fingerprint TEXT NOT NULL,
    chunks INTEGER NOT NULL, language TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS articles_by_root ON articles(root);
CREATE INDEX IF NOT EXISTS articles_by_outlet ON articles(outlet_key);
CREATE TABLE IF NOT EXISTS chunks (
    rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, article INTEGER NOT NULL,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks(article);
CREATE TABLE IF NOT EXISTS changes (
    generation INTEGER NOT NULL, chunk INTEGER NOT NULL, article INTEGER NOT NULL,
    id TEXT NOT NULL, added INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_generation ON changes(generation);
"""


def outlet_key(name: str) -> str:
    """How outlets are compared: case-insensitive, a leading 'The' ignored."""
    return re.sub(r"^the\s+", "", " ".join(name.split()).lower())


def date_number(iso: str) -> int:
    """YYYYMMDD as an int for range filters; 0 when the date is unknown."""
    return int(iso.replace("-", "")) if iso else 0


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as the catalog keeps it, with where it came from."""

    article: Article
    file: str
    root: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk's place: its article and character span."""

    rid: int
    id: str
    article_rid: int
    article_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the last successful ingest of a file produced."""

    fingerprint: str
    articles: tuple[str, ...]


class Catalog:
    """SQLite tables for files, articles and chunks (database.py: shared by threads and
    processes, with per-thread snapshots)."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path)
        self._next_generation = 0
        try:
            with self._db.writing() as db:
                logged = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone() is not None
                had_articles = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone() is not None
                db.executescript(_SCHEMA)
                if had_articles and not logged:  # made before the change log: it starts now
                    self.set_meta("changes_from", str(self.generation))
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database connections."""
        self._db.close()

    @contextmanager
    def snapshot(self) -> Iterator[int]:
        """Until the block ends, this thread's reads see the catalog as it was committed when
        it began (whatever other threads and processes write meanwhile); yields its generation."""
        with self._db.snapshot() as db:
            yield self._generation(db)

    @staticmethod
    def _generation(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; the generation counter moves with every committed change."""
        with self._db.transaction() as db:
            self._next_generation = self._generation(db) + 1
            yield db
            db.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) "
                       "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str, default: str = "") -> str:
        """A value from the meta table."""
        with self._db.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the meta table (its own small transaction)."""
        with self._db.writing() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value))

    @property
    def generation(self) -> int:
        """Counts committed changes; the keyword index records the one it was built from."""
        with self._db.reading() as db:
            return self._generation(db)

    # -- files --------------------------------------------------------------------------
    def file_record(self, path: str) -> FileRecord | None:
        """What the file produced when it was last ingested whole."""
        with self._db.reading() as db:
            row = db.execute(
                "SELECT fingerprint, articles FROM files WHERE path = ?", (path,)).fetchone()
        return FileRecord(row[0], tuple(json.loads(row[1]))) if row else None

    def forget_file(self, path: str) -> None:
        """Drop a file's record so that its next ingest parses it again."""
        with self._db.writing() as db:
            db.execute("DELETE FROM files WHERE path = ?", (path,))

    # -- articles -----------------------------------------------------------------------
    def article_states(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For each known id: (fingerprint, file it came from)."""
        out: dict[str, tuple[str, str]] = {}
        with self._db.reading() as db:
            for batch in _batches(list(ids)):
                marks = ",".join("?" * len(batch))
                for aid, fp, file in db.execute(
                        f"SELECT id, fingerprint, file FROM articles WHERE id IN ({marks})", batch):
                    out[aid] = (fp, file)
        return out

    def article_ids_under(self, root: str) -> list[str]:
        """Ids of the articles ingested from one folder."""
        with self._db.reading() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM articles WHERE root = ? ORDER BY id", (root,))]

    def article_ids_from_file(self, path: str) -> list[str]:
        """Ids of the articles a file gave."""
        with self._db.reading() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM articles WHERE file = ? ORDER BY id", (path,))]

    def article(self, article_id: str) -> StoredArticle | None:
        """One article with its text and origin."""
        found = self.articles([article_id])
        return found.get(article_id)

    def articles(self, ids: Sequence[str]) -> dict[str, StoredArticle]:
        """Articles by id, with their text."""
        out: dict[str, StoredArticle] = {}
        with self._db.reading() as db:
            for batch in _batches(list(ids)):
                marks = ",".join("?" * len(batch))
                for row in db.execute(
                        "SELECT id, text, title, outlet, author, date, url, language, file, root, "
                        f"fingerprint FROM articles WHERE id IN ({marks})", batch):
                    out[row[0]] = StoredArticle(Article(*row[:8]), row[8], row[9], row[10])
        return out

    def list_articles(self) -> list[ArticleInfo]:
        """Every indexed article, newest first: the undated ones first, the last added on top
        (where whoever just added one looks for it), then the dated ones by date."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT id, title, outlet, author, date, url, chunks, language FROM articles "
                "ORDER BY date != '', date DESC, rid DESC").fetchall()
        return [ArticleInfo(*row) for row in rows]

    def counts(self) -> tuple[int, int]:
        """(articles, chunks) in the catalog."""
        with self._db.reading() as db:
            articles = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(articles), int(chunks)

    def matching_article_rids(
        self, outlets: Sequence[str], since: str, until: str, sources: Sequence[str],
        languages: Sequence[str] = (),
    ) -> list[int]:
        """Row ids of the articles that pass a filter (the same test the vector store applies)."""
        clauses, params = _filter_sql(outlets, since, until, sources, languages)
        with self._db.reading() as db:
            return [r[0] for r in db.execute(
                f"SELECT rid FROM articles WHERE {clauses}", params)]

    # -- writing ------------------------------------------------------------------------
    def replace_articles(
        self, db: sqlite3.Connection, stored: StoredArticle, chunks: Sequence[Chunk]
    ) -> list[str]:
        """Insert or replace one article and its chunks; returns the chunk ids it replaced."""
        a = stored.article
        row = db.execute("SELECT rid FROM articles WHERE id = ?", (a.id,)).fetchone()
        old: list[str] = []
        if row:
            old = [r[0] for r in db.execute("SELECT id FROM chunks WHERE article = ?", (row[0],))]
            self._log(db, int(row[0]), added=False)
            db.execute("DELETE FROM chunks WHERE article = ?", (row[0],))
            db.execute(
                "UPDATE articles SET file=?, root=?, title=?, outlet=?, outlet_key=?, author=?, "
                "date=?, url=?, text=?, fingerprint=?, chunks=?, language=? WHERE rid=?",
                (stored.file, stored.root, a.title, a.outlet, outlet_key(a.outlet), a.author,
                 a.date, a.url, a.text, stored.fingerprint, len(chunks), a.language, row[0]))
            rid = int(row[0])
        else:
            cur = db.execute(
                "INSERT INTO articles (id, file, root, title, outlet, outlet_key, author, date, "
                "url, text, fingerprint, chunks, language) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (a.id, stored.file, stored.root, a.title, a.outlet, outlet_key(a.outlet),
                 a.author, a.date, a.url, a.text, stored.fingerprint, len(chunks), a.language))
            rid = int(cur.lastrowid or 0)
        db.executemany(
            "INSERT INTO chunks (id, article, ordinal, start, end) VALUES (?,?,?,?,?)",
            [(c.id, rid, c.ordinal, c.start, c.end) for c in chunks])
        self._log(db, rid, added=True)
        new = {c.id for c in chunks}
        return [cid for cid in old if cid not in new]

    def record_file(
        self, db: sqlite3.Connection, path: str, root: str, fingerprint: str,
        article_ids: Sequence[str],
    ) -> None:
        """Remember that a file was ingested whole, so an unchanged copy is skipped next time."""
        db.execute(
            "INSERT INTO files VALUES (?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
            "root=excluded.root, fingerprint=excluded.fingerprint, articles=excluded.articles",
            (path, root, fingerprint, json.dumps(list(article_ids))))

    def remove_articles(self, db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        """Delete articles (and their files' records); returns their chunk ids."""
        removed: list[str] = []
        for aid in ids:
            row = db.execute("SELECT rid, file FROM articles WHERE id = ?", (aid,)).fetchone()
            if not row:
                continue
            removed += [r[0] for r in db.execute("SELECT id FROM chunks WHERE article = ?", (row[0],))]
            self._log(db, int(row[0]), added=False)
            db.execute("DELETE FROM chunks WHERE article = ?", (row[0],))
            db.execute("DELETE FROM articles WHERE rid = ?", (row[0],))
            db.execute("DELETE FROM files WHERE path = ?", (row[1],))
        return removed

    def _log(self, db: sqlite3.Connection, article_rid: int, *, added: bool) -> None:
        """Log an article's chunks as added or removed in the generation being written."""
        db.execute(
            "INSERT INTO changes (generation, chunk, article, id, added) "
            "SELECT ?, rid, article, id, ? FROM chunks WHERE article = ?",
            (self._next_generation, int(added), article_rid))

    def changes_since(self, generation: int) -> list[tuple[int, int, str, bool]] | None:
        """(chunk rid, article rid, chunk id, added) for every chunk added or removed after
        `generation`, in order; None when the log no longer reaches back that far."""
        with self._db.reading() as db:
            start = db.execute("SELECT value FROM meta WHERE key = 'changes_from'").fetchone()
            if start is not None and int(start[0]) > generation:
                return None
            return [(rid, article, cid, bool(added)) for rid, article, cid, added in db.execute(
                "SELECT chunk, article, id, added FROM changes WHERE generation > ? "
                "ORDER BY generation, rowid", (generation,))]

    def changes_count_since(self, generation: int) -> int:
        """How many chunks the log has added or removed after `generation`."""
        with self._db.reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM changes WHERE generation > ?",
                                  (generation,)).fetchone()[0])

    def trim_changes(self, generation: int) -> None:
        """Forget the log up to `generation` (a keyword index saved at it needs none of it)."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM changes WHERE generation <= ?", (generation,))
            db.execute("INSERT INTO meta VALUES ('changes_from', ?) ON CONFLICT(key) DO UPDATE SET "
                       "value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                       (str(generation),))

    # -- chunks -------------------------------------------------------------------------
    def chunk_rows_by_id(self, ids: Sequence[str]) -> dict[str, ChunkRow]:
        """Chunks by id (unknown ids are left out)."""
        return {row.id: row for row in self._chunk_rows("c.id", list(ids))}

    def chunk_rows_by_rid(self, rids: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunks by row id (the keyword index refers to chunks by row id)."""
        return {row.rid: row for row in self._chunk_rows("c.rid", list(rids))}

    def _chunk_rows(self, column: str, values: list[str] | list[int]) -> list[ChunkRow]:
        out: list[ChunkRow] = []
        with self._db.reading() as db:
            for batch in _batches(values):
                marks = ",".join("?" * len(batch))
                out += [ChunkRow(*row) for row in db.execute(
                    "SELECT c.rid, c.id, c.article, a.id, c.start, c.end FROM chunks c "
                    f"JOIN articles a ON a.rid = c.article WHERE {column} IN ({marks})", batch)]
        return out

    def all_chunks(self, page: int = 2000) -> Iterator[tuple[int, int, str, str]]:
        """(chunk rid, article rid, chunk id, chunk text) for every chunk, article by article."""
        last = -1
        while True:
            with self._db.reading() as db:
                articles = db.execute(
                    "SELECT rid, text FROM articles WHERE rid > ? ORDER BY rid LIMIT ?",
                    (last, page)).fetchall()
                if not articles:
                    return
                last = articles[-1][0]
                chunks = db.execute(
                    "SELECT rid, article, id, start, end FROM chunks WHERE article BETWEEN ? AND ? "
                    "ORDER BY article, ordinal", (articles[0][0], last)).fetchall()
            texts = dict(articles)
            for rid, article, cid, start, end in chunks:
                yield rid, article, cid, texts[article][start:end]

    def chunks_by_rid(self, rids: Sequence[int]) -> list[tuple[int, int, str, str]]:
        """(chunk rid, article rid, chunk id, chunk text) for the given chunks, in rid order."""
        chunks: list[tuple[int, int, str, int, int]] = []
        texts: dict[int, str] = {}
        with self._db.reading() as db:
            for batch in _batches(sorted(rids)):
                chunks += db.execute(
                    "SELECT rid, article, id, start, end FROM chunks "
                    f"WHERE rid IN ({','.join('?' * len(batch))}) ORDER BY rid", batch).fetchall()
            for batch in _batches(sorted({c[1] for c in chunks})):
                texts.update(db.execute(
                    f"SELECT rid, text FROM articles WHERE rid IN ({','.join('?' * len(batch))})",
                    batch).fetchall())
        return [(rid, article, cid, texts[article][start:end])
                for rid, article, cid, start, end in chunks]

    def chunk_keys(self) -> list[tuple[int, int, str]]:
        """(chunk rid, article rid, chunk id) for every chunk: what the keyword index must hold."""
        with self._db.reading() as db:
            return db.execute("SELECT rid, article, id FROM chunks").fetchall()

    def all_chunk_ids(self) -> set[str]:
        """Every chunk id in the catalog."""
        with self._db.reading() as db:
            return {r[0] for r in db.execute("SELECT id FROM chunks")}


def _filter_sql(
    outlets: Sequence[str], since: str, until: str, sources: Sequence[str],
    languages: Sequence[str] = (),
) -> tuple[str, list[object]]:
    clauses: list[str] = ["1=1"]
    params: list[object] = []
    if outlets:
        clauses.append(f"outlet_key IN ({','.join('?' * len(outlets))})")
        params += [outlet_key(o) for o in outlets]
    if since:
        clauses.append("date != '' AND date >= ?")
        params.append(since)
    if until:
        clauses.append("date != '' AND date <= ?")
        params.append(until)
    if sources:
        clauses.append(f"id IN ({','.join('?' * len(sources))})")
        params += list(sources)
    if languages:
        clauses.append(f"language IN ({','.join('?' * len(languages))})")
        params += [language.lower() for language in languages]
    return " AND ".join(clauses), params


def _batches(values: Sequence[object], size: int = 900) -> Iterator[list[object]]:
    """Slices of at most `size` values (SQLite limits the parameters of one statement)."""
    for i in range(0, len(values), size):
        yield list(values[i:i + size])
