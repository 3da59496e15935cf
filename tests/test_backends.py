"""Generation back-ends through the evaluation runner: OpenAI-compatible HTTP (a real local server),
transformers (the tiny model), and `onethinker infer`."""

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from onethinker.data.records import read_records, write_records
from onethinker.evaluate.infer import infer_one
from onethinker.evaluate.runner import EvalConfig, evaluate
from onethinker.evaluate.store import ResultStore
from onethinker.generate.base import GenerationRequest, Generator, SamplingConfig
from onethinker.generate.openai_backend import OpenAIGenerator
from http_helpers import send_json


class FakeChat(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        choices = [{"index": i, "message": {"role": "assistant", "content": "<think>t</think><answer>A</answer>"}}
                   for i in range(body.get("n", 1))]
        send_json(self, 200, {"choices": choices})

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    srv.requests = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_backend_sends_images_and_timed_frames_inline(chat_server, corpus, tmp_path, monkeypatch):
    srv, url = chat_server
    monkeypatch.setenv("MY_KEY", "sk-test")
    recs = list(read_records(corpus / "eval_synthetic.json"))
    img = next(r for r in recs if r["data_type"] == "image" and r["problem_type"] == "multiple choice")
    vid = next(r for r in recs if r["data_type"] == "video")
    bench = tmp_path / "b.json"
    write_records(bench, [img, vid])
    gen = OpenAIGenerator("served-model", base_url=url, api_key_env="MY_KEY")
    res = evaluate(gen, [bench], tmp_path / "out", media_root=corpus, config=EvalConfig(video_fps=2.0))[0]
    assert res.items == 2
    def is_video(request) -> bool:  # a video's frames come with "<t seconds>" texts
        return any(c["type"] == "text" and c["text"].endswith("seconds>") for c in request[2]["messages"][0]["content"])

    (path, headers, body_img), (_, _, body_vid) = sorted(srv.requests, key=is_video)
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-test"
    assert body_img["model"] == "served-model" and body_img["temperature"] == 0.0
    content = body_img["messages"][0]["content"]
    assert content[0]["type"] == "image_url" and content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    sent = base64.b64decode(content[0]["image_url"]["url"].split(",", 1)[1], validate=True)
    with Image.open(io.BytesIO(sent)) as got, Image.open(corpus / img["path"]) as original:
        assert got.format == "PNG" and got.size == original.size  # the record's image, not resized
        assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(original.convert("RGB")))
    assert content[-1]["type"] == "text" and "Options:" in content[-1]["text"]
    vcontent = body_vid["messages"][0]["content"]
    stamps = [c["text"] for c in vcontent if c["type"] == "text" and c["text"].endswith("seconds>")]
    assert stamps[:3] == ["<0.0 seconds>", "<0.5 seconds>", "<1.0 seconds>"]
    rows = ResultStore(tmp_path / "out" / "b.jsonl").rows()
    assert {r["answer"] for r in rows} == {"A"}


@pytest.fixture(scope="module")
def tiny_model(corpus, tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny")
    build_tiny(out, corpus_dir=corpus, size="tiny", seed=0)
    return out


def test_transformers_backend_evaluates_the_tiny_model(tiny_model, corpus, tmp_path, monkeypatch):
    from onethinker.generate import build_generator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen = build_generator("transformers", str(tiny_model))
    recs = list(read_records(corpus / "eval_synthetic.json"))
    picks = [next(r for r in recs if r["data_type"] == d) for d in ("image", "video")]
    bench = tmp_path / "tiny.json"
    write_records(bench, picks)
    res = evaluate(gen, [bench], tmp_path / "out", media_root=corpus, config=EvalConfig(batch_size=2),
                   sampling=SamplingConfig(max_new_tokens=6))[0]
    rows = ResultStore(tmp_path / "out" / "tiny.jsonl").rows()
    assert res.items == 2 and all(isinstance(r["output"], str) and r["error"] is None for r in rows)
    assert (tmp_path / "out" / "report.html").is_file()


class FixedAnswer(Generator):
    name = "fixed"

    def __init__(self, text):
        self.text = text

    def generate(self, requests, sampling):
        self.seen = requests
        return [[self.text] for _ in requests]


def test_infer_segments_and_draws(corpus, tmp_path):
    rec = next(r for r in read_records(corpus / "eval_synthetic.json")
               if r["problem_type"] == "segmentation" and r["data_type"] == "image")
    answer = rec["solution"].removeprefix("<answer>").removesuffix("</answer>")
    gen = FixedAnswer(f"<think>It is there.</think><answer>{answer}</answer>")
    result = infer_one(gen, corpus / rec["path"], "segmentation", rec["problem"], out_dir=tmp_path, segmenter="grabcut")
    assert result["parsed"] and result["reasoning"] == "It is there." and result["segmenter"] == "grabcut"
    assert result["answer"]["box"] == json.loads(answer)["boxes"]
    assert any(f.endswith(".png") for f in result["files"]) and (tmp_path / "answer.json").is_file()
    text = gen.seen[0].messages[0]["content"][-1]["text"]
    assert text.startswith(rec["problem"]) and "3 positive points" in text


def test_infer_cli_reports_an_unparseable_answer(corpus, tmp_path, capsys, tiny_model, monkeypatch):
    from onethinker.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = next(r for r in read_records(corpus / "eval_synthetic.json") if r["data_type"] == "video")
    code = main(["infer", "--model", str(tiny_model), "--media", str(corpus / rec["path"]), "--problem-type",
                 "temporal grounding", "--question", "When does the red circle appear?", "--out", str(tmp_path),
                 "--max-new-tokens", "4"])
    assert code == 0
    err = capsys.readouterr().err
    assert "answer" in err and "could not parse" in err
    saved = json.loads((tmp_path / "answer.json").read_text())
    assert saved["data_type"] == "video" and saved["parsed"] is False


def test_backends_register_themselves_and_load_lazily(monkeypatch):
    """The factory finds a back-end by name in the registry, importing a built-in one's module on first use;
    a back-end registered from outside is built the same way."""
    import onethinker.generate.base as gb

    assert gb.backend_names()[:4] == ("transformers", "vllm", "openai", "scripted")
    import sys

    # as if the scripted back-end's module had not been imported yet
    monkeypatch.setattr(gb, "_REGISTRY", {k: v for k, v in gb._REGISTRY.items() if k != "scripted"})
    monkeypatch.delitem(sys.modules, "onethinker.generate.scripted", raising=False)
    assert type(gb.build_generator("scripted", noise=0.0)).__name__ == "ScriptedGenerator"
    assert "scripted" in gb._REGISTRY and "onethinker.generate.scripted" in sys.modules
    with pytest.raises(ValueError, match="needs --model"):
        gb.build_generator("openai")

    @gb.register_backend("echo", model_hint="echo needs a model", cli_options=("seed",))
    class Echo(Generator):
        def __init__(self, model, **options):
            self.model, self.options = model, options

    built = gb.build_generator("echo", "m", seed=3)
    assert isinstance(built, Echo) and built.model == "m" and built.options == {"seed": 3}
    assert "echo" in gb.backend_names() and gb.backend_class("echo").cli_options == ("seed",)
    with pytest.raises(ValueError, match="unknown back-end 'nope'"):
        gb.build_generator("nope")


# -------------------------------------------------------------------------------------------------
# the openai back-end's retries: which failures are retried, and how long it waits between tries
# -------------------------------------------------------------------------------------------------
class Flaky(BaseHTTPRequestHandler):
    """Answers with ``server.script``'s (status, headers) in turn, then 200."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.times.append(time.monotonic())
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = ({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]} if status == 200
                else {"error": {"message": f"status {status}"}})
        send_json(self, status, body, headers)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    srv.daemon_threads = True
    srv.script, srv.times = [], []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def _ask(url, **kwargs):
    gen = OpenAIGenerator("m", base_url=url, **kwargs)
    return gen.generate([GenerationRequest([{"role": "user", "content": "hi"}])], SamplingConfig(n=1))


def test_retry_after_header_values():
    from email.utils import formatdate

    from onethinker.generate.openai_backend import retry_after_seconds

    assert retry_after_seconds("2") == 2.0 and retry_after_seconds(" 1.5 ") == 1.5 and retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + 7, usegmt=True), now=now) == 7.0  # an HTTP date
    assert retry_after_seconds(formatdate(now - 7, usegmt=True), now=now) == 0.0  # already past


def test_openai_backend_backs_off_exponentially_and_honours_retry_after(flaky, monkeypatch):
    """The waits between tries, recorded instead of slept: backoff_s x 2^attempt (at most 30 s) for timeouts,
    429 and 5xx, the server's Retry-After when longer (at most 60 s); a 4xx other than 429 is not retried."""
    from email.utils import formatdate

    import onethinker.generate.openai_backend as ob

    srv, url = flaky
    waits = []
    monkeypatch.setattr(ob, "_sleep", waits.append)
    cases = [  # script, backoff_s, the waits expected
        ([(500, {}), (503, {})], 0.25, [0.25, 0.5]),
        ([(429, {"Retry-After": "2"})], 0.25, [2.0]),  # the server asks for longer: its wait
        ([(429, {"Retry-After": "0"})], 0.25, [0.25]),  # shorter than the back-off: the back-off
        ([(429, {"Retry-After": "600"})], 0.25, [60.0]),  # capped at a minute
        ([(500, {}), (500, {}), (500, {})], 20.0, [20.0, 30.0, 30.0]),  # the back-off is capped at 30 s
    ]
    for script, backoff, expected in cases:
        srv.script, waits[:] = list(script), []
        assert _ask(url, retries=3, backoff_s=backoff) == [["ok"]]
        assert waits == expected, script
    srv.script, waits[:] = [(429, {"Retry-After": formatdate(time.time() + 5, usegmt=True)})], []
    assert _ask(url, retries=3, backoff_s=0.25) == [["ok"]]
    assert len(waits) == 1 and 3.0 < waits[0] <= 5.0  # an HTTP date: the seconds until then
    # retries run out: the error names the attempts and the last status
    srv.script, waits[:] = [(500, {})] * 4, []
    with pytest.raises(RuntimeError, match=r"failed after 3 attempt\(s\): HTTP 500"):
        _ask(url, retries=2, backoff_s=1.0)
    assert waits == [1.0, 2.0]
    srv.script = []
    # a request the server refuses is not asked again
    srv.script, waits[:] = [(400, {}), (200, {})], []
    with pytest.raises(RuntimeError, match=r"after 1 attempt\(s\): HTTP 400"):
        _ask(url, retries=3, backoff_s=1.0)
    assert waits == []


def test_openai_backend_really_waits_between_tries(flaky):
    """With a small non-zero back-off the tries are that far apart in time (the other tests use zero)."""
    srv, url = flaky
    srv.script, srv.times = [(500, {}), (502, {})], []
    assert _ask(url, retries=2, backoff_s=0.1) == [["ok"]]
    gaps = [b - a for a, b in zip(srv.times, srv.times[1:])]
    assert len(gaps) == 2 and gaps[0] >= 0.1 and gaps[1] >= 0.2
    srv.script, srv.times = [(429, {"Retry-After": "0.4"})], []
    assert _ask(url, retries=2, backoff_s=0.01) == [["ok"]]
    assert srv.times[1] - srv.times[0] >= 0.4
