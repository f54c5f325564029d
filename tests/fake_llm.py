"""A scripted OpenAI-compatible (and Ollama) chat server on loopback, for the exact misbehaviours
a real model cannot be made to produce on demand: each request takes the next scripted step."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """What the server does with one request."""

    text: str = ""  # the reply, streamed in pieces of a few characters
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering
    pause_after: str = ""  # stream up to and including this text, then wait `pause` seconds
    pause: float = 0.0
    garbage: bool = False  # answer 200 with a body that is not the protocol


@dataclass
class FakeLLM:
    """The server; `script` holds the steps, `default` answers when the script has run out."""

    script: list[Step] = field(default_factory=list)
    default: Step | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # when each reply finished

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(body)
                step = fake.script.pop(0) if fake.script else (fake.default or Step())
                fake._answer(self, step, body, ollama=self.path.startswith("/api/"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (…/v1)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def host(self) -> str:
        """The Ollama host URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, step: Step, body: dict[str, Any],
                ollama: bool) -> None:
        time.sleep(step.delay)
        try:
            if step.status != 200:
                _send(handler, step.status, "application/json",
                      json.dumps({"error": {"message": "scripted failure"}}).encode())
            elif step.garbage:
                _send(handler, 200, "application/json", b"<html>not an API</html>")
            elif ollama:
                self._stream_ollama(handler, step, body)
            elif body.get("stream"):
                self._stream_openai(handler, step, body)
            else:
                _send(handler, 200, "application/json", json.dumps(_completion(step.text, body))
                      .encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, or it had read enough)
        self.sent_at.append(time.perf_counter())

    def _stream_openai(self, handler: BaseHTTPRequestHandler, step: Step,
                       body: dict[str, Any]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for piece in _pieces(step):
            if piece is None:
                time.sleep(step.pause)
                continue
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0,
                     "model": body.get("model", "fake"),
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
        end = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        handler.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        handler.wfile.flush()

    def _stream_ollama(self, handler: BaseHTTPRequestHandler, step: Step,
                       body: dict[str, Any]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.end_headers()
        model = body.get("model", "fake")
        for piece in _pieces(step):
            if piece is None:
                time.sleep(step.pause)
                continue
            line = {"model": model, "created_at": "2024-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": piece}, "done": False}
            handler.wfile.write((json.dumps(line) + "\n").encode())
            handler.wfile.flush()
        last = {"model": model, "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}
        handler.wfile.write((json.dumps(last) + "\n").encode())
        handler.wfile.flush()


def _pieces(step: Step) -> Iterator[str | None]:
    """The reply in pieces of five characters; None where the scripted pause falls."""
    cut = step.text.index(step.pause_after) + len(step.pause_after) if step.pause_after else 0
    for part in (step.text[:cut], None, step.text[cut:]) if cut else (step.text,):
        if part is None:
            yield None
            continue
        for i in range(0, len(part), 5):
            yield part[i:i + 5]


def _completion(text: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _send(handler: BaseHTTPRequestHandler, status: int, kind: str, data: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
