"""The embedders: wordllama's vectors as the library computes them; minilm offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS
from newsdesk.embed import WordLlamaEmbedder, load_embedder

TRICKY = ["", " ", "a  b", " leading space", "trailing space ", "paragraph.\n\nNext one",
          "naïve café — 100 %", "tab\tseparated", "Rekognition’s “moratorium” (2020)"]


def test_wordllama_vectors_equal_the_library_s_own() -> None:
    import wordllama

    library = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                       disable_download=True)
    embedder = WordLlamaEmbedder()
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.iterdir())]
    texts += [t[i:i + 300] for t in texts for i in range(0, len(t), 300)] + TRICKY
    ours = embedder.embed(texts)
    with np.errstate(invalid="ignore"):  # the library divides 0 by 0 for empty texts
        theirs = np.nan_to_num(library.embed(texts, norm=True))
    assert ours.shape == (len(texts), 256)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # remembered words give the same vectors the second time
    np.testing.assert_allclose(embedder.embed(texts), ours, atol=1e-6)


def test_vectors_are_unit_length_and_similar_texts_are_close() -> None:
    embedder = load_embedder("wordllama")
    vectors = embedder.embed(["police use of face recognition", "facial recognition for police",
                              "a recipe for lemon cake"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.minilm
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (pip install 'newsdesk[minilm]')")
def test_minilm_loads_offline_and_embeds() -> None:
    embedder = load_embedder("minilm")
    vectors = embedder.embed(["police use of face recognition", "facial recognition for police",
                              "a recipe for lemon cake"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
