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
LLM_KINDS = ("openai", "ollama", "gguf")  # NEWSDESK_LLM is KIND:MODEL, or "none"
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
    llm: str = "none"  # generative answers: openai:MODEL, ollama:MODEL, gguf:PATH, or none
    llm_url: str = "http://127.0.0.1:8000/v1"  # the OpenAI-compatible server of openai:MODEL
    llm_key: str | None = None
    llm_timeout: float = 60.0  # seconds one model call may take before the extractive answer
    ollama_host: str = "http://127.0.0.1:11434"
    # Limits on what one question may cost. The longest question in the 582 of our question
    # sets is 225 characters and the longest history 340: these leave ten times that room.
    max_question_chars: int = 2000
    max_history_turns: int = 20  # entries of the history: a question or an answer each
    max_history_chars: int = 20_000
    chat_rate: int = 30  # questions a minute from one client address in the web chat; 0: no limit
    allowed_hosts: tuple[str, ...] = ()  # Host names the web chat answers besides its own address
    chroma_url: str | None = None  # None: where the index keeps its vectors, else embedded

    def __post_init__(self) -> None:
        if self.embedder is not None and self.embedder not in EMBEDDERS:
            raise UsageError(f"embedder '{self.embedder}' is unknown; choose one of {EMBEDDERS}")
        if self.retrieval not in RETRIEVAL_MODES:
            raise UsageError(
                f"retrieval '{self.retrieval}' is unknown; choose one of {RETRIEVAL_MODES}"
            )
        for name in ("chunk_tokens", "max_file_bytes", "k", "candidates", "max_sentences",
                     "max_question_chars", "max_history_turns", "max_history_chars"):
            if getattr(self, name) < 1:
                raise UsageError(f"setting {name} must be at least 1")
        if self.chat_rate < 0:
            raise UsageError("setting chat_rate must be 0 (no limit) or more")
        if self.chunk_tokens < 32:
            raise UsageError("setting chunk_tokens must be at least 32")
        kind, sep, model = self.llm.partition(":")
        if self.llm != "none" and (kind not in LLM_KINDS or not sep or not model.strip()):
            raise UsageError(f"llm {self.llm!r} is not understood; use openai:MODEL, "
                             "ollama:MODEL, gguf:PATH or none")
        if not self.llm_timeout > 0:
            raise UsageError("setting llm_timeout must be more than 0 seconds")
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
        for name in ("k", "max_question_chars", "max_history_turns", "max_history_chars",
                     "chat_rate"):
            variable = f"NEWSDESK_{name.upper()}"
            if env.get(variable):
                values[name] = int(_number(env[variable], variable))
        if env.get("NEWSDESK_ALLOWED_HOSTS"):
            values["allowed_hosts"] = tuple(
                h.strip() for h in env["NEWSDESK_ALLOWED_HOSTS"].split(",") if h.strip())
        values.update(_llm_env(env))
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


def _llm_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The generative-mode settings from NEWSDESK_LLM* and OLLAMA_HOST (Ollama's own variable)."""
    values: dict[str, Any] = {}
    for name, key in (("NEWSDESK_LLM", "llm"), ("NEWSDESK_LLM_URL", "llm_url"),
                      ("NEWSDESK_LLM_KEY", "llm_key")):
        if env.get(name):
            values[key] = env[name].strip()
    if env.get("NEWSDESK_LLM_TIMEOUT"):
        values["llm_timeout"] = _number(env["NEWSDESK_LLM_TIMEOUT"], "NEWSDESK_LLM_TIMEOUT")
    if env.get("OLLAMA_HOST"):
        host = env["OLLAMA_HOST"].strip()
        values["ollama_host"] = host if "://" in host else f"http://{host}"
    return values
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
