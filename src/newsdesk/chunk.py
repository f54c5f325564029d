"""Sentences and chunks: paragraph- and sentence-aware pieces with character spans."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sentencex

from newsdesk.types import Chunk

if TYPE_CHECKING:
    import tiktoken

TOKENIZER = "cl100k_base"
_PARAGRAPH_BREAK = "\n\n"
# A paragraph that does not fit is moved whole to the next chunk when the current one is
# already at least this full; otherwise it is split between sentences.
_FLUSH_FILL = 0.5


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


@cache
def token_encoding() -> tiktoken.Encoding:
    """cl100k_base from the vocabulary file llama-index ships, so nothing is downloaded."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llama-index-core is not installed; reinstall newsdesk")
    cache_dir = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    # tiktoken reads its cache location from this variable only; we point it at the bundled
    # file unless the user chose another cache.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir))
    import tiktoken

    return tiktoken.get_encoding(TOKENIZER)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs of a cleaned text (separated by blank lines)."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start <= len(text):
        end = text.find(_PARAGRAPH_BREAK, start)
        end = len(text) if end < 0 else end
        if text[start:end].strip():
            spans.append(_trim(text, start, end))
        start = end + len(_PARAGRAPH_BREAK)
    return spans


def sentence_spans(text: str, start: int = 0, end: int | None = None,
                   language: str = "") -> list[tuple[int, int]]:
    """Character spans of the sentences in text[start:end], whitespace trimmed, split by the
    rules of the text's language (ISO 639-1; English when unknown). Every language's rules end
    a sentence at CJK, Arabic and Devanagari full stops too."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for boundary in sentencex.get_sentence_boundaries(language or "en", text[start:end]):
        if boundary["is_paragraph_break"]:
            continue
        s, e = start + boundary["start_index"], start + boundary["end_index"]
        if text[s:e].strip():
            spans.append(_trim(text, s, e))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_id(article_id: str, ordinal: int, text: str) -> str:
    """Deterministic id: the article, the chunk's place in it, and a hash of its text."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()
    return f"{article_id}#{ordinal}:{digest}"


def article_of_chunk(chunk_id: str) -> str:
    """The article id a chunk id (see chunk_id) belongs to."""
    return chunk_id.rsplit("#", 1)[0]


class Chunker:
    """Packs sentences into chunks of at most `max_tokens` cl100k tokens, keeping paragraphs whole
    where they fit."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self._encoding = token_encoding()

    def count(self, text: str) -> int:
        """Tokens in a text, as the chunk limit counts them."""
        return len(self._encoding.encode_ordinary(text))

    def chunks(self, article_id: str, text: str, language: str = "") -> list[Chunk]:
        """The chunks of one cleaned article text (in the given language), in order."""
        chunks: list[Chunk] = []
        for start, end in self._pack(text, paragraph_spans(text), language):
            piece = text[start:end]
            chunks.append(Chunk(chunk_id(article_id, len(chunks), piece), article_id,
                                len(chunks), start, end, piece))
        return chunks

    def _sentences(self, text: str, start: int, end: int, language: str) -> list[_Unit]:
        """A paragraph as sentence units (a sentence longer than a chunk is cut)."""
        encode = self._encoding.encode_ordinary
        units: list[_Unit] = []
        for s, e in sentence_spans(text, start, end, language) or [(start, end)]:
            n = len(encode(text[s:e]))
            if n <= self.max_tokens:
                units.append(_Unit(s, e, n))
            else:
                units.extend(self._split_long(text, s, e))
        return units

    def _split_long(self, text: str, start: int, end: int) -> Iterator[_Unit]:
        """A sentence longer than a chunk is cut at token boundaries."""
        tokens = self._encoding.encode_ordinary(text[start:end])
        _, offsets = self._encoding.decode_with_offsets(tokens)
        step = self.max_tokens
        for i in range(0, len(tokens), step):
            s = start + offsets[i]
            e = start + offsets[i + step] if i + step < len(tokens) else end
            s, e = _trim(text, s, e)
            if e > s:
                yield _Unit(s, e, min(step, len(tokens) - i))

    def _pack(self, text: str, paragraphs: list[tuple[int, int]],
              language: str) -> Iterator[tuple[int, int]]:
        """Greedy packing of whole paragraphs; a paragraph is split into sentences only when it
        does not fit and the current chunk is less than half full. A separator counts as a token."""
        current: list[_Unit] = []
        used = 0
        for start, end in paragraphs:
            size = len(self._encoding.encode_ordinary(text[start:end]))
            if current and used + size + 1 <= self.max_tokens:
                units = [_Unit(start, end, size)]
            elif current and used >= self.max_tokens * _FLUSH_FILL and size + 1 <= self.max_tokens:
                yield current[0].start, current[-1].end
                current, used = [], 0
                units = [_Unit(start, end, size)]
            elif size + 1 <= self.max_tokens and not current:
                units = [_Unit(start, end, size)]
            else:
                units = self._sentences(text, start, end, language)
            for unit in units:
                if current and used + unit.tokens + 1 > self.max_tokens:
                    yield current[0].start, current[-1].end
                    current, used = [], 0
                current.append(unit)
                used += unit.tokens + 1
        if current:
            yield current[0].start, current[-1].end
