"""``onethinker serve``: a small OpenAI-compatible chat-completions server over a generation back-end.

So that a CPU user can serve a checkpoint to the tools that speak the OpenAI protocol (``data annotate``,
``eval --backend openai``, other clients), and so that those run against a real HTTP server in the tests.
Standard library only (``http.server``, one thread per connection); generation is serialised by a lock
(one model in memory), so concurrent clients queue.

Endpoints:

- ``GET /v1/models``: the one served model;
- ``GET /health``: ``{"status": "ok"}``;
- ``POST /v1/chat/completions``: ``model`` (the served name, or omitted), ``messages`` (text as a string or
  content parts: ``text``, ``image_url`` with a ``data:image/...;base64,`` URL, ``video_url`` with a
  ``data:video/...;base64,`` URL; video frames sent as images, each after a ``<t seconds>`` text, as
  ``--backend openai`` sends them, pass as they are), ``max_tokens`` / ``max_completion_tokens`` (default
  1024), ``temperature`` (default 1.0, as OpenAI's), ``top_p``, ``n``, ``seed``. ``stream`` is refused.
  The reply: ``choices`` (``message.content``, ``finish_reason``), ``usage`` (prompt and completion
  tokens). Errors come back as ``{"error": {"message", "type", "code"}}`` with status 400 (a bad
  request, named field), 404 (another model or path), 413 (a body over ``max_body_mb``), 500 (generation
  failed).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .base import GenerationRequest, Generator, SamplingConfig


class RequestError(ValueError):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _decode_data_url(url: Any, where: str, kind: str) -> tuple[str, bytes]:
    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestError(f"{where}: expected a data:{kind}/...;base64,... URL (files and web URLs are not fetched)")
    head, _, data = url.partition(",")
    if ";base64" not in head or not head[5:].startswith(kind + "/"):
        raise RequestError(f"{where}: expected a base64 data:{kind}/... URL, got {head[:40]!r}")
    try:
        return head[5:].split(";")[0], base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RequestError(f"{where}: not valid base64 ({e})") from e


class ChatServer:
    """Serves ``generator`` under ``model_name`` at ``host:port`` (port 0: a free one, see ``.port``)."""

    def __init__(self, generator: Generator, model_name: str, *, host: str = "127.0.0.1", port: int = 8000,
                 max_body_mb: float = 64.0, video_fps: float = 2.0, max_frames: int = 128, quiet: bool = False) -> None:
        self.generator, self.model_name = generator, model_name
        self.max_body = int(max_body_mb * 1024 * 1024)
        self.video_fps, self.max_frames, self.quiet = video_fps, max_frames, quiet
        self.lock = threading.Lock()
        self.tmp = tempfile.TemporaryDirectory(prefix="onethinker-serve-")
        self.served = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:  # noqa: D401 - http.server's hook
                if not server.quiet:
                    super().log_message(fmt, *args)

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, e: RequestError) -> None:
                self._send(e.status, {"error": {"message": str(e), "type": e.code, "code": e.status}})

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model_name, "object": "model",
                                                                 "owned_by": "onethinker"}]})
                elif self.path.rstrip("/") == "/health":
                    self._send(200, {"status": "ok"})
                else:
                    self._error(RequestError(f"no such path {self.path}", 404, "not_found"))

            def do_POST(self) -> None:  # noqa: N802
                try:
                    if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                        raise RequestError(f"no such path {self.path}", 404, "not_found")
                    length = int(self.headers.get("Content-Length") or 0)
                    if length > server.max_body:
                        raise RequestError(f"request body of {length} bytes is over the limit of {server.max_body}", 413)
                    try:
                        body = json.loads(self.rfile.read(length).decode("utf-8"))
                    except (UnicodeDecodeError, ValueError) as e:
                        raise RequestError(f"body: not JSON ({e})") from e
                    self._send(200, server.complete(body))
                except RequestError as e:
                    self._error(e)
                except Exception as e:  # noqa: BLE001 - a failed generation is the client's 500, not a crash
                    self._error(RequestError(f"generation failed: {type(e).__name__}: {e}", 500, "server_error"))

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}/v1"

    # -- one request -------------------------------------------------------------------------------
    def _content(self, content: Any, where: str, files: list[Path]) -> list[dict] | str:
        from PIL import Image, UnidentifiedImageError

        if isinstance(content, str):
            return content
        if not isinstance(content, list):
            raise RequestError(f"{where}: expected a string or a list of content parts")
        out: list[dict] = []
        for j, part in enumerate(content):
            w = f"{where}[{j}]"
            if not isinstance(part, dict):
                raise RequestError(f"{w}: expected an object")
            kind = part.get("type")
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise RequestError(f"{w}.text: expected a string")
                out.append({"type": "text", "text": part["text"]})
            elif kind == "image_url":
                url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else part.get("image_url")
                _, data = _decode_data_url(url, f"{w}.image_url.url", "image")
                try:
                    img = Image.open(io.BytesIO(data))
                    img.load()
                except (UnidentifiedImageError, OSError) as e:
                    raise RequestError(f"{w}.image_url: not a readable image ({e})") from e
                out.append({"type": "image", "image": img.convert("RGB")})
            elif kind == "video_url":
                url = part.get("video_url", {}).get("url") if isinstance(part.get("video_url"), dict) else part.get("video_url")
                mime, data = _decode_data_url(url, f"{w}.video_url.url", "video")
                path = Path(self.tmp.name) / f"{uuid.uuid4().hex}.{mime.split('/')[-1] or 'mp4'}"
                path.write_bytes(data)
                files.append(path)
                out.append({"type": "video", "video": str(path), "fps": self.video_fps, "max_frames": self.max_frames})
            else:
                raise RequestError(f"{w}.type: {kind!r} is not supported (text, image_url, video_url)")
        return out

    def complete(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise RequestError("body: expected a JSON object")
        model = body.get("model")
        if model not in (None, "", self.model_name):
            raise RequestError(f"model {model!r} is not served here (serving {self.model_name!r})", 404, "model_not_found")
        if body.get("stream"):
            raise RequestError("stream: streaming is not supported; send stream=false")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages: expected a non-empty list")
        files: list[Path] = []
        try:
            msgs = []
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                    raise RequestError(f"messages[{i}]: expected an object with role system, user or assistant")
                msgs.append({"role": m["role"], "content": self._content(m.get("content", ""), f"messages[{i}].content",
                                                                         files)})
            try:
                max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 1024)
                temperature = float(body["temperature"]) if body.get("temperature") is not None else 1.0
                top_p = float(body["top_p"]) if body.get("top_p") is not None else 1.0
                n = int(body.get("n") or 1)
                seed = int(body["seed"]) if body.get("seed") is not None else 0
            except (TypeError, ValueError) as e:
                raise RequestError(f"sampling settings: {e}") from e
            if max_tokens < 1 or n < 1 or temperature < 0 or not 0 < top_p <= 1:
                raise RequestError("sampling settings: need max_tokens >= 1, n >= 1, temperature >= 0, 0 < top_p <= 1")
            req = GenerationRequest(msgs)
            sampling = SamplingConfig(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, n=n, seed=seed)
            with self.lock:
                texts = self.generator.generate([req], sampling)[0]
                self.served += 1
        finally:
            for f in files:
                f.unlink(missing_ok=True)
        usage = {"prompt_tokens": int(req.usage.get("prompt_tokens", 0)),
                 "completion_tokens": int(req.usage.get("completion_tokens", 0))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                             "finish_reason": "stop"} for i, t in enumerate(texts)],
                "usage": usage}

    # -- running -----------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self.httpd.server_close()
            self.tmp.cleanup()

    def start(self) -> "ChatServer":
        """Serve from a daemon thread (tests, notebooks); ``stop`` ends it."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.tmp.cleanup()
