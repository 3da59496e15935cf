"""The demo's closing table stays readable where the terminal is narrow (80 columns) or the output goes to
a log file: no confidence interval is cut to "[+0.00…"."""

import io
import re

from rich.console import Console

from onethinker.tasks import TASKS


def _summary():
    keys = list(TASKS)

    def stats(i):
        return {"items": 40 + i, "accuracy": 0.1 + 0.05 * i, "reward": 0.5 + 0.01 * i, "format": 0.95}

    def block(i, n=40):
        acc = {"a": 0.1, "b": 0.2, "diff": 0.0123 * (i - 5), "ci95": [-0.1234 + 0.01 * i, 0.2345 + 0.01 * i]}
        return {"n": n, "accuracy": acc, "reward": {"a": 0.5, "b": 0.6, "diff": 0.1, "ci95": [0.01, 0.2]}}

    per_task = {k: stats(i) for i, k in enumerate(keys)}
    return {"sft": {**per_task, "all": stats(20)}, "rl": {**per_task, "all": stats(21)},
            "majority": {k: {"accuracy": 0.25} for k in [*keys, "all"]},
            "rl_tasks": keys[:3], "rl_mix": True,
            "compare": {"rl_vs_sft": {"tasks": {k: block(i) for i, k in enumerate(keys)}, "all": block(30, 480),
                                      "rl_tasks": block(31, 120)}}}


def _render(monkeypatch, width):
    import onethinker.commands.demo as demo

    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=width, soft_wrap=True, color_system=None))
    summary = _summary()
    demo._print_table(summary)
    c = summary["compare"]["rl_vs_sft"]
    cis = [f"{b['accuracy']['diff']:+.3f} [{b['accuracy']['ci95'][0]:+.3f}, {b['accuracy']['ci95'][1]:+.3f}]"
           for b in [*c["tasks"].values(), c["all"], c["rl_tasks"]]]
    return out.getvalue(), cis


def test_the_closing_table_is_whole_at_80_columns(monkeypatch):
    text, cis = _render(monkeypatch, 80)
    assert "…" not in text and max(len(line) for line in text.splitlines() if not line.startswith("* ")) <= 80
    for ci in cis:  # every interval on one line, whole
        assert ci in text, ci
    assert re.search(r"0\.700 -> 0\.710", text)  # the pooled reward row too
    assert "RL checkpoint - SFT checkpoint" in text  # folded into two tables


def test_the_closing_table_is_one_table_when_it_fits(monkeypatch):
    text, cis = _render(monkeypatch, 200)
    assert "majority baseline, SFT checkpoint, RL checkpoint" in text and "RL checkpoint - SFT" not in text
    assert all(ci in text for ci in cis) and "…" not in text


def test_the_second_draw_table_is_whole_at_80_columns(monkeypatch):
    import onethinker.commands.demo as demo

    def blk(i):
        return {"n": 462 + i, "accuracy": {"a": 0.373, "b": 0.45, "diff": 0.077 + i / 1000, "ci95": [0.038, 0.116]},
                "reward": {"a": 0.9, "b": 0.95, "diff": -0.0123, "ci95": [-0.0456, 0.0211]}}

    result = {"seed": 101, "items": 640, "compare": {"rl_vs_sft": {"rl_tasks": blk(0), "all": blk(1)},
                                                      "sft_vs_majority": {"all": blk(2)}}}
    for width in (80, 200):
        out = io.StringIO()
        monkeypatch.setattr(demo, "console", Console(file=out, width=width, soft_wrap=True, color_system=None))
        demo._print_draw(result)
        text = out.getvalue()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        for i in range(3):
            assert f"{0.077 + i / 1000:+.3f} [+0.038, +0.116]" in text
        assert text.count("-0.012 [-0.046, +0.021]") == 3
