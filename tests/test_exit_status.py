"""The README's exit-status table ("## Command line"), enforced row by row.

One case per claim of every non-zero cell: the real command line runs in-process on small inputs (the
session's synthetic corpus, the scripted back-end, the tiny model where a model must load) and must end
with the documented status, a message that names what is wrong, and no traceback. The `serve` and `app`
rows are tested in tests/test_serve_load.py and tests/test_app.py.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from onethinker.cli import main
from onethinker.data.records import write_records


class Case(NamedTuple):
    argv: list[str]
    must: tuple[str, ...] = ()  # each in the printed text
    absent: tuple[Path, ...] = ()  # files the failed command must not have written
    never: tuple[str, ...] = ()  # each not in the printed text (e.g. rich markup printed literally)


CASES: list = []


def case(row: str, code: int, claim: str):
    """Register a builder ``fn(ctx) -> Case`` for the claim ``claim`` of cell (``row``, ``code``)."""
    def register(fn: Callable) -> Callable:
        CASES.append(pytest.param(fn, code, id=f"{row} [{code}] {claim}"))
        return fn
    return register


class Ctx:
    """Paths of the small inputs, built once per module; ``fixture(name)`` gets a session fixture (the tiny
    model) only for the cases that need it; ``monkeypatch`` is the running case's."""

    def __init__(self, corpus: Path, work: Path, request) -> None:
        self.corpus, self.w, self._request = corpus, work, request
        self.monkeypatch: pytest.MonkeyPatch | None = None
        self.base_url = ""

    def fixture(self, name: str):
        return self._request.getfixturevalue(name)

    def sft_config(self, *, model: str | Path, files: list[Path] | None = None, extra: str = "") -> Path:
        out = self.w / f"sft-{len(list(self.w.glob('sft-*.yaml')))}"
        files = files or [self.corpus / "onethinker_sft_image.json"]
        path = out.with_suffix(".yaml")
        path.write_text(f"model:\n  path: {model}\n  dtype: float32\noutput_dir: {out}\n"
                        f"data:\n  files: [{', '.join(map(str, files))}]\n  media_root: {self.corpus}\n"
                        f"  max_records: 8\ntrain:\n  max_steps: 1\n  threads: 1\n{extra}")
        return path

    def rl_config(self, *, model: str | Path, files: list[Path] | None = None, extra: str = "") -> Path:
        out = self.w / f"rl-{len(list(self.w.glob('rl-*.yaml')))}"
        files = files or [self.corpus / "onethinker_rl_train.json"]
        path = out.with_suffix(".yaml")
        path.write_text(f"model:\n  path: {model}\n  dtype: float32\n  device: cpu\n  threads: 1\n"
                        f"data:\n  train_files: [{', '.join(map(str, files))}]\n  media_root: {self.corpus}\n"
                        f"rollout:\n  prompts_per_step: 2\n  n: 2\n  max_new_tokens: 8\n"
                        f"optim:\n  mini_batch_prompts: 2\nreward:\n  workers: 0\n"
                        f"run:\n  output_dir: {out}\n  max_steps: 1\n  tensorboard: false\n{extra}")
        return path


class _Refuses(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that refuses every request (HTTP 400): generation fails at once."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "model not loaded"}}')

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def ctx(corpus, tmp_path_factory, request):
    w = tmp_path_factory.mktemp("exit-status")
    c = Ctx(corpus, w, request)
    rl = json.loads((corpus / "onethinker_rl_train.json").read_text())
    ev = json.loads((corpus / "eval_synthetic.json").read_text())
    sft = json.loads((corpus / "onethinker_sft_image.json").read_text())

    def variant(records: list[dict], name: str, i: int, **changes) -> Path:
        recs = copy.deepcopy(records)
        recs[i].update(changes)
        path = w / name
        write_records(path, recs)
        return path

    media = "images" if "images" in rl[1] else "videos"
    variant(rl[:3], "rl_bad.json", 1, **{media: [7]})
    variant(sft[:3], "sft_bad.json", 1, images=[7])
    variant(rl[:3], "rl_badtype.json", 1, problem_type="juggling")
    variant(rl[:3], "rl_missing_media.json", 1, **{media: ["media/missing.png"]})
    variant(rl[:2], "rl_dup.json", 1, problem_id=rl[0]["problem_id"])
    mc = next(i for i, r in enumerate(ev) if r["problem_type"] == "multiple choice")
    variant(ev[mc:mc + 2], "eval_bad_truth.json", 0, solution="<answer>the blue one, probably</answer>")
    variant(ev[:2], "eval_bad_media.json", 1, path=7)
    write_records(w / "eval_ok.json", ev[:2])
    (w / "eval_bad_json.json").write_text('[{"problem_id": 1, "solution": ')
    (w / "eval_empty.json").write_text("[]")
    (w / "broken.jsonl").write_text('{"problem_id": \n[1, 2]\n')
    item = {"response": "<think>t</think><answer>B</answer>", "ground_truth": "<answer>B</answer>",
            "problem_type": "multiple choice", "data_type": "image"}
    (w / "rollouts.jsonl").write_text(json.dumps(item) + "\n{not json\n")
    (w / "empty_dir").mkdir()
    (w / "not_a_checkpoint").mkdir()
    # two evaluation folders of the same file, for `eval compare`
    for name, seed in (("eval_a", "0"), ("eval_b", "1")):
        assert main(["eval", "--bench", str(w / "eval_ok.json"), "--out", str(w / name), "--backend", "scripted",
                     "--seed", seed, "--media-root", str(corpus)]) == 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    c.base_url = f"http://127.0.0.1:{server.server_port}/v1"
    yield c
    server.shutdown()
    server.server_close()


def run(argv: list[str]) -> int:
    try:
        return int(main(argv) or 0)
    except SystemExit as e:  # argparse refuses the command line
        return e.code if isinstance(e.code, int) else 1


@pytest.mark.parametrize("build, code", CASES)
def test_exit_status(build, code, ctx, capsys, monkeypatch):
    ctx.monkeypatch = monkeypatch
    c = build(ctx)
    rc = run(c.argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert rc == code, text
    for m in c.must:
        assert m in text, (m, text)
    for m in c.never:
        assert m not in text, (m, text)
    assert "Traceback" not in text
    for p in c.absent:
        assert not p.exists(), p


def test_every_row_of_the_table_is_tested():
    """Every command row of the README's table with a non-zero cell has cases here (serve and app: in their
    own test files)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Exit status (every command"):]
    section = section[: section.index("\n\n", section.index("| command |"))]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    tested = {p.id[: p.id.index("]") + 1] for p in CASES}  # "ROW [CODE]"
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [n.strip().strip("`") for n in cells[0].split(",")]
        for code, cell in ((1, cells[2]), (2, cells[3])):
            for name in names:
                if cell and name not in ("serve", "app"):
                    assert f"{name} [{code}]" in tested, (name, code, cell)
    assert "130 when interrupted" in section and "2 for a command line argparse refuses" in section


# ---------------------------------------------------------------------------------------------
# every command: 130 when interrupted, 2 for a command line argparse refuses
# ---------------------------------------------------------------------------------------------
@case("every command", 130, "interrupted")
def _(ctx):
    from onethinker.synthetic import corpus

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    ctx.monkeypatch.setattr(corpus, "synthesize", interrupted)
    return Case(["data", "synth", "--out", str(ctx.w / "synth-interrupted")], ("interrupted",))


@case("every command", 2, "argparse refuses the command line")
def _(ctx):
    return Case(["eval", "--bench", str(ctx.w / "eval_ok.json")], ("the following arguments are required: --out",))


# ---------------------------------------------------------------------------------------------
# reward score
# ---------------------------------------------------------------------------------------------
@case("reward score", 1, "some lines malformed")
def _(ctx):
    src = ctx.w / "rollouts.jsonl"
    return Case(["reward", "score", str(src), "-o", str(ctx.w / "scores.jsonl"), "--workers", "0"],
                (f"{src}:2: invalid JSON", "1 scored, 1 malformed"))


@case("reward score", 2, "bad settings")
def _(ctx):
    return Case(["reward", "score", str(ctx.w / "rollouts.jsonl"), "--set", "format_weight=heavy"],
                ("format_weight", "'heavy'"))


@case("reward score", 2, "input missing")
def _(ctx):
    return Case(["reward", "score", str(ctx.w / "nope.jsonl")], (str(ctx.w / "nope.jsonl"),))


@case("reward score", 2, "input unreadable")
def _(ctx):
    return Case(["reward", "score", str(ctx.w / "empty_dir")], (str(ctx.w / "empty_dir"),))


@case("reward score", 2, "input is a directory")
def _(ctx):
    src = ctx.w / "empty_dir"
    return Case(["reward", "score", str(src), "--workers", "0"], (f"{src}: is a directory",), never=("no such file",))


@case("reward score", 2, "bad settings: a value out of range")
def _(ctx):
    return Case(["reward", "score", str(ctx.w / "rollouts.jsonl"), "--item-timeout", "0"],
                ("item_timeout_s must be > 0, got 0.0",))


@case("reward score", 2, "output not writable")
def _(ctx):
    out = ctx.w / "eval_ok.json" / "scores.jsonl"  # under a file
    return Case(["reward", "score", str(ctx.w / "rollouts.jsonl"), "-o", str(out), "--workers", "0"],
                ("cannot write", str(out)))


# ---------------------------------------------------------------------------------------------
# data check, synth, annotate, convert
# ---------------------------------------------------------------------------------------------
@case("data check", 1, "errors with file, record, problem_id and field")
def _(ctx):
    path = ctx.w / "rl_badtype.json"
    pid = json.loads(path.read_text())[1]["problem_id"]
    return Case(["data", "check", str(path), "--media-root", str(ctx.corpus)],
                (f"{path}: record 1 (problem_id {pid!r}): problem_type: unknown value 'juggling'",))


@case("data check", 2, "--json report not writable")
def _(ctx):
    report = ctx.w / "eval_ok.json" / "report.json"
    return Case(["data", "check", str(ctx.w / "eval_ok.json"), "--media-root", str(ctx.corpus), "--json", str(report)],
                ("cannot write", str(report)))


@case("data synth", 2, "bad settings")
def _(ctx):
    return Case(["data", "synth", "--out", str(ctx.w / "synth-bad"), "--video-share", "2"], ("video_share",),
                absent=(ctx.w / "synth-bad",))


@case("data annotate", 1, "records that cannot be asked (missing media)")
def _(ctx):
    out = ctx.w / "annotate-missing"
    return Case(["data", "annotate", str(ctx.w / "rl_missing_media.json"), "--out", str(out), "--backend", "scripted",
                 "--media-root", str(ctx.corpus)], ("1 records cannot be asked",))


@case("data annotate", 1, "requests that still failed after the retries")
def _(ctx):
    out = ctx.w / "annotate-failed"
    return Case(["data", "annotate", str(ctx.corpus / "onethinker_rl_train.json"), "--out", str(out),
                 "--backend", "openai", "--model", "m", "--base-url", ctx.base_url, "--media-root", str(ctx.corpus),
                 "--n", "1", "--limit", "1"], ("1 records failed",))


@case("data annotate", 2, "input unreadable")
def _(ctx):
    path = ctx.w / "eval_bad_json.json"
    return Case(["data", "annotate", str(path), "--out", str(ctx.w / "annotate-bad"), "--backend", "scripted"],
                (str(path), "invalid JSON"))


@case("data annotate", 2, "duplicate problem_ids")
def _(ctx):
    path = ctx.w / "rl_dup.json"
    return Case(["data", "annotate", str(path), "--out", str(ctx.w / "annotate-dup"), "--backend", "scripted"],
                (str(path), "record 1", "unique"))


@case("data annotate", 2, "the back-end cannot be built")
def _(ctx):
    model = ctx.w / "no-model"
    return Case(["data", "annotate", str(ctx.w / "rl_badtype.json"), "--out", str(ctx.w / "annotate-nomodel"),
                 "--model", str(model)], (str(model),))


@case("data convert", 1, "a record cannot be converted; nothing written")
def _(ctx):
    path, out = ctx.w / "rl_badtype.json", ctx.w / "converted.parquet"
    pid = json.loads(path.read_text())[1]["problem_id"]
    return Case(["data", "convert", str(path), "--to", "verl", "--out", str(out), "--media-root", str(ctx.corpus)],
                (f"{path}: record 1 (problem_id {pid!r}): problem_type",), absent=(out,))


@case("data convert", 1, "the file cannot be converted; nothing written")
def _(ctx):
    path, out = ctx.w / "eval_bad_json.json", ctx.w / "converted-bad.parquet"
    return Case(["data", "convert", str(path), "--to", "verl", "--out", str(out)], (str(path), "invalid JSON"),
                absent=(out,))


# ---------------------------------------------------------------------------------------------
# eval, eval --suite, eval compare, infer, viz
# ---------------------------------------------------------------------------------------------
def _eval(ctx, bench: str, *extra: str) -> list[str]:
    return ["eval", "--bench", str(ctx.w / bench), "--out", str(ctx.w / f"out-{bench}"), "--backend", "scripted",
            "--media-root", str(ctx.corpus), *extra]


@case("eval", 1, "benchmark file unreadable")
def _(ctx):
    return Case(_eval(ctx, "eval_bad_json.json"), (str(ctx.w / "eval_bad_json.json"), "invalid JSON"))


@case("eval", 1, "benchmark file empty")
def _(ctx):
    return Case(_eval(ctx, "eval_empty.json"), (str(ctx.w / "eval_empty.json"), "no records"))


@case("eval", 1, "malformed ground truth")
def _(ctx):
    return Case(_eval(ctx, "eval_bad_truth.json"), (str(ctx.w / "eval_bad_truth.json"), "record 0", "solution"))


@case("eval", 1, "malformed media field")
def _(ctx):
    return Case(_eval(ctx, "eval_bad_media.json"), (str(ctx.w / "eval_bad_media.json"), "record 1", "path"))


@case("eval", 2, "--family not BENCH=FAMILY")
def _(ctx):
    return Case(_eval(ctx, "eval_ok.json", "--family", "multiple_choice"), ("'multiple_choice' is not BENCH=FAMILY",))


@case("eval", 2, "--family with an unknown family")
def _(ctx):
    return Case(_eval(ctx, "eval_ok.json", "--family", "eval_ok=juggling"),
                ("unknown metric family 'juggling'", "anet_rtl"))


@case("eval", 2, "--family BENCH that is no --bench file")
def _(ctx):
    return Case(_eval(ctx, "eval_ok.json", "--family", "anet=anet_rtl"), ("'anet' is not the stem", "eval_ok"))


@case("eval", 2, "the back-end cannot be built")
def _(ctx):
    model = ctx.w / "no-model"
    argv = _eval(ctx, "eval_ok.json")
    return Case(argv[: argv.index("--backend")] + ["--model", str(model), "--media-root", str(ctx.corpus)], (str(model),))


@case("eval --suite", 1, "a benchmark failed")
def _(ctx):
    from onethinker.evaluate import suite

    ctx.monkeypatch.setattr(suite, "default_lmms_python", lambda: None)  # lmms-eval benchmarks: missing
    root = ctx.w / "suite-data"
    root.mkdir(exist_ok=True)
    (root / "eval_mmvu.json").write_text((ctx.w / "eval_bad_truth.json").read_text())
    return Case(["eval", "--suite", "paper", "--data-root", str(root), "--media-root", str(ctx.corpus), "--out",
                 str(ctx.w / "suite-out"), "--backend", "scripted"], ("0 parts done, 1 failed",))


@case("eval --suite", 2, "bad --data-root")
def _(ctx):
    return Case(["eval", "--suite", "paper", "--data-root", str(ctx.w / "nope"), "--out", str(ctx.w / "suite-x"),
                 "--backend", "scripted"], (f"--data-root {ctx.w / 'nope'}: no such folder",))


@case("eval --suite", 2, "no --model")
def _(ctx):
    return Case(["eval", "--suite", "paper", "--data-root", str(ctx.w / "empty_dir"), "--out", str(ctx.w / "suite-y")],
                ("--suite needs --model",), absent=(ctx.w / "suite-y" / "suite.json",))


@case("eval --suite", 2, "--family (refused, not ignored)")
def _(ctx):
    return Case(["eval", "--suite", "paper", "--data-root", str(ctx.w / "empty_dir"), "--out", str(ctx.w / "suite-f"),
                 "--backend", "scripted", "--family", "eval_mmvu=anet_rtl"],
                ("--family does not go with --suite",), absent=(ctx.w / "suite-f",))


@case("eval compare", 2, "folders that cannot be compared")
def _(ctx):
    return Case(["eval", "compare", str(ctx.w / "eval_a"), str(ctx.w / "nope")], (f"{ctx.w / 'nope'}: no such folder",))


@case("eval compare", 2, "--json not writable")
def _(ctx):
    target = ctx.w / "eval_ok.json" / "cmp.json"
    return Case(["eval", "compare", str(ctx.w / "eval_a"), str(ctx.w / "eval_b"), "--json", str(target)],
                ("cannot write", str(target)))


def _image(ctx) -> str:
    return str(next((ctx.corpus / "media" / "images").glob("*.png")))


@case("infer", 1, "media missing")
def _(ctx):
    media = ctx.w / "none.png"
    return Case(["infer", "--media", str(media), "--problem-type", "numerical", "--backend", "scripted",
                 "--out", str(ctx.w / "infer")], (f"{media}: no such file",))


@case("infer", 1, "media unreadable")
def _(ctx):
    media = ctx.w / "junk.png"
    media.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    return Case(["infer", "--media", str(media), "--problem-type", "numerical", "--backend", "scripted",
                 "--out", str(ctx.w / "infer")], (str(media),))


@case("infer", 1, "unknown problem type")
def _(ctx):
    return Case(["infer", "--media", _image(ctx), "--problem-type", "juggling", "--backend", "scripted",
                 "--out", str(ctx.w / "infer")], ("unknown problem_type 'juggling'",))


@case("infer", 1, "generation failed")
def _(ctx):
    return Case(["infer", "--media", _image(ctx), "--problem-type", "numerical", "--backend", "openai", "--model", "m",
                 "--base-url", ctx.base_url, "--out", str(ctx.w / "infer")], ("HTTP 400", "model not loaded"))


@case("viz", 1, "results missing")
def _(ctx):
    return Case(["viz", str(ctx.w / "nope.jsonl"), "--out", str(ctx.w / "viz")], (str(ctx.w / "nope.jsonl"),))


@case("viz", 1, "results unreadable")
def _(ctx):
    path = ctx.w / "broken.jsonl"
    return Case(["viz", str(path), "--out", str(ctx.w / "viz"), "--media-root", str(ctx.corpus)],
                (f"{path}: no readable result rows",))


@case("viz", 0, "some lines unreadable: drawn, with a warning naming file and lines")
def _(ctx):
    good = (ctx.w / "eval_a" / "eval_ok.jsonl").read_text().splitlines()
    path = ctx.w / "partly_broken.jsonl"
    path.write_text("\n".join([good[0], "{torn", good[1], "[1, 2]", ""]))
    return Case(["viz", str(path), "--out", str(ctx.w / "viz-partly"), "--media-root", str(ctx.corpus)],
                (f"{path}: 2 unreadable lines skipped (lines 2, 4;", "wrote 2 items"))


# ---------------------------------------------------------------------------------------------
# train sft, train rl
# ---------------------------------------------------------------------------------------------
@case("train sft", 1, "bad data")
def _(ctx):
    bad = ctx.w / "sft_bad.json"
    return Case(["train", "sft", "--config", str(ctx.sft_config(model=ctx.w / "no-model", files=[bad]))],
                (str(bad), "#1", "images"))


@case("train rl", 1, "bad data")
def _(ctx):
    bad = ctx.w / "rl_bad.json"
    return Case(["train", "rl", "--config", str(ctx.rl_config(model=ctx.w / "no-model", files=[bad]))],
                (str(bad), "record 1"))


@case("train sft", 1, "model that does not exist")
def _(ctx):
    model = ctx.w / "no-model"
    return Case(["train", "sft", "--config", str(ctx.sft_config(model=model))], (f"{model}: no such checkpoint folder",))


@case("train rl", 1, "model that does not exist")
def _(ctx):
    model = ctx.w / "no-model"
    return Case(["train", "rl", "--config", str(ctx.rl_config(model=model))], (f"{model}: no such checkpoint folder",))


@case("train sft", 1, "--resume without a checkpoint")
def _(ctx):
    cfg = ctx.sft_config(model=ctx.fixture("tiny_model_dir"))
    out = cfg.with_suffix("")
    return Case(["train", "sft", "--config", str(cfg), "--resume"], (f"no checkpoint-N folder in {out}",),
                absent=(out / "final",))


@case("train rl", 1, "--resume without a checkpoint")
def _(ctx):
    cfg = ctx.rl_config(model=ctx.fixture("tiny_model_dir"))
    out = cfg.with_suffix("")
    return Case(["train", "rl", "--config", str(cfg), "--resume"], (f"no step-N folder in {out / 'checkpoints'}",),
                absent=(out / "final",))


@case("train sft", 1, "--resume PATH that does not exist")
def _(ctx):
    ckpt = ctx.w / "no-checkpoint"
    return Case(["train", "sft", "--config", str(ctx.sft_config(model=ctx.fixture("tiny_model_dir"))), "--resume",
                 str(ckpt)], (f"--resume {ckpt}: no such checkpoint folder",))


@case("train rl", 1, "--resume PATH that does not exist")
def _(ctx):
    ckpt = ctx.w / "no-checkpoint"
    return Case(["train", "rl", "--config", str(ctx.rl_config(model=ctx.fixture("tiny_model_dir"))), "--resume",
                 str(ckpt)], (f"--resume {ckpt}: no such checkpoint folder",))


@case("train rl", 1, "--resume PATH that is no checkpoint")
def _(ctx):
    ckpt = ctx.w / "not_a_checkpoint"
    return Case(["train", "rl", "--config", str(ctx.rl_config(model=ctx.fixture("tiny_model_dir"))), "--resume",
                 str(ckpt)], (f"--resume {ckpt}: not a checkpoint of this trainer",))


@case("train sft", 2, "config error: unknown key")
def _(ctx):
    return Case(["train", "sft", "--config", str(ctx.sft_config(model=ctx.w / "no-model")), "--set", "train.lr=1"],
                ("unknown config key", "train.lr"))


@case("train rl", 2, "config error: wrong type")
def _(ctx):
    cfg = ctx.rl_config(model=ctx.w / "no-model", extra="")
    return Case(["train", "rl", "--config", str(cfg), "--set", "run.max_steps=many"], ("run.max_steps", "'many'"))


@case("train rl", 2, "config error: model.threads negative")
def _(ctx):
    cfg = ctx.rl_config(model=ctx.w / "no-model")
    return Case(["train", "rl", "--config", str(cfg), "--set", "model.threads=-3"],
                ("model.threads must be >= 0, got -3",), never=("set_num_threads",))


@pytest.mark.parametrize("setting, message", [
    ("rollout.n=0", "rollout.n must be >= 1, got 0"),
    ("rollout.generation_batch_size=-1", "rollout.generation_batch_size must be >= 1, got -1"),
    ("rollout.top_p=1.5", "rollout.top_p must be in (0, 1], got 1.5"),
    ("rollout.top_k=-1", "rollout.top_k must be >= 0"),
    ("rollout.temperature=-0.5", "rollout.temperature must be >= 0"),
    ("algorithm.ema_decay=1", "algorithm.ema_decay must be in [0, 1), got 1.0"),
    ("algorithm.filter_low=0.99", "need -1 <= filter_low < filter_high <= 1, got 0.99, 0.99"),
    ("algorithm.filter_high=1.5", "need -1 <= filter_low < filter_high <= 1, got 0.01, 1.5"),
    ("algorithm.filter_low=-1.5", "need -1 <= filter_low < filter_high <= 1, got -1.5, 0.99"),
    ("algorithm.min_std=0", "algorithm.min_std must be > 0"),
    ("algorithm.estimator=ppo", "algorithm.estimator 'ppo' is not one of"),
    ("algorithm.max_sampling_tries=0", "algorithm.max_sampling_tries must be >= 1, got 0"),
    ("optim.lr=0", "optim.lr must be > 0"),
    ("optim.micro_batch_size=0", "optim.micro_batch_size must be >= 1, got 0"),
    ("optim.betas=[0.9]", "optim.betas must be two numbers in [0, 1)"),
    ("optim.warmup_steps=-2", "optim.warmup_steps must be >= 0, got -2"),
    ("optim.lr_schedule=linear", "optim.lr_schedule must be 'constant' or 'cosine', got 'linear'"),
    ("optim.min_lr_ratio=2", "optim.min_lr_ratio must be in [0, 1], got 2"),
    ("loss.clip_low=1.2", "loss.clip_low must be in [0, 1), got 1.2"),
    ("loss.dual_clip=0.5", "loss.dual_clip must be > 1 (or 0: off), got 0.5"),
    ("loss.kl_coef=-1", "loss.kl_coef must be >= 0"),
    ("run.keep_checkpoints=0", "run.keep_checkpoints must be >= 1, got 0"),
    ("run.save_every=-1", "run.save_every must be >= 0, got -1"),
    ("data.max_records=0", "data.max_records must be >= 1 or null, got 0"),
    ('data.task_weights={"tracking": 0}', "data.task_weights['tracking'] must be an integer >= 1, got 0"),
    ('data.task_weights={"trackin": 2}', "data.task_weights: unknown task key 'trackin'"),
    ("reward.format_weight=2", "format_weight must be in [0, 1], got 2.0"),
    ("reward.item_timeout_s=0", "item_timeout_s must be > 0"),
])
def test_train_rl_refuses_out_of_range_settings(setting, message, ctx, capsys):
    """Every RL numeric key with a range is checked when the config is read: exit 2 naming the key and the value,
    never a traceback from torch or the trainer later on."""
    cfg = ctx.rl_config(model=ctx.w / "no-model")
    rc = run(["train", "rl", "--config", str(cfg), "--set", setting])
    text = "".join(capsys.readouterr())
    assert rc == 2, text
    assert message in text and "Traceback" not in text, text


def test_the_shipped_rl_configs_pass_the_range_checks():
    from onethinker.config import load_config
    from onethinker.rl.config import RLConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    for name in ("demo-rl.yaml", "onethinker-8b-rl.yaml"):
        load_config(RLConfig, root / name)


@case("train sft", 1, "missing format_check.file: the message names the off value that is accepted")
def _(ctx):
    cfg = ctx.sft_config(model=ctx.w / "no-model", extra="format_check:\n  file: nowhere/eval.json\n")
    return Case(["train", "sft", "--config", str(cfg)],
                ("format_check.file:", "nowhere/eval.json: no such file", 'set format_check.file to "" or null'))


@case("train sft", 1, "format_check.file: null is accepted as off (then the missing model is the error)")
def _(ctx):
    model = ctx.w / "no-model"
    cfg = ctx.sft_config(model=model, extra="format_check:\n  file: nowhere/eval.json\n")
    return Case(["train", "sft", "--config", str(cfg), "--set", "format_check.file=null"],
                (f"{model}: no such checkpoint folder",), never=("expected a string",))


@case("train rl", 2, "config error: config file missing")
def _(ctx):
    return Case(["train", "rl", "--config", str(ctx.w / "nope.yaml")], (str(ctx.w / "nope.yaml"),))


# ---------------------------------------------------------------------------------------------
# model pretrain, probe, demo, ablate
# ---------------------------------------------------------------------------------------------
@case("model pretrain", 2, "bad settings")
def _(ctx):
    return Case(["model", "pretrain", "--model", str(ctx.w / "no-model"), "--out", str(ctx.w / "pre"), "--steps", "0"],
                ("steps",))


@case("model pretrain", 2, "bad input (not a model folder)")
def _(ctx):
    model = ctx.w / "no-model"
    return Case(["model", "pretrain", "--model", str(model), "--out", str(ctx.w / "pre")], (f"{model}: not a model folder",))


@case("probe", 2, "bad settings")
def _(ctx):
    return Case(["probe", "--data", str(ctx.corpus / "onethinker_rl_train.json"), "--out", str(ctx.w / "probe"),
                 "--backend", "scripted", "--n", "0"], ("error: n must be >= 1",), never=("[red]", "[/red]"))


@case("probe", 2, "bad input")
def _(ctx):
    return Case(["probe", "--data", str(ctx.w / "nope.json"), "--out", str(ctx.w / "probe"), "--backend", "scripted"],
                (f"{ctx.w / 'nope.json'}: no such file",))


@case("demo", 2, "bad settings (unknown --rl-tasks key)")
def _(ctx):
    out = ctx.w / "demo"
    return Case(["demo", "--out", str(out), "--rl-tasks", "numerical,juggling"],
                ("--rl-tasks: unknown task key 'juggling'", "'multiple choice'"), absent=(out / "corpus",))


@case("demo", 2, "bad input (--heldout-draw without a finished run)")
def _(ctx):
    out = ctx.w / "empty_dir"
    return Case(["demo", "--out", str(out), "--heldout-draw", "1"], ("not a finished demo run",))


@case("ablate", 2, "bad settings (unknown estimator)")
def _(ctx):
    out = ctx.w / "ablate"
    return Case(["ablate", "--out", str(out), "--estimators", "grpo,ppo"], ("'ppo'",), absent=(out / "corpus",))


@case("ablate", 2, "bad settings (unknown --rl-tasks key)")
def _(ctx):
    out = ctx.w / "ablate"
    return Case(["ablate", "--out", str(out), "--rl-tasks", "juggling"], ("unknown task key 'juggling'", "'numerical'"),
                absent=(out / "corpus",))
