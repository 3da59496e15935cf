"""The POLAR judge client against a real HTTP server on 127.0.0.1 speaking vLLM's /pooling protocol."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from onethinker.reward.judge import JudgeConfig, JudgeItem, PolarJudge, normalize_groups, polar_text
from onethinker.rewards import RewardConfig, RewardScorer
from onethinker.reward.scorers import TextScorers
from http_helpers import send_json


def _output_of(text: str) -> str:
    # polar_text(prompt, reference, output) = prompt\nreference<|reward|>prompt\noutput[UNUSED_TOKEN_130]
    after = text.split("<|reward|>", 1)[1]
    return after.split("\n", 1)[1].removesuffix("[UNUSED_TOKEN_130]")


class FakePolar(BaseHTTPRequestHandler):
    """Scores a text by the length of its output part; knobs live on the server object."""

    def do_POST(self):  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.requests.append((self.path, body))
            n = len(srv.requests)
        if srv.delay:
            time.sleep(srv.delay)
        if self.path != "/pooling" or n <= srv.fail_first or srv.always_fail:
            self.send_response(500)
            self.end_headers()
            return
        data = [{"index": i, "data": [[0.0], [float(len(_output_of(t)))]]} for i, t in enumerate(body["input"])]
        if srv.drop_one:
            data = data[:-1]
        send_json(self, 200, {"object": "list", "data": data})

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakePolar)
    srv.lock = threading.Lock()
    srv.requests, srv.fail_first, srv.always_fail, srv.delay, srv.drop_one = [], 0, False, 0.0, False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def rouge(ref, out):
    return max(0.0, min(1.0, TextScorers.fast_cached().rouge_mean(ref, out)))


def judge(server, **kw):
    cfg = JudgeConfig(backend="polar", url=server.url, model="internlm/POLAR-7B", backoff_s=0.0, **kw)
    return PolarJudge(cfg, fallback=rouge)


def test_request_text_and_protocol(server):
    j = judge(server, normalize_by_problem_id=False)
    assert j.score([JudgeItem("What?", "a cat", "a dog")]) == [1.0]  # len("a dog") = 5, clipped to 1
    path, body = server.requests[0]
    assert path == "/pooling"
    assert body["model"] == "internlm/POLAR-7B"
    assert body["input"] == ["What?\na cat<|reward|>What?\na dog[UNUSED_TOKEN_130]"]
    assert polar_text("p", "r", "o") == "p\nr<|reward|>p\no[UNUSED_TOKEN_130]"


def test_batches_and_per_prompt_normalisation(server):
    items = [JudgeItem("q", "ref", "x" * k, group=f"p{k % 2}") for k in range(1, 11)]
    j = judge(server, batch_size=4, concurrency=2)
    scores = j.score(items)
    assert sorted(len(b["input"]) for _, b in server.requests) == [2, 4, 4]
    raw = [float(k) for k in range(1, 11)]
    for g in ("p0", "p1"):
        idx = [i for i, it in enumerate(items) if it.group == g]
        v = np.array([raw[i] for i in idx], dtype=np.float32)
        z = (v - v.mean()) / (v.std() + np.float32(1e-6))
        expect = (z - z.min()) / (z.max() - z.min() + np.float32(1e-12))
        assert [scores[i] for i in idx] == pytest.approx(expect.tolist(), abs=1e-7)
        assert min(scores[i] for i in idx) == 0.0 and max(scores[i] for i in idx) == pytest.approx(1.0)
    assert j.stats.batches == 3 and j.stats.fallback_batches == 0


def test_equal_scores_in_a_group_become_one():
    assert normalize_groups([3.0, 3.0, 5.0, 1.0], ["a", "a", "b", "b"]) == [1.0, 1.0, 1.0, 0.0]


def test_retries_then_success(server):
    server.fail_first = 2
    j = judge(server, retries=3, normalize_by_problem_id=False)
    assert j.score([JudgeItem("q", "r", "abc")]) == [1.0]
    assert j.stats.requests == 3 and j.stats.failed_requests == 2 and j.stats.fallback_items == 0


def test_failed_batches_fall_back_to_rouge_and_are_counted(server):
    server.always_fail = True
    items = [JudgeItem("q", "a red circle", "a red square"), JudgeItem("q", "two", "two")]
    j = judge(server, retries=1, batch_size=1, normalize_by_problem_id=False)
    scores = j.score(items)
    assert scores == [rouge("a red circle", "a red square"), rouge("two", "two")]
    assert j.stats.fallback_batches == 2 and j.stats.fallback_items == 2 and j.stats.requests == 4
    assert "HTTPError" in j.stats.errors[0]


def test_timeouts_and_bad_payloads_fall_back(server):
    server.delay = 1.0
    j = judge(server, retries=0, timeout_s=0.2, normalize_by_problem_id=False)
    assert j.score([JudgeItem("q", "a b", "a b")]) == [1.0]  # ROUGE of identical texts
    assert j.stats.fallback_items == 1
    server.delay, server.drop_one = 0.0, True
    j = judge(server, retries=1, normalize_by_problem_id=False)
    j.score([JudgeItem("q", "r", "o"), JudgeItem("q", "r", "oo")])
    assert j.stats.fallback_items == 2 and "expected 2 results" in j.stats.errors[0]


def test_reward_scorer_sends_open_ended_items_to_the_judge(server):
    cfg = RewardConfig(workers=0, judge=JudgeConfig(backend="polar", url=server.url, backoff_s=0.0))
    items = [
        {"response": f"<think>t</think><answer>{'w ' * k}</answer>", "ground_truth": "<answer>a b</answer>",
         "problem_type": "open-ended", "data_type": "video", "problem_id": 7, "problem": "Describe."}
        for k in (1, 2, 3)
    ] + [{"response": "<think>t</think><answer>B</answer>", "ground_truth": "B",
          "problem_type": "multiple choice", "data_type": "image"}]
    with RewardScorer(cfg) as scorer:
        results = scorer.score_batch(items)
    assert [r.accuracy for r in results] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert results[2].overall == pytest.approx(0.9 * 1.0 + 0.1 * 1.0 + 0.5)
    assert scorer.last_stats.judged == 3 and scorer.last_stats.judge_fallback == 0
    sent = server.requests[0][1]["input"]
    assert sent[0] == "Describe.\na b<|reward|>Describe.\nw[UNUSED_TOKEN_130]"


def test_bad_judge_config():
    with pytest.raises(ValueError, match="backend"):
        JudgeConfig(backend="gpt")
