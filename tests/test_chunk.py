"""Chunks: at most 256 cl100k tokens, exact character spans, paragraphs kept whole where they fit."""

from __future__ import annotations

import itertools

from conftest import CORPUS
from newsdesk import Desk
from newsdesk.chunk import Chunker, paragraph_spans, sentence_spans, token_encoding
from newsdesk.clean import clean, load_rules


def test_sample_chunks_fit_and_point_at_their_text(sample_desk: Desk) -> None:
    encoding = token_encoding()
    catalog = sample_desk.archive.catalog
    rows = list(catalog.all_chunks())
    assert rows
    articles = catalog.articles([a.id for a in sample_desk.articles()])
    by_id = catalog.chunk_rows_by_id([cid for _, _, cid, _ in rows])
    for _, _, cid, text in rows:
        row = by_id[cid]
        assert len(encoding.encode_ordinary(text)) <= 256
        assert articles[row.article_id].article.text[row.start:row.end] == text


def test_chunks_cover_the_article_in_order() -> None:
    text = clean((CORPUS / "001_e04abfde3c193795.txt").read_text(), load_rules()).text
    chunks = Chunker(256).chunks("a.txt", text)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for before, after in itertools.pairwise(chunks):
        assert text[before.end:after.start].strip() == ""  # only separators between chunks
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_paragraphs_are_not_split_when_they_fit() -> None:
    text = clean((CORPUS / "003_c4a1611d945e26cc.txt").read_text(), load_rules()).text
    starts = {s for s, _ in paragraph_spans(text)}
    ends = {e for _, e in paragraph_spans(text)}
    for chunk in Chunker(256).chunks("b.txt", text):
        assert chunk.start in starts and chunk.end in ends


def test_long_paragraphs_split_between_sentences_and_giant_sentences_by_tokens() -> None:
    sentence = "The committee reviewed the contract in detail and asked many questions. "
    paragraph = (sentence * 40).strip()
    giant = " ".join(["word"] * 700) + "."
    text = paragraph + "\n\n" + giant
    chunker = Chunker(64)
    chunks = chunker.chunks("c.txt", text)
    assert all(chunker.count(c.text) <= 64 for c in chunks)
    sentences = {text[s:e] for s, e in sentence_spans(text, 0, len(paragraph))}
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        if chunk.end <= len(paragraph):
            assert all(part.strip() + "." in sentences or part.strip() == ""
                       for part in chunk.text.split(". ")[:-1])
    assert sum(1 for c in chunks if c.start > len(paragraph)) >= 700 // 64


def test_chunk_ids_are_deterministic_and_change_with_the_text() -> None:
    chunker = Chunker(256)
    first = chunker.chunks("d.txt", "One sentence here. Another one there.")
    again = chunker.chunks("d.txt", "One sentence here. Another one there.")
    changed = chunker.chunks("d.txt", "One sentence here. Another one changed.")
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id != changed[0].id and first[0].id.startswith("d.txt#0:")
