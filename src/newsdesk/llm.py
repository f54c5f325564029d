"""The language model of generative mode: which one, how to reach it, and llama.cpp's own server
for a GGUF file on disk.

Nothing here is imported unless `llm` is set; llama-index's LLM integrations (the `llm` extra)
and xllamacpp are imported on first use, with an install hint when they are missing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsdesk.config import Settings
from newsdesk.errors import GeneratorError, UsageError

log = logging.getLogger(__name__)

INSTALL_HINT = "install the generative extra: pip install 'newsdesk[llm]'"
GGUF_MAGIC = b"GGUF"
# Tokens one answer may take: four short sentences with their markers fit in about 200; the cap
# only stops a model that rambles, and the check drops what it rambles.
MAX_TOKENS = 200
GGUF_CONTEXT = 4096  # the passages' excerpts, the prompt and the answer, with room to spare
# llama.cpp's threads wait for each other at every step: on a shared machine one descheduled
# thread stalls the rest (on this 2-core machine under load, 2 threads wrote 2.7 tokens/s and 1
# thread 19.6), so the server takes half the cores and leaves the rest to everything else.
GGUF_THREADS = max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """`openai:MODEL`, `ollama:MODEL` or `gguf:PATH`, read."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec | None:
        """The spec, or None for "none" (Settings has already checked the form)."""
        if text == "none":
            return None
        kind, _, name = text.partition(":")
        return cls(kind, name.strip())

    @property
    def label(self) -> str:
        """How the model is named to a reader ("gguf:SmolLM2-135M-Instruct.Q4_1.gguf")."""
        return f"{self.kind}:{Path(self.name).name if self.kind == 'gguf' else self.name}"


def check_gguf(path: Path) -> None:
    """Raise UsageError unless path is a readable GGUF model file."""
    if not path.exists():
        raise UsageError(f"--llm gguf:{path}: no such file")
    if not path.is_file():
        raise UsageError(f"--llm gguf:{path}: not a file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise UsageError(f"--llm gguf:{path}: cannot be read: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise UsageError(f"--llm gguf:{path}: not a GGUF model file (it does not start with "
                         "the GGUF signature)")


class GgufServer:
    """llama.cpp's server (the prebuilt xllamacpp wheel) for one GGUF file, in this process, on
    a free loopback port; `stop` (or the end of the process) ends it."""

    def __init__(self, path: Path, context: int = GGUF_CONTEXT) -> None:
        check_gguf(path)
        try:
            import xllamacpp
        except ImportError as exc:
            raise UsageError(f"gguf: models need xllamacpp ({exc}); {INSTALL_HINT}") from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the server binds a free port and reports it in listening_address
        params.n_ctx = context
        params.n_parallel = 1
        params.cpuparams.n_threads = GGUF_THREADS
        params.cpuparams_batch.n_threads = GGUF_THREADS
        params.warmup = False
        params.ui = False
        params.verbosity = -1
        started = time.perf_counter()
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as exc:  # the native server reports a model it cannot load so
            raise GeneratorError(f"llama.cpp could not load {path}: {exc}") from exc
        self.url = str(self._server.listening_address).rstrip("/") + "/v1"
        log.info("llama.cpp serves %s at %s (started in %.1f s)", path.name, self.url,
                 time.perf_counter() - started)

    def stop(self) -> None:
        """Stop the server (waits for a running request to end)."""
        server, self._server = self._server, None
        del server  # xllamacpp's Server stops its loop and closes the port when it is freed


class Model:
    """The connected language model (a llama-index LLM, passed explicitly, never assigned to
    llama_index.core.Settings) and the GGUF server it may own."""

    def __init__(self, settings: Settings) -> None:
        spec = ModelSpec.parse(settings.llm)
        if spec is None:
            raise UsageError("generative mode needs --llm openai:MODEL, ollama:MODEL or gguf:PATH")
        self.spec = spec
        self.timeout = settings.llm_timeout
        self._settings = settings
        self._server: GgufServer | None = None
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The server the model is reached at, for messages."""
        if self.spec.kind == "ollama":
            return self._settings.ollama_host
        if self.spec.kind == "gguf":
            return self._server.url if self._server else "a llama.cpp server not yet started"
        return self._settings.llm_url

    def start(self) -> None:
        """Connect (and start llama.cpp's server for a GGUF file) unless already done."""
        with self._lock:
            if self._llm is None:
                self._llm = self._connect()

    def _connect(self) -> Any:
        settings, spec = self._settings, self.spec
        try:
            if spec.kind == "ollama":
                from llama_index.llms.ollama import Ollama

                return Ollama(model=spec.name, base_url=settings.ollama_host,
                              request_timeout=self.timeout, temperature=0.0,
                              context_window=GGUF_CONTEXT, additional_kwargs={
                                  "num_predict": MAX_TOKENS})
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:
            raise UsageError(f"--llm {spec.kind}: needs llama-index's LLM integrations "
                             f"({exc}); {INSTALL_HINT}") from exc
        url, key, model = settings.llm_url, settings.llm_key, spec.name
        if spec.kind == "gguf":
            self._server = GgufServer(Path(spec.name).expanduser())
            url, key, model = self._server.url, None, Path(spec.name).name
        return OpenAILike(model=model, api_base=url, api_key=key or "no-key",
                          is_chat_model=True, context_window=GGUF_CONTEXT,
                          max_tokens=MAX_TOKENS, temperature=0.0, timeout=self.timeout,
                          max_retries=0)

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """The reply to (role, content) messages, piece by piece as the server sends it.

        Raises GeneratorError when the server cannot be reached, answers an HTTP error or
        something unreadable, or takes longer than the timeout in all.
        """
        from llama_index.core.llms import ChatMessage

        self.start()
        chat = [ChatMessage(role=role, content=content) for role, content in messages]
        deadline = time.monotonic() + self.timeout
        received = 0
        try:
            for response in self._llm.stream_chat(chat):
                received += 1
                if response.delta:
                    yield response.delta
                if time.monotonic() > deadline:
                    raise GeneratorError(f"{self.spec.label} at {self.where} did not finish "
                                         f"within {self.timeout:g} s")
            if not received:  # a 200 whose body holds not one message of the protocol
                raise GeneratorError(f"{self.spec.label} at {self.where} sent a reply that "
                                     "cannot be read (no chat messages in it)")
        except GeneratorError:
            raise
        except Exception as exc:  # the clients raise many types; each becomes one line
            raise GeneratorError(self._describe(exc)) from exc

    def reply(self, messages: Sequence[tuple[str, str]]) -> str:
        """The whole reply at once."""
        return "".join(self.stream(messages))

    def _describe(self, exc: Exception) -> str:
        """One line that says what went wrong with the model server."""
        name = type(exc).__name__
        status = getattr(exc, "status_code", None) or getattr(
            getattr(exc, "response", None), "status_code", None)
        where = f"{self.spec.label} at {self.where}"
        if "Timeout" in name or isinstance(exc, TimeoutError):
            return f"{where} did not answer within {self.timeout:g} s"
        if "Connect" in name or isinstance(exc, ConnectionError):
            return f"{where} cannot be reached ({_first_line(exc)})"
        if isinstance(status, int):
            return f"{where} answered HTTP {status} ({_first_line(exc)})"
        return f"{where} sent a reply that cannot be read ({name}: {_first_line(exc)})"

    def close(self) -> None:
        """Stop the GGUF server this model started, if any."""
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
            self._llm = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
