"""`onethinker serve`: what the README claims beyond tests/test_annotate.py (endpoints, errors, annotate against
it) and tests/test_serve_load.py (load, the bounded queue): the exit statuses, the request fields that reach
generation (``top_p``, ``seed``, ``n``, ``temperature``, ``max_tokens``) and are honoured by the tiny model,
``video_url`` parts (a data URL or a ``file://`` URL under ``--media-root``) decoded as videos."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from onethinker.cli import main
from onethinker.data.media import probe_video, write_video
from onethinker.generate.base import Generator
from onethinker.generate.server import ChatServer


def _post(url, body):
    req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _user(content):
    return [{"role": "user", "content": content}]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 1 s, 8 fps, 32x32 mp4 whose frames change colour."""
    d = tmp_path_factory.mktemp("clip")
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    for i in range(8):
        frames[i, :, :, i % 3] = 30 * i
    write_video(d / "clip.mp4", frames, 8)
    return d / "clip.mp4"


class Recorder(Generator):
    """Records the messages and the sampling settings it is asked with (and what the video parts hold while
    the request is being answered); replies with the settings."""

    name = "recorder"

    def __init__(self):
        self.calls = []

    def generate(self, requests, sampling):
        for req in requests:
            videos = [c for m in req.messages if isinstance(m["content"], list) for c in m["content"]
                      if c["type"] == "video"]
            self.calls.append({"sampling": sampling, "messages": req.messages,
                               "videos": [(v, probe_video(v["video"])) for v in videos]})
        return [[f"top_p={sampling.top_p} seed={sampling.seed}"] * sampling.n for _ in requests]


# -------------------------------------------------------------------------------------------------
# exit statuses (README, "Command line")
# -------------------------------------------------------------------------------------------------
def test_exit_2_when_the_model_cannot_be_loaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "no such checkpoint folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["serve", "--model", str(tmp_path / "empty"), "--port", "0"]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err


def test_exit_2_for_the_openai_backend(capsys):
    assert main(["serve", "--backend", "openai", "--model", "x", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "serve runs a model here" in capsys.readouterr().err


def test_exit_2_for_a_taken_port_and_bad_settings(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["serve", "--backend", "scripted", "--port", str(s.getsockname()[1])]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["serve", "--backend", "scripted", "--port", "0", "--max-queue", "-1"]) == 2
    assert "max_queue" in capsys.readouterr().err
    assert main(["serve", "--backend", "scripted", "--port", "0", "--media-root", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_the_command_serves_then_exits_0_on_ctrl_c(tmp_path):
    # Output to a file, not a pipe nobody drains after the first line (a full pipe would block the exit). SIGINT
    # back to its default in the child: a test run started in the background (nohup, `&`) ignores SIGINT, the
    # child would inherit that, and Python then installs no KeyboardInterrupt handler (Ctrl-C would do nothing).
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "onethinker", "serve", "--backend", "scripted", "--port", "0",
                                 "--max-queue", "4"], stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "COLUMNS": "300"},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while "serving" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        line = next((ln for ln in log.read_text().splitlines() if "serving" in ln), "")
        assert line, log.read_text()
        url = line.split(" at ")[1].split()[0]
        status, body = _post(url, {"messages": _user("hi")})
        assert status == 200 and body["choices"][0]["message"]["content"]
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within 120 s of Ctrl-C; its output:\n{log.read_text()}")
        assert code == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -------------------------------------------------------------------------------------------------
# the request fields reach generation
# -------------------------------------------------------------------------------------------------
def test_sampling_fields_reach_generation():
    rec = Recorder()
    srv = ChatServer(rec, "m", port=0, quiet=True).start()
    try:
        status, body = _post(srv.url, {"messages": _user("hi"), "top_p": 0.25, "seed": 1234, "n": 3,
                                       "temperature": 0.7, "max_completion_tokens": 17})
        assert status == 200 and [c["message"]["content"] for c in body["choices"]] == ["top_p=0.25 seed=1234"] * 3
        s = rec.calls[-1]["sampling"]
        assert (s.top_p, s.seed, s.n, s.temperature, s.max_new_tokens) == (0.25, 1234, 3, 0.7, 17)
        # the defaults: OpenAI's temperature 1 and top_p 1, seed 0, one sample, 1024 tokens
        assert _post(srv.url, {"messages": _user("hi")})[0] == 200
        s = rec.calls[-1]["sampling"]
        assert (s.top_p, s.seed, s.n, s.temperature, s.max_new_tokens) == (1.0, 0, 1, 1.0, 1024)
        for field, value in [("top_p", 0), ("top_p", 1.5), ("top_p", "0.5"), ("seed", "7"), ("seed", 1.5),
                             ("seed", True), ("n", 0), ("n", 10_000), ("temperature", -1), ("max_tokens", 0),
                             ("max_tokens", "many")]:
            status, body = _post(srv.url, {"messages": _user("hi"), field: value})
            assert status == 400 and f"{field}:" in body["error"]["message"], (field, value, body)
        assert len(rec.calls) == 2  # none of the bad ones reached the model
    finally:
        srv.stop()


def test_seed_and_top_p_are_honoured_by_the_tiny_model(tiny_model_dir, monkeypatch):
    from onethinker.generate import build_generator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srv = ChatServer(build_generator("transformers", str(tiny_model_dir)), "tiny", port=0, quiet=True).start()

    def reply(**kw):
        status, body = _post(srv.url, {"messages": _user("What is in the picture?"), "max_tokens": 12, **kw})
        assert status == 200, body
        return body["choices"][0]["message"]["content"]

    try:
        first = reply(temperature=1.0, seed=11)
        assert reply(temperature=1.0, seed=11) == first  # the same seed, the same sample
        others = {reply(temperature=1.0, seed=s) for s in (12, 13, 14)}
        assert others - {first}, "other seeds should give other samples from a random model"
        # top_p this small keeps only the most likely token: sampling at temperature 1 is then greedy
        greedy = reply(temperature=0)
        assert {reply(temperature=1.0, top_p=1e-6, seed=s) for s in (1, 2, 3)} == {greedy}
    finally:
        srv.stop()


# -------------------------------------------------------------------------------------------------
# video_url parts
# -------------------------------------------------------------------------------------------------
def test_video_urls_are_decoded_as_videos(clip, tmp_path):
    rec = Recorder()
    srv = ChatServer(rec, "m", port=0, quiet=True, video_fps=4, max_frames=6, media_root=clip.parent).start()
    data_url = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    try:
        # a data URL: written to a temporary file for the request, a video item with the server's fps and frames
        status, _ = _post(srv.url, {"messages": _user([{"type": "video_url", "video_url": {"url": data_url}},
                                                       {"type": "text", "text": "what happens?"}])})
        assert status == 200
        (item, info), = rec.calls[-1]["videos"]
        assert item["type"] == "video" and item["fps"] == 4 and item["max_frames"] == 6
        assert (info.width, info.height, info.n_frames) == (32, 32, 8)
        assert not os.path.exists(item["video"])  # removed once answered
        # a file:// URL under the media root: the file itself
        status, _ = _post(srv.url, {"messages": _user([{"type": "video_url", "video_url": {"url": clip.as_uri()}}])})
        assert status == 200 and rec.calls[-1]["videos"][0][0]["video"] == str(clip.resolve())
        assert clip.exists()
        # not a video, outside the media root, an escape, a web URL: 400 naming the field
        junk = "data:video/mp4;base64," + base64.b64encode(b"not a video at all").decode()
        outside = tmp_path / "elsewhere.mp4"
        outside.write_bytes(clip.read_bytes())
        for url, needle in [(junk, "not a readable video"), (outside.as_uri(), "not a file under the media root"),
                            ("file:../elsewhere.mp4", "not a file under the media root"),
                            ((clip.parent / "missing.mp4").as_uri(), "no such file"),
                            ("https://example.com/v.mp4", "data:video")]:
            status, body = _post(srv.url, {"messages": _user([{"type": "video_url", "video_url": {"url": url}}])})
            assert status == 400, (url, body)
            assert "messages[0].content[0].video_url" in body["error"]["message"], body
            assert needle in body["error"]["message"], body
        assert len(rec.calls) == 2
    finally:
        srv.stop()
    # without --media-root, file URLs are refused and say how to allow them
    srv = ChatServer(Recorder(), "m", port=0, quiet=True).start()
    try:
        status, body = _post(srv.url, {"messages": _user([{"type": "video_url", "video_url": {"url": clip.as_uri()}}])})
        assert status == 400 and "--media-root" in body["error"]["message"]
    finally:
        srv.stop()


def test_the_tiny_model_answers_about_a_video_data_url(tiny_model_dir, clip, monkeypatch):
    from onethinker.generate import build_generator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srv = ChatServer(build_generator("transformers", str(tiny_model_dir)), "tiny", port=0, quiet=True,
                     video_fps=2, max_frames=4).start()
    data_url = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    try:
        text_only = _post(srv.url, {"messages": _user("what happens?"), "max_tokens": 4, "temperature": 0})
        with_video = _post(srv.url, {"messages": _user([{"type": "video_url", "video_url": {"url": data_url}},
                                                        {"type": "text", "text": "what happens?"}]),
                                     "max_tokens": 4, "temperature": 0})
        assert text_only[0] == with_video[0] == 200, with_video
        # the video's frames became visual tokens in the prompt
        assert with_video[1]["usage"]["prompt_tokens"] > text_only[1]["usage"]["prompt_tokens"]
    finally:
        srv.stop()
