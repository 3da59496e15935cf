"""``onethinker serve``: a small OpenAI-compatible chat-completions server over a generation back-end.

So that a CPU user can serve a checkpoint to the tools that speak the OpenAI protocol (``data annotate``,
``eval --backend openai``, other clients), and so that those run against a real HTTP server in the tests.
Standard library only (``http.server``, one thread per connection); generation is serialised by a lock
(one model in memory), so concurrent clients queue: at most ``max_queue`` requests wait for the model
(beyond the one being answered); one more is answered at once with 503 and ``Retry-After``.

Every request gets an HTTP answer. The body is read as ``Content-Length`` frames it before anything else
(so an error never leaves half a body on a kept-alive connection to be read as the next request); a body
that cannot be framed (no, a negative or a non-numeric ``Content-Length``, chunked, fewer bytes than
announced within ``read_timeout_s``) gets its 4xx with ``Connection: close``, and the connection is
closed gracefully (the rest of what the client sends is read and dropped for a moment) so that the
reply is not lost to a TCP reset. The listen backlog holds ``backlog`` connections (socketserver's
default of 5 is too few for a burst of clients).

Endpoints:

- ``GET /v1/models``: the one served model;
- ``GET /health``: ``{"status": "ok"}``;
- ``POST /v1/chat/completions``: ``model`` (the served name, or omitted), ``messages`` (text as a string or
  content parts: ``text``, ``image_url`` with a ``data:image/...;base64,`` URL, ``video_url`` with a
  ``data:video/...;base64,`` URL; a ``file://`` URL only for a file under ``media_root``, when one is given;
  video frames sent as images, each after a ``<t seconds>`` text, as ``--backend openai`` sends them, pass
  as they are), ``max_tokens`` / ``max_completion_tokens`` (default
  1024), ``temperature`` (default 1.0, as OpenAI's), ``top_p``, ``n``, ``seed``. ``stream`` is refused.
  The reply: ``choices`` (``message.content``, ``finish_reason``), ``usage`` (prompt and completion
  tokens). Errors come back as ``{"error": {"message", "type", "code"}}`` with status 400 (a bad
  request, named field), 404 (another model or path), 405 (another method), 408 (the body did not arrive in
  time), 411 (no ``Content-Length``), 413 (a body over ``max_body_mb``), 500 (generation failed), 503 (the
  queue is full; ``Retry-After`` says in how many seconds to try again).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .base import GenerationRequest, Generator, SamplingConfig


class RequestError(ValueError):
    """A request answered with an error: ``status``, OpenAI's error ``code``, extra response ``headers``;
    ``close``: the connection closes after the reply (its framing cannot be trusted any more)."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request_error", *,
                 headers: dict[str, str] | None = None, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.headers, self.close = status, code, dict(headers or {}), close


def _decode_data_url(url: Any, where: str, kind: str) -> tuple[str, bytes]:
    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestError(f"{where}: expected a data:{kind}/...;base64,... URL (web URLs are not fetched; "
                           f"file:// URLs only under the server's media root)")
    head, _, data = url.partition(",")
    if ";base64" not in head or not head[5:].startswith(kind + "/"):
        raise RequestError(f"{where}: expected a base64 data:{kind}/... URL, got {head[:40]!r}")
    try:
        return head[5:].split(";")[0], base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RequestError(f"{where}: not valid base64 ({e})") from e


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that went away (reset, timed out) is not the server's error: no traceback for it
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


#: the most samples one request may ask for
MAX_N = 128


def _number(body: dict, key: str, kind: type, default: Any, ok: Any, expected: str) -> Any:
    """``body[key]`` as an int or a float (``default`` when absent or null), or a 400 naming the field."""
    value = body.get(key)
    if value is None:
        return default
    bad = RequestError(f"sampling settings: {key}: expected {'an integer' if kind is int else 'a number'} "
                       f"{expected}, got {json.dumps(value)[:40]}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if kind is int and (isinstance(value, float) and not value.is_integer()):
        raise bad
    try:
        value = kind(value)
    except (ValueError, OverflowError):
        raise bad from None
    if not ok(value):
        raise bad
    return value


class ChatServer:
    """Serves ``generator`` under ``model_name`` at ``host:port`` (port 0: a free one, see ``.port``).

    ``max_queue``: requests that may wait for the model besides the one being answered (more get 503 with
    ``Retry-After``); ``read_timeout_s``: how long a client may take to send a request (and how long an
    idle kept-alive connection stays open); ``backlog``: the listen backlog; ``media_root``: a folder whose
    files requests may name with ``file://`` URLs (None: file URLs are refused)."""

    def __init__(self, generator: Generator, model_name: str, *, host: str = "127.0.0.1", port: int = 8000,
                 max_body_mb: float = 64.0, video_fps: float = 2.0, max_frames: int = 128, quiet: bool = False,
                 max_queue: int = 64, read_timeout_s: float = 30.0, backlog: int = 128,
                 media_root: str | os.PathLike | None = None) -> None:
        if max_queue < 0 or read_timeout_s <= 0 or backlog < 1 or max_body_mb <= 0:
            raise ValueError(f"need max_queue >= 0, read_timeout_s > 0, backlog >= 1 and max_body_mb > 0; got "
                             f"{max_queue}, {read_timeout_s}, {backlog}, {max_body_mb}")
        self.generator, self.model_name = generator, model_name
        self.max_body = int(max_body_mb * 1024 * 1024)
        self.video_fps, self.max_frames, self.quiet = video_fps, max_frames, quiet
        self.max_queue, self.read_timeout_s = max_queue, read_timeout_s
        self.media_root = Path(media_root).resolve() if media_root is not None else None
        if self.media_root is not None and not self.media_root.is_dir():
            raise ValueError(f"media root {media_root}: not a folder")
        self.lock = threading.Lock()  # the model: one generation at a time
        self._admit = threading.Lock()  # guards the counts below
        self.pending = 0  # requests admitted: waiting for the model or being answered
        self.rejected = 0  # requests answered 503 because the queue was full
        self._seconds = 1.0  # a running mean of one generation's time (for Retry-After)
        self.tmp = tempfile.TemporaryDirectory(prefix="onethinker-serve-")
        self.served = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = read_timeout_s  # socket timeout: a slow or silent client cannot hold a thread forever

            def log_message(self, fmt: str, *args: Any) -> None:  # noqa: D401 - http.server's hook
                if not server.quiet:
                    super().log_message(fmt, *args)

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    if self.close_connection:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client went away before its reply: nobody to answer
                    self.close_connection = True
                    self._lingering = False

            def _error(self, e: RequestError) -> None:
                if e.close:
                    self.close_connection = True
                    self._lingering = True
                self._send(e.status, {"error": {"message": str(e), "type": e.code, "code": e.status}}, e.headers)

            def finish(self) -> None:
                super().finish()
                if getattr(self, "_lingering", False):
                    self._linger()

            def _linger(self) -> None:
                """Close gracefully a connection whose request was not read to its end: say we are done
                writing, then read and drop what the client still sends (for a moment, up to a bound), so
                that the close does not reset the connection before the client has read its reply."""
                conn = self.connection
                try:
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(0.5)
                    deadline, left = time.monotonic() + 2.0, server.max_body + (1 << 20)
                    while left > 0 and time.monotonic() < deadline:
                        chunk = conn.recv(min(left, 1 << 16))
                        if not chunk:
                            break
                        left -= len(chunk)
                except OSError:
                    pass

            def _read_body(self) -> bytes:
                """The request body, as ``Content-Length`` frames it (RequestError with ``close`` otherwise)."""
                if self.headers.get("Transfer-Encoding"):
                    raise RequestError("Transfer-Encoding: chunked bodies are not accepted; send Content-Length",
                                       411, "length_required", close=True)
                raw = self.headers.get("Content-Length")
                if raw is None:
                    if self.command == "POST":
                        raise RequestError("Content-Length: required", 411, "length_required", close=True)
                    return b""
                try:
                    length = int(raw.strip())
                    if length < 0 or not raw.strip().isdigit():
                        raise ValueError
                except ValueError:
                    raise RequestError(f"Content-Length: expected a non-negative integer, got {raw[:40]!r}",
                                       close=True) from None
                if length > server.max_body:
                    raise RequestError(f"request body of {length} bytes is over the limit of {server.max_body}",
                                       413, close=True)
                try:
                    data = self.rfile.read(length)
                except TimeoutError:
                    data = None
                if data is None or len(data) < length:
                    raise RequestError(f"body: {length} bytes announced by Content-Length did not arrive within "
                                       f"{server.read_timeout_s:g} s", 408, "request_timeout", close=True)
                return data

            def _answer(self, route: Any) -> None:
                try:
                    self._send(200, route(self._read_body()))
                except RequestError as e:
                    self._error(e)
                except Exception as e:  # noqa: BLE001 - a failed generation is the client's 500, not a crash
                    self._error(RequestError(f"generation failed: {type(e).__name__}: {e}", 500, "server_error"))

            def _get(self, body: bytes) -> dict:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    return {"object": "list", "data": [{"id": server.model_name, "object": "model",
                                                        "owned_by": "onethinker"}]}
                if self.path.rstrip("/") == "/health":
                    return {"status": "ok"}
                raise RequestError(f"no such path {self.path}", 404, "not_found")

            def _post(self, body: bytes) -> dict:
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    raise RequestError(f"no such path {self.path}", 404, "not_found")
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError) as e:
                    raise RequestError(f"body: not JSON ({e})") from e
                return server.complete(parsed)

            def _other(self, body: bytes) -> dict:
                raise RequestError(f"method {self.command} is not allowed here (GET, POST)", 405, "method_not_allowed",
                                   headers={"Allow": "GET, POST"})

            def do_GET(self) -> None:  # noqa: N802 - http.server's names
                self._answer(self._get)

            def do_POST(self) -> None:  # noqa: N802
                self._answer(self._post)

            def do_PUT(self) -> None:  # noqa: N802
                self._answer(self._other)

            do_DELETE = do_PATCH = do_PUT  # noqa: N815

        # (request_queue_size is the listen backlog, read by server_activate inside the constructor)
        self.httpd = type("_Server", (_HTTPServer,), {"request_queue_size": backlog})((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}/v1"

    # -- one request -------------------------------------------------------------------------------
    def _local_file(self, url: str, where: str) -> Path:
        """The file a ``file://`` URL names, if it lies under ``media_root`` (RequestError otherwise)."""
        from ..data.media import MediaError, resolve_media

        if self.media_root is None:
            raise RequestError(f"{where}: file:// URLs are not read by this server (start it with --media-root "
                               f"DIR to allow files under DIR); send a base64 data: URL")
        u = urlparse(url)
        if u.netloc not in ("", "localhost"):
            raise RequestError(f"{where}: file URL on host {u.netloc[:40]!r}; only local files are read")
        raw = unquote(u.path)
        try:
            if os.path.isabs(raw):
                path = Path(raw).resolve()
                if not path.is_relative_to(self.media_root):
                    raise MediaError("outside the media root", path=raw)
            else:
                path = resolve_media(raw, self.media_root)
        except (MediaError, OSError, ValueError) as e:
            raise RequestError(f"{where}: {url[:200]!r} is not a file under the media root ({e})") from e
        if not path.is_file():
            raise RequestError(f"{where}: no such file under the media root: {url[:200]!r}")
        return path

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
                if isinstance(url, str) and url.startswith("file:"):
                    src: Any = self._local_file(url, f"{w}.image_url.url")
                else:
                    src = io.BytesIO(_decode_data_url(url, f"{w}.image_url.url", "image")[1])
                try:
                    img = Image.open(src)
                    img.load()
                except (UnidentifiedImageError, OSError, ValueError) as e:
                    raise RequestError(f"{w}.image_url: not a readable image ({e})") from e
                out.append({"type": "image", "image": img.convert("RGB")})
            elif kind == "video_url":
                from ..data.media import MediaError, probe_video

                url = part.get("video_url", {}).get("url") if isinstance(part.get("video_url"), dict) else part.get("video_url")
                if isinstance(url, str) and url.startswith("file:"):
                    path = self._local_file(url, f"{w}.video_url.url")
                else:
                    mime, data = _decode_data_url(url, f"{w}.video_url.url", "video")
                    ext = "".join(c for c in mime.split("/")[-1] if c.isalnum())[:8] or "mp4"
                    path = Path(self.tmp.name) / f"{uuid.uuid4().hex}.{ext}"
                    path.write_bytes(data)
                    files.append(path)
                try:
                    probe_video(path)  # a readable video with a video stream, or the client's 400
                except (MediaError, OSError) as e:
                    raise RequestError(f"{w}.video_url: not a readable video ({e})") from e
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
            max_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
            max_tokens = _number(body, max_key, int, 1024, lambda v: v >= 1, ">= 1")
            temperature = _number(body, "temperature", float, 1.0, lambda v: 0 <= v < math.inf, ">= 0")
            top_p = _number(body, "top_p", float, 1.0, lambda v: 0 < v <= 1, "in (0, 1]")
            n = _number(body, "n", int, 1, lambda v: 1 <= v <= MAX_N, f"in [1, {MAX_N}]")
            seed = _number(body, "seed", int, 0, lambda v: -(2**63) <= v < 2**64, "a 64-bit integer")
            req = GenerationRequest(msgs)
            sampling = SamplingConfig(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, n=n, seed=seed)
            with self._admit:  # the bounded queue: one being answered plus max_queue waiting
                if self.pending > self.max_queue:
                    self.rejected += 1
                    wait = max(1, min(600, math.ceil(self._seconds * self.pending)))
                    raise RequestError(f"server busy: {self.pending} requests in the queue (--max-queue "
                                       f"{self.max_queue}); retry in {wait} s", 503, "server_busy",
                                       headers={"Retry-After": str(wait)})
                self.pending += 1
            try:
                with self.lock:
                    t0 = time.monotonic()
                    texts = self.generator.generate([req], sampling)[0]
                    self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - t0)
                    self.served += 1
            finally:
                with self._admit:
                    self.pending -= 1
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
