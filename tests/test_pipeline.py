"""The demo and the ablation: a small version of each by default (a few SFT and RL steps), the full demo
(and its learning targets) under -m slow."""

from __future__ import annotations

import json
import os
import time

import pytest

from onethinker.cli import main
from onethinker.training_report import held_out_summary

SMALL_SFT = ["train.epochs=1", "train.max_steps=4", "train.per_device_batch_size=4", "train.save_steps=2",
             "data.max_records=16"]
SMALL_RL = ["run.max_steps=2", "run.save_every=1", "rollout.prompts_per_step=2", "rollout.n=2",
            "rollout.max_new_tokens=16", "optim.mini_batch_prompts=2", "algorithm.max_sampling_tries=1"]


def _small(out, *extra):
    args = ["--out", str(out), "--n", "40", "--eval-limit", "4", "--max-new-tokens", "16", "--workers", "1"]
    for s in SMALL_SFT:
        args += ["--sft-set", s]
    for s in SMALL_RL:
        args += ["--set", s]
    return [*args, *extra]


def _check_summary_shape(summary: dict) -> None:
    for stage in ("sft", "rl"):
        block = summary[stage]
        assert "all" in block and len(block) >= 2
        for task, m in block.items():
            assert set(m) >= {"reward", "format", "accuracy", "items"}, task
            assert 0 <= m["format"] <= 1 and 0 <= m["accuracy"] <= 1 and 0 <= m["reward"] <= 1.5
        assert block["all"]["items"] == sum(m["items"] for t, m in block.items() if t != "all")


def test_small_demo_writes_summary_report_and_skips_finished_stages(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", *_small(out)]) == 0
    printed = capsys.readouterr().err
    assert "report.html" in printed and "summary.json" in printed
    summary = json.loads((out / "summary.json").read_text())
    _check_summary_shape(summary)
    assert summary["sft"]["all"]["items"] == 4
    for path in ("corpus/manifest.json", "tiny/config.json", "sft/final/config.json", "rl/final/config.json",
                 "rl/log.jsonl", "eval_sft/eval_synthetic.jsonl", "eval_rl/eval_synthetic.jsonl", "report.html"):
        assert (out / path).is_file(), path
    rl_log = [json.loads(x) for x in (out / "rl" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rl_log] == [1, 2]
    html = (out / "report.html").read_text()
    assert "SFT checkpoint vs RL checkpoint" in html and "<svg" in html

    # the summary is the held-out rows, aggregated
    rows = [json.loads(x) for x in (out / "eval_rl" / "eval_synthetic.jsonl").read_text().splitlines()]
    assert held_out_summary(rows) == summary["rl"]

    # again: every stage is complete, nothing is retrained
    stamp = os.path.getmtime(out / "rl" / "final" / "config.json")
    t0 = time.perf_counter()
    assert main(["demo", *_small(out)]) == 0
    assert os.path.getmtime(out / "rl" / "final" / "config.json") == stamp
    assert json.loads((out / "summary.json").read_text())["rl"] == summary["rl"]
    assert time.perf_counter() - t0 < 60


def test_small_ablation_runs_every_estimator_and_seed(tmp_path, capsys):
    out = tmp_path / "abl"
    assert main(["ablate", *_small(out), "--estimators", "grpo,ema_grpo", "--seeds", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimators"] == ["grpo", "ema_grpo"] and summary["seeds"] == 2
    for est in ("grpo", "ema_grpo"):
        assert len(summary["held_out"][est]) == 2
        for s in range(2):
            cfg = (out / f"rl_{est}_seed{s}" / "config.yaml").read_text()
            assert f"estimator: {est}" in cfg and f"seed: {s}" in cfg
    html = (out / "report.html").read_text()
    assert "grpo" in html and "ema_grpo" in html and "± " in html
    printed = capsys.readouterr().err
    assert "ema_grpo" in printed and "report.html" in printed


def test_ablate_rejects_unknown_estimators(tmp_path, capsys):
    assert main(["ablate", "--out", str(tmp_path), "--estimators", "grpo,ppo"]) == 2
    assert "ppo" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists()


@pytest.mark.slow
def test_full_demo_learns(tmp_path):
    """`make demo` as shipped: held-out format >= 0.9 after SFT and RL raises the held-out mean reward."""
    out = tmp_path / "demo"
    t0 = time.perf_counter()
    assert main(["demo", "--out", str(out)]) == 0
    minutes = (time.perf_counter() - t0) / 60
    summary = json.loads((out / "summary.json").read_text())
    _check_summary_shape(summary)
    assert summary["sft"]["all"]["format"] >= 0.9
    assert summary["rl"]["all"]["reward"] > summary["sft"]["all"]["reward"]
    assert minutes < 20
