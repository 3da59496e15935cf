"""`onethinker serve` under load: 40 concurrent keep-alive clients send 80 requests over loopback (valid text
and image requests, malformed ones, ``file://`` URLs inside and outside the media root), and every one gets a
well-formed HTTP reply with the status its request deserves: none reset, none dropped, none answered on
behalf of another. Then the bounded queue: past ``max_queue`` waiting requests the server answers 503 with
``Retry-After`` at once, and serves again when the queue drains.

The clients speak raw HTTP/1.1 over sockets so that malformed requests (a bad or missing
``Content-Length``, a chunked body, a body the client never finishes) can be sent at all, and each worker
keeps its connection alive between its requests the way a pooled client does, so that a request whose body
the server left unread would poison the next one."""

import base64
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from onethinker.generate.base import Generator
from onethinker.generate.scripted import ScriptedGenerator
from onethinker.generate.server import ChatServer

ALLOWED = {200, 400, 404, 405, 408, 411, 413, 503}


# -------------------------------------------------------------------------------------------------
# a raw HTTP/1.1 client
# -------------------------------------------------------------------------------------------------
def _request(body: bytes, path="/v1/chat/completions", method="POST", headers=None) -> bytes:
    h = {"Host": "localhost", "Content-Type": "application/json", "Content-Length": str(len(body))}
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
    return head.encode() + b"\r\n" + body


def _chat(content, **kw) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": content}], "max_tokens": 8, **kw}).encode()


class Reply:
    def __init__(self, status: int, headers: dict, body: dict) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


def _read_reply(f) -> Reply:
    """One HTTP/1.1 reply from the buffered socket file ``f``; AssertionError if it is not well formed."""
    line = f.readline(65537)
    if not line:
        raise ConnectionAbortedError("the server closed the connection without a reply")
    version, status, _reason = line.decode("latin-1").split(" ", 2)
    assert version == "HTTP/1.1" and status.isdigit(), line
    headers = {}
    while True:
        h = f.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    assert headers.get("content-type") == "application/json", headers
    data = f.read(int(headers["content-length"]))
    assert len(data) == int(headers["content-length"]), "short body"
    return Reply(int(status), headers, json.loads(data))


class Conn:
    """A kept-alive connection: sends a request, reads its reply; reconnects when the server closed."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout, self.sock = port, timeout, None

    def ask(self, raw: bytes, *, hold: float = 0.0) -> Reply | str:
        """``raw`` and its reply, or how the exchange failed ("reset", "no reply", "timeout"). ``hold``:
        seconds to wait after sending before reading (a client that never finishes its body)."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.file = self.sock.makefile("rb")
        try:
            self.sock.sendall(raw)
            reply = _read_reply(self.file)
        except ConnectionResetError:
            self.close()
            return "reset"
        except ConnectionAbortedError:
            self.close()
            return "no reply"
        except (TimeoutError, socket.timeout):
            self.close()
            return "timeout"
        except BrokenPipeError:
            self.close()
            return "reset"
        if reply.closes:
            self.close()
        return reply

    def close(self) -> None:
        if self.sock is not None:
            self.file.close()
            self.sock.close()
            self.sock = None


def _ask_once(port: int, raw: bytes) -> Reply | str:
    conn = Conn(port)
    try:
        return conn.ask(raw)
    finally:
        conn.close()


# -------------------------------------------------------------------------------------------------
# the load
# -------------------------------------------------------------------------------------------------
def _png(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, format="PNG")
    return buf.getvalue()


def _plan(root, outside) -> list[tuple[str, bytes, set, str]]:
    """80 requests: (kind, raw request, allowed statuses, a word the error must name)."""
    png = "data:image/png;base64," + base64.b64encode(_png()).decode()
    good = _chat("hi")
    malformed = [
        ("bad json", _request(b"{not json"), {400}, "body"),
        ("Content-Length abc", _request(good, headers={"Content-Length": "abc"}), {400}, "Content-Length"),
        ("Content-Length -5", _request(good, headers={"Content-Length": "-5"}), {400}, "Content-Length"),
        ("no Content-Length", _request(good, headers={"Content-Length": None}) + good, {411}, "Content-Length"),
        ("chunked", _request(b"", headers={"Content-Length": None, "Transfer-Encoding": "chunked"})
         + b"5\r\nhello\r\n0\r\n\r\n", {411}, "chunked"),
        ("over the body limit", _request(b"x" * 300_000), {413}, "limit"),
        ("wrong path", _request(good, path="/v1/nowhere"), {404}, "/v1/nowhere"),
        ("wrong method", _request(good, method="PUT"), {405}, "PUT"),
        ("no messages", _request(b'{"model": null}'), {400}, "messages"),
        ("unknown part", _request(_chat([{"type": "audio"}])), {400}, "messages[0].content[0].type"),
        ("bad temperature", _request(_chat("hi", temperature="hot")), {400}, "temperature"),
        ("bad top_p", _request(_chat("hi", top_p=0)), {400}, "top_p"),
        ("unfinished body", _request(good, headers={"Content-Length": str(len(good) + 50)}), {408}, "Content-Length"),
    ]
    plan = []
    for i in range(80):
        if i % 10 == 9:  # file:// URLs: under the media root (read), outside it (refused)
            inside = i % 20 == 9
            url = (root / "a.png").as_uri() if inside else outside.as_uri()
            plan.append(("file url" if inside else "file url outside", _request(_chat(
                [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "what?"}])),
                {200, 503} if inside else {400}, "" if inside else "messages[0].content[0].image_url.url"))
        elif i % 6 == 4:
            plan.append(malformed[(i // 6) % len(malformed)])
        elif i % 3 == 0:
            plan.append(("image", _request(_chat([{"type": "image_url", "image_url": {"url": png}},
                                                  {"type": "text", "text": "colour?"}])), {200, 503}, ""))
        else:
            plan.append(("text", _request(_chat(f"hello {i}")), {200, 503}, ""))
    return plan


def run_load(port: int, plan, clients: int = 40) -> list[tuple[str, Reply | str]]:
    """``plan`` spread over ``clients`` workers, each on one kept-alive connection."""
    share = [plan[w::clients] for w in range(clients)]

    def worker(items):
        conn, out = Conn(port), []
        try:
            for kind, raw, *_ in items:
                out.append((kind, conn.ask(raw)))
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(clients) as ex:
        results = list(ex.map(worker, share))
    # back in plan order
    return [results[i % clients][i // clients] for i in range(len(plan))]


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "a.png").write_bytes(_png((10, 200, 10)))
    outside = tmp_path / "outside.png"
    outside.write_bytes(_png())
    return root, outside


def test_every_request_gets_an_answer_under_load(media):
    root, outside = media
    gen = ScriptedGenerator(noise=0, malformed=0, delay_s=0.01)
    srv = ChatServer(gen, "scripted", port=0, quiet=True, max_body_mb=0.25, read_timeout_s=1.0,
                     media_root=root).start()
    plan = _plan(root, outside)
    t0 = time.monotonic()
    try:
        results = run_load(srv.port, plan)
        took = time.monotonic() - t0
        # the server still answers afterwards
        assert _ask_once(srv.port, _request(_chat("still there?"))).status == 200
    finally:
        srv.stop()
    counts = {}
    for (kind, _raw, allowed, needle), (_, reply) in zip(plan, results):
        assert isinstance(reply, Reply), f"{kind}: {reply}"  # an HTTP answer, not a reset or a silence
        counts[reply.status] = counts.get(reply.status, 0) + 1
        assert reply.status in ALLOWED and reply.status in allowed, (kind, reply.status, reply.body)
        if reply.status == 200:
            assert reply.body["object"] == "chat.completion" and reply.body["choices"][0]["message"]["content"]
        else:
            assert needle in reply.body["error"]["message"], (kind, reply.body)
            assert reply.body["error"]["code"] == reply.status
        if reply.status == 503:
            assert int(reply.headers["retry-after"]) >= 1
    assert len(results) == 80 and counts.get(200, 0) >= 50, counts
    assert took < 30, took


class Gate(Generator):
    """Holds every generation until ``go`` is set."""

    name = "gate"

    def __init__(self) -> None:
        self.go, self.entered = threading.Event(), threading.Event()

    def generate(self, requests, sampling):
        self.entered.set()
        assert self.go.wait(30)
        return [["ok"] * sampling.n for _ in requests]


def test_a_full_queue_answers_503_with_retry_after_then_serves_again():
    gate = Gate()
    srv = ChatServer(gate, "gate", port=0, quiet=True, max_queue=2).start()
    try:
        raw = _request(_chat("hi"))
        with ThreadPoolExecutor(10) as ex:
            first = ex.submit(_ask_once, srv.port, raw)
            assert gate.entered.wait(10)  # one is being answered
            waiting = [ex.submit(_ask_once, srv.port, raw) for _ in range(2)]
            deadline = time.monotonic() + 10
            while srv.pending < 3 and time.monotonic() < deadline:  # ... and two wait for the model
                time.sleep(0.01)
            assert srv.pending == 3
            conn = Conn(srv.port)
            busy = [conn.ask(raw) for _ in range(5)]  # answered at once, on one kept-alive connection
            conn.close()
            for r in busy:
                assert r.status == 503 and int(r.headers["retry-after"]) >= 1, (r.status, r.body)
                assert "--max-queue 2" in r.body["error"]["message"] and r.body["error"]["type"] == "server_busy"
                assert not r.closes  # the connection stays usable
            gate.go.set()
            assert [f.result(30).status for f in [first, *waiting]] == [200, 200, 200]
        assert srv.rejected == 5 and srv.pending == 0
        assert _ask_once(srv.port, raw).status == 200
    finally:
        gate.go.set()
        srv.stop()


def test_an_error_leaves_a_kept_alive_connection_usable():
    """A request answered before its body was read (a wrong path) must not leave the body to be read as the
    next request; one whose body cannot be framed is answered, then closed gracefully (no reset)."""
    srv = ChatServer(ScriptedGenerator(noise=0, malformed=0), "scripted", port=0, quiet=True,
                     max_body_mb=1).start()
    try:
        conn = Conn(srv.port)
        assert conn.ask(_request(_chat("x" * 70_000), path="/nowhere")).status == 404
        assert conn.sock is not None  # kept alive, and the next request on it is answered as itself
        assert conn.ask(_request(_chat("hi"))).status == 200
        big = conn.ask(_request(b"y" * 3_000_000))  # over the limit: 413, then the connection closes
        assert big.status == 413 and big.closes and "over the limit" in big.body["error"]["message"]
        assert conn.sock is None
        assert conn.ask(_request(_chat("hi"))).status == 200
        conn.close()
    finally:
        srv.stop()
