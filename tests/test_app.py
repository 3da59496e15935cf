"""`onethinker app`: the page's runs (AppRunner), the Gradio app served on a loopback port and called with
gradio_client (a tiny random Qwen3-VL, and fixed well-formed answers for the drawn-answer checks), the
command's errors, and (slow) the page driven in headless Chromium."""

import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onethinker.app import AppRunner, AppSettings, load_examples, parse_options, read_examples
from onethinker.generate.base import Generator
from onethinker.report.draw import PRED_COLOR

gradio = pytest.importorskip("gradio", reason='gradio is not installed (pip install -e ".[app]")')
pytestmark = [  # gradio 6's queue calls pandas options that pandas 3 deprecates
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed (it comes with gradio)")

BOX_QUESTION = "Where is the box drawn by the test?"
SPAN_QUESTION = "When does the test span happen?"
BOX_REPLY = '<think>It is on the left.</think><answer>{"boxes": [100, 200, 400, 600]}</answer>'
SPAN_REPLY = '<think>It shows up early.</think><answer>{"time": [1.0, 3.5]}</answer>'


class Fixed(Generator):
    """Answers every question with one reply (and reports token counts, as real back-ends do)."""

    name = "fixed"

    def __init__(self, text, fail=None):
        self.text, self.fail = text, fail

    def generate(self, requests, sampling):
        if self.fail:
            raise self.fail
        for r in requests:
            r.usage.update(prompt_tokens=11, completion_tokens=7)
        return [[self.text] for _ in requests]


class Routed(Generator):
    """The tiny model, except for the test's own questions, which get fixed well-formed replies."""

    def __init__(self, model, replies):
        self.model, self.replies = model, replies
        self.name = self.model.name

    def generate(self, requests, sampling):
        question = requests[0].record.get("problem")
        if question in self.replies:
            return Fixed(self.replies[question]).generate(requests, sampling)
        return self.model.generate(requests, sampling)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def examples(corpus):
    return {(e.task_key, e.data_type): e for e in read_examples(corpus, limit=100)}


@pytest.fixture(scope="module")
def served(tiny_model_dir, examples):
    """The app over the tiny model, on a loopback port: (url, runner)."""
    from onethinker.app import build_app, launch_app
    from onethinker.generate.base import build_generator

    tiny = build_generator("transformers", str(tiny_model_dir))
    runner = AppRunner(Routed(tiny, {BOX_QUESTION: BOX_REPLY, SPAN_QUESTION: SPAN_REPLY}),
                       AppSettings(max_new_tokens=12, segmenter="grabcut"))
    page = build_app(runner, examples=list(examples.values())[:4])
    url = launch_app(page, host="127.0.0.1", port=free_port())
    yield url, runner
    page.close()
    runner.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[0], verbose=False)


def picture(path):
    return np.asarray(Image.open(path).convert("RGB"))


# -------------------------------------------------------------------------------------------------
# the served app, through gradio_client
# -------------------------------------------------------------------------------------------------
def test_api_info_lists_the_run_endpoint(served):
    with urllib.request.urlopen(served[0] + "gradio_api/info", timeout=30) as resp:
        info = json.loads(resp.read())
    assert list(info["named_endpoints"]) == ["/run"]
    params = [p["parameter_name"] for p in info["named_endpoints"]["/run"]["parameters"]]
    assert params == ["media", "problem_type", "question", "options", "max_new_tokens", "temperature"]
    assert len(info["named_endpoints"]["/run"]["returns"]) == 7


def test_the_tiny_model_answers_an_image_question(client, served, examples):
    """The page's answer is exactly the tiny model's own greedy reply to the question (asked here outside
    the page): the same text, reasoning, token counts, and the same parse result. The random model's 12
    tokens cannot hold a box, so the page says, precisely, why the answer did not parse."""
    from gradio_client import handle_file

    from onethinker.app.runner import _code
    from onethinker.evaluate.infer import infer_one

    img = examples["spatial grounding", "image"]
    message, pic, video, answer, reasoning, stats, output = client.predict(
        handle_file(img.media), "spatial grounding", img.question, api_name="/run")
    direct = infer_one(served[1].generator.model, img.media, "spatial grounding", img.question, [], out_dir=None,
                       max_new_tokens=12, temperature=0.0, segmenter="grabcut")
    assert direct["output"] and not direct["parsed"] and direct["parse_error"]
    assert output == direct["output"] and reasoning == (direct["reasoning"] or "")
    why, raw = direct["parse_error"], direct["answer_text"]
    assert message == f"**The answer did not parse:** {_code(why)}. The whole reply is under *Raw output*."
    assert answer == f"(not parsed: {why})" + (f"\n{raw}" if raw else "")
    usage = direct["usage"]
    assert re.fullmatch(rf"generation [\d.]+ s · {usage['prompt_tokens']} prompt tokens · "
                        rf"{usage['completion_tokens']} completion tokens · [\d.]+ tokens/s · total [\d.]+ s", stats)
    assert video is None
    source = Image.open(img.media)
    drawn = Image.open(pic)
    assert drawn.format == "PNG" and drawn.width >= source.width and drawn.height >= source.height


def test_a_parsed_box_is_drawn_on_the_image(client, examples):
    from gradio_client import handle_file

    img = examples["spatial grounding", "image"]
    message, pic, video, answer, reasoning, stats, output = client.predict(
        handle_file(img.media), "spatial grounding", BOX_QUESTION, "", api_name="/run")
    assert message == "" and video is None
    assert json.loads(answer) == [100, 200, 400, 600]
    assert reasoning == "It is on the left." and output == BOX_REPLY
    assert "11 prompt tokens" in stats and "7 completion tokens" in stats
    a, src = picture(pic), Image.open(img.media)
    w = a.shape[1]
    h = round(w * src.height / src.width)  # the image, scaled; the legend strip is below it
    x, y = round(0.1 * w), round(0.4 * h)  # the left edge of the box, half-way down
    patch = a[y - 2:y + 3, max(0, x - 3):x + 4].reshape(-1, 3)
    assert (patch == np.array(PRED_COLOR)).all(axis=1).any()


def test_a_video_answer_comes_back_as_a_video_and_a_filmstrip(client, examples):
    from gradio_client import handle_file

    vid = examples["temporal grounding", "video"]
    message, pic, video, answer, reasoning, stats, output = client.predict(
        handle_file(vid.media), "temporal grounding", SPAN_QUESTION, "", api_name="/run")
    assert message == "" and json.loads(answer) == [1.0, 3.5]
    assert Path(video).suffix == ".mp4" and Path(video).stat().st_size > 1000
    assert Image.open(pic).format == "PNG"


def test_errors_come_back_as_messages(client, examples, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a picture")
    message, pic, video, answer, *_ = client.predict(handle_file(str(bad)), "spatial grounding", "x", api_name="/run")
    assert message.startswith("**Error:** cannot read `broken.png` as an image") and pic is None and answer == ""
    assert str(tmp_path) not in message
    img = examples["spatial grounding", "image"]
    message, *_ = client.predict(handle_file(img.media), "tracking", "x", api_name="/run")
    assert "tracking takes a video" in message
    message, *_ = client.predict(handle_file(img.media), "no such task", "x", api_name="/run")
    assert "unknown task" in message


# -------------------------------------------------------------------------------------------------
# the runner alone
# -------------------------------------------------------------------------------------------------
def test_an_answer_that_does_not_parse_is_a_message(examples):
    img = examples["spatial grounding", "image"]
    runner = AppRunner(Fixed("<think>hmm</think><answer>left, I think</answer>"))
    out = runner.run(img.media, "spatial grounding", "Where?")
    assert out.message.startswith("**The answer did not parse:** `") and "left, I think" in out.answer
    assert out.answer.startswith("(not parsed")
    assert out.reasoning == "hmm" and Path(out.picture).is_file()
    runner.close()
    assert not runner.work_dir.exists()


def test_generation_failure_and_missing_inputs_are_messages(examples):
    img = examples["multiple choice", "image"]
    runner = AppRunner(Fixed("", fail=RuntimeError("http://x/chat/completions failed after 4 attempt(s)")))
    out = runner.run(img.media, "multiple choice", img.question, "\n".join(img.options))
    assert out.message.startswith("**Error:** generation failed: `RuntimeError") and "4 attempt(s)" in out.message
    assert "needs options" in runner.run(img.media, "multiple choice", img.question, "").message
    assert "upload an image or a video" in runner.run(None, "multiple choice").message
    assert "no such file" in runner.run("/nonexistent/x.png", "multiple choice").message
    assert "at least 1" in runner.run(img.media, "numerical", "q", max_new_tokens=0).message
    seg = examples["segmentation/image", "image"]
    no_sam2 = AppRunner(Fixed(BOX_REPLY), AppSettings(segmenter="sam2"))  # no --sam2-checkpoint
    assert "cannot build the sam2 segmenter" in no_sam2.run(seg.media, "segmentation", seg.question).message
    runner.close()
    no_sam2.close()


def test_a_segmentation_answer_is_segmented_once_per_runner(examples, corpus):
    from onethinker.data.records import read_records

    ex = examples["segmentation/image", "image"]
    rec = next(r for f in ("eval_synthetic.json", "onethinker_rl_train.json") for r in read_records(corpus / f)
               if r["problem"] == ex.question and r["path"].endswith(Path(ex.media).name))
    reply = f"<think>t</think>{rec.get('solution') or '<answer>' + rec['answer'] + '</answer>'}"
    runner = AppRunner(Fixed(reply), AppSettings(segmenter="grabcut"))
    out = runner.run(ex.media, "segmentation", ex.question)
    assert out.message == "" and "segmenter grabcut" in out.stats and set(json.loads(out.answer)) >= {"box", "positive"}
    seg = runner.segmenter()
    runner.run(ex.media, "segmentation", ex.question)
    assert runner.segmenter() is seg
    runner.close()


def test_an_openai_compatible_endpoint_answers_through_the_runner(examples):
    """The openai back-end (any OpenAI-compatible server): the reply, and the token counts the server reports."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from onethinker.generate.base import build_generator

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"choices": [{"message": {"content": SPAN_REPLY}}],
                               "usage": {"prompt_tokens": 321, "completion_tokens": 9}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gen = build_generator("openai", "served-name", base_url=f"http://127.0.0.1:{server.server_port}/v1")
        runner = AppRunner(gen, AppSettings(max_new_tokens=64))
        vid = examples["temporal grounding", "video"]
        out = runner.run(vid.media, "temporal grounding", vid.question)
        assert out.message == "" and json.loads(out.answer) == [1.0, 3.5] and Path(out.video).is_file()
        assert "321 prompt tokens · 9 completion tokens" in out.stats
        assert seen[0]["model"] == "served-name" and seen[0]["max_tokens"] == 64
        runner.close()
    finally:
        server.shutdown()
        server.server_close()


def test_options_are_read_one_per_line_or_as_json():
    assert parse_options("A. cat\n\n B. dog \n") == ["A. cat", "B. dog"]
    assert parse_options('["A. cat", "B. dog"]') == ["A. cat", "B. dog"]
    assert parse_options(None) == [] and parse_options(["A. x", " "]) == ["A. x"]


def test_examples_are_made_when_the_folder_is_empty(tmp_path):
    from onethinker.tasks import TASKS

    made, folder = load_examples(tmp_path / "ex")
    assert folder == (tmp_path / "ex").resolve() and (folder / "eval_synthetic.json").is_file()
    keys = {e.task_key for e in made}
    assert {k for k, t in TASKS.items() if t.picture} <= keys
    again, _ = load_examples(tmp_path / "ex")  # read back, not made again
    assert [e.row() for e in again] == [e.row() for e in made]


# -------------------------------------------------------------------------------------------------
# the command
# -------------------------------------------------------------------------------------------------
def test_the_command_names_the_extra_when_gradio_is_missing(monkeypatch, capsys):
    from onethinker.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio raises ImportError
    assert main(["app", "--model", "x"]) == 2
    assert 'pip install -e ".[app]" in the onethinker checkout' in capsys.readouterr().err


def test_the_command_reports_a_model_it_cannot_load(tmp_path, capsys):
    from onethinker.cli import main

    assert main(["app", "--model", str(tmp_path / "missing"), "--no-examples"]) == 2
    assert f"error: {tmp_path / 'missing'}: no such checkpoint folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["app", "--model", str(tmp_path / "empty"), "--no-examples"]) == 2
    assert (f"error: {tmp_path / 'empty'}: not a checkpoint folder (no config.json, nor adapter_config.json)"
            in capsys.readouterr().err)


def test_the_command_refuses_a_port_in_use(tmp_path, capsys):
    """Before the model loads (a missing model would be the other error)."""
    from onethinker.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["app", "--model", str(tmp_path / "missing"), "--no-examples", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot listen on 127.0.0.1:{port}:" in err and "in use" in err and "checkpoint" not in err
    assert main(["app", "--model", "x", "--port", "70000"]) == 2
    assert "--port 70000: expected 1..65535" in capsys.readouterr().err


def test_the_command_refuses_bad_examples(tmp_path, capsys):
    """--examples that is a file, or a folder that cannot be made, before the model loads."""
    from onethinker.cli import main

    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    missing = str(tmp_path / "missing")
    assert main(["app", "--model", missing, "--examples", str(afile)]) == 2
    assert f"error: examples: --examples {afile}: not a folder" in capsys.readouterr().err
    assert main(["app", "--model", missing, "--examples", str(afile / "sub")]) == 2
    err = capsys.readouterr().err
    assert "error: examples:" in err and str(afile / "sub") in err and "checkpoint" not in err
    assert main(["app", "--model", missing, "--examples", str(tmp_path), "--no-examples"]) == 2
    assert "--examples and --no-examples exclude each other" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------
# a real browser
# -------------------------------------------------------------------------------------------------
def _chromium():
    return next((b for b in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if b), None)


def _browser_missing():
    """Why the browser test cannot run here (checked before any fixture is built), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if not _chromium() or not shutil.which("chromedriver"):
        return "headless Chromium needs chromium and chromedriver (apt-get install chromium chromium-driver)"
    return None


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium(), shutil.which("chromedriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1200"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def _ask(d, url, media, task, question):
    """Load the page, upload ``media``, choose ``task``, type ``question``, run; wait for the outputs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(d, 60)
    d.get(url)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#run")))
    d.find_element(By.CSS_SELECTOR, "#media input[type=file]").send_keys(media)
    preview = "#preview-video video" if media.endswith(".mp4") else "#preview-image img"
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, preview)))
    box = d.find_element(By.CSS_SELECTOR, "#task input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(task)
    option = wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//ul[@role='listbox']/li[contains(normalize-space(.), '{task} (')]")))
    option_label = option.text.strip("✓ \n")
    option.click()
    wait.until(lambda _: box.get_attribute("value") in (task, option_label))
    d.find_element(By.CSS_SELECTOR, "#question textarea").send_keys(question)
    d.find_element(By.CSS_SELECTOR, "#run").click()
    wait.until(lambda _: d.find_element(By.CSS_SELECTOR, "#stats textarea").get_attribute("value"))
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#picture img")))
    return d.find_element(By.CSS_SELECTOR, "#stats textarea").get_attribute("value")


@pytest.mark.slow
@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_the_page_in_a_browser(served, examples, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    d = _browser()
    try:
        start = time.perf_counter()
        img = examples["spatial grounding", "image"]
        stats = _ask(d, served[0], img.media, "spatial grounding", img.question)
        assert "completion tokens" in stats
        assert d.find_element(By.CSS_SELECTOR, "#picture img").get_attribute("naturalWidth") not in (None, "0")
        assert "Error" not in d.find_element(By.CSS_SELECTOR, "#message").text
        d.save_screenshot(str(tmp_path / "app-image.png"))

        vid = examples["temporal grounding", "video"]
        stats = _ask(d, served[0], vid.media, "temporal grounding", vid.question)
        assert "completion tokens" in stats
        video = WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#video video")))
        assert video.get_attribute("src")
        WebDriverWait(d, 30).until(lambda _: d.execute_script("return arguments[0].readyState", video) >= 1)
        assert d.execute_script("return arguments[0].duration", video) > 1  # the browser plays the mp4
        d.save_screenshot(str(tmp_path / "app-video.png"))
        print(f"browser test {time.perf_counter() - start:.1f} s; screenshots in {tmp_path}")
        if os.environ.get("ONETHINKER_SCREENSHOT_DIR"):
            for name in ("app-image.png", "app-video.png"):
                shutil.copy(tmp_path / name, Path(os.environ["ONETHINKER_SCREENSHOT_DIR"]) / name)
    finally:
        d.quit()
