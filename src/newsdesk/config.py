"""Settings: built once per entry point, frozen, the only reader of environment variables."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from newsdesk.errors import UsageError

EMBEDDERS = ("wordllama", "minilm")
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that can be configured, with the defaults chosen from evaluation runs."""

    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")
    embedder: str | None = None  # None: whatever the index was built with, else wordllama
    chunk_tokens: int = 256
    max_file_bytes: int = 5 * MB
    retrieval: str = "hybrid"
    k: int = 8
    candidates: int = 40
    rrf_k: int = 60
    dense_weight: float = 0.25  # weight of the dense list in the rank fusion (BM25's is 1)
    max_sentences: int = 4
    auth: str | None = None
    chroma_url: str | None = None  # None: where the index keeps its vectors, else embedded

    def __post_init__(self) -> None:
        if self.embedder is not None and self.embedder not in EMBEDDERS:
            raise UsageError(f"embedder '{self.embedder}' is unknown; choose one of {EMBEDDERS}")
        if self.retrieval not in RETRIEVAL_MODES:
            raise UsageError(
                f"retrieval '{self.retrieval}' is unknown; choose one of {RETRIEVAL_MODES}"
            )
        for name in ("chunk_tokens", "max_file_bytes", "k", "candidates", "max_sentences"):
            if getattr(self, name) < 1:
                raise UsageError(f"setting {name} must be at least 1")
        if self.chunk_tokens < 32:
            raise UsageError("setting chunk_tokens must be at least 32")
        if self.chroma_url is not None:
            object.__setattr__(self, "chroma_url", normalise_chroma_url(self.chroma_url))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Defaults, then NEWSDESK_* environment variables, then explicit overrides (None = unset)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("NEWSDESK_INDEX_DIR"):
            values["index_dir"] = Path(env["NEWSDESK_INDEX_DIR"])
        if env.get("NEWSDESK_CORPUS_DIR"):
            values["corpus_dir"] = Path(env["NEWSDESK_CORPUS_DIR"])
        if env.get("NEWSDESK_EMBEDDER"):
            values["embedder"] = env["NEWSDESK_EMBEDDER"]
        if env.get("NEWSDESK_RETRIEVAL"):
            values["retrieval"] = env["NEWSDESK_RETRIEVAL"]
        if env.get("NEWSDESK_AUTH"):
            values["auth"] = env["NEWSDESK_AUTH"]
        if env.get("NEWSDESK_CHROMA_URL"):
            values["chroma_url"] = env["NEWSDESK_CHROMA_URL"]
        if env.get("NEWSDESK_MAX_FILE_MB"):
            values["max_file_bytes"] = int(_number(env["NEWSDESK_MAX_FILE_MB"], "NEWSDESK_MAX_FILE_MB") * MB)
        if env.get("NEWSDESK_K"):
            values["k"] = int(_number(env["NEWSDESK_K"], "NEWSDESK_K"))
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise UsageError(f"unknown setting '{key}'")
            if value is not None:
                values[key] = Path(value) if key in ("index_dir", "corpus_dir") else value
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (used by evaluation's --compare)."""
        return replace(self, **changes)


def normalise_chroma_url(url: str) -> str:
    """A Chroma server's URL as the manifest records it: scheme://host:port."""
    text = url.strip()
    parsed = urllib.parse.urlsplit(text if "//" in text else f"http://{text}")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    except ValueError:
        port = 0
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not port \
            or parsed.path.strip("/"):
        raise UsageError(f"chroma_url {url!r} is not a Chroma server's address; use "
                         "http://HOST:PORT (NEWSDESK_CHROMA_URL or --chroma-url)")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{parsed.scheme}://{host}:{port}"


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number") from None
