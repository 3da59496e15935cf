"""`onethinker eval --suite paper`: the paper's 31 benchmarks, each from its source, listed and run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from onethinker.cli import main
from onethinker.evaluate.suite import PAPER_SUITE, SuiteRun, list_suite, run_suite


def test_catalogue_is_the_papers_tables():
    assert len(PAPER_SUITE) == 31 and len({b.name for b in PAPER_SUITE}) == 31
    per_table = {t: sum(b.table == t for b in PAPER_SUITE) for t in range(1, 9)}
    assert per_table == {1: 8, 2: 7, 3: 3, 4: 3, 5: 3, 6: 1, 7: 1, 8: 5}
    files = [p.file for b in PAPER_SUITE for p in b.parts if p.file]
    assert len(files) == len(set(files)) == 23  # the release's eval files (eval_bench_all.sh)
    for b in PAPER_SUITE:
        assert b.source in ("release", "lmms-eval", "none")
        for p in b.parts:
            assert set(p.paper) == set(p.metrics) and all(0 < v <= 100 for v in p.paper.values())
            assert (p.file is not None) == (b.source == "release")
            assert (p.lmms_task is not None) == (b.source == "lmms-eval")
        if b.source == "none":
            assert b.note  # the reason is stated


def _data_root(corpus: Path, root: Path) -> Path:
    """Synthetic items under two release names: multiple choice as eval_mmvu.json, temporal grounding as
    eval_charades.json (their media copied from the corpus)."""
    import shutil

    root.mkdir()
    records = json.loads((corpus / "eval_synthetic.json").read_text())
    mc = [r for r in records if r["problem_type"] == "multiple choice"][:4]
    tg = [r for r in records if r["problem_type"] == "temporal grounding"][:3]
    for r in mc + tg:
        (root / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / r["path"], root / r["path"])
    (root / "eval_mmvu.json").write_text(json.dumps(mc))
    (root / "eval_charades.json").write_text(json.dumps(tg))
    return root


def test_list_shows_every_benchmark_and_what_is_here(corpus, tmp_path, capsys):
    root = _data_root(corpus, tmp_path / "data")
    rows = list_suite(PAPER_SUITE, root, None)
    assert len({r["benchmark"] for r in rows}) == 31 and len(rows) == 36
    ready = {r["benchmark"] for r in rows if r["ready"]}
    assert ready == {"MMVU (mc)", "Charades-STA"}
    assert all(r["get"] for r in rows if not r["ready"])  # every missing one says where to get it
    assert main(["eval", "--suite", "paper", "--list", "--data-root", str(root)]) == 0
    out = capsys.readouterr().err  # the console writes to stderr
    for name in ("MMMU", "VideoMMMU", "MMSci-Caption", "GOT-10k", "ReasonVOS"):
        assert name in out
    assert "no source: MMSci-Caption" in out and "OneThink/OneThinker-eval" in out and "make lmms-env" in out


def test_suite_runs_what_is_here_and_lists_the_rest(corpus, tmp_path):
    from onethinker.evaluate.runner import EvalConfig, evaluate
    from onethinker.generate import SamplingConfig, build_generator

    root = _data_root(corpus, tmp_path / "data")
    gen = build_generator("scripted", noise=0.0)
    calls = []

    def release(path, out, family):
        calls.append(path.name)
        res = evaluate(gen, [path], out, media_root=path.parent, config=EvalConfig(batch_size=4),
                       sampling=SamplingConfig(max_new_tokens=64))[0]
        return {k: v for fm in res.metrics["families"].values() for k, v in fm["metrics"].items()}

    out = tmp_path / "suite"
    # lmms-eval "installed" in an interpreter that lacks it: its parts fail, recorded, and the suite goes on
    run = SuiteRun(model="scripted", out=out, data_root=root, evaluate_release=release, lmms_python=sys.executable,
                   log=lambda _: None)
    summary = run_suite(run)
    rows = {(r["benchmark"], r["part"]): r for r in summary["rows"]}
    assert rows[("MMVU (mc)", "")]["status"] == "done"
    assert rows[("MMVU (mc)", "")]["measured"] == {"accuracy": 100.0}  # the scripted model without noise
    ch = rows[("Charades-STA", "")]
    assert ch["status"] == "done" and ch["measured"]["mIoU"] == pytest.approx(100.0) and ch["paper"]["mIoU"] == 59.9
    mmmu = rows[("MMMU", "")]
    assert mmmu["status"] == "failed" and "lmms-eval mmmu_val failed" in mmmu["error"]
    assert rows[("MMSci-Caption", "")]["status"] == "missing"
    assert summary["counts"] == {"done": 2, "failed": 10, "missing": 24}
    saved = json.loads((out / "suite.json").read_text())
    assert saved["counts"] == summary["counts"] and len(saved["rows"]) == 36
    md = (out / "suite.md").read_text()
    assert "| MMVU (mc) | 2 | video QA | accuracy | 100.0 | 70.5 |" in md
    assert "<table>" in (out / "suite.html").read_text()
    # without an lmms-eval environment those parts are missing, with where to get it
    summary2 = run_suite(SuiteRun(model="scripted", out=out, data_root=root, evaluate_release=release, lmms_python=None,
                                  log=lambda _: None))
    assert summary2["counts"] == {"done": 2, "failed": 0, "missing": 34}
    assert calls == ["eval_mmvu.json", "eval_charades.json"] * 2


def test_suite_command_errors(tmp_path, capsys):
    assert main(["eval", "--suite", "paper", "--data-root", str(tmp_path / "nope"), "--list"]) == 2
    err = capsys.readouterr().err
    assert f"--data-root {tmp_path / 'nope'}: no such folder" in err
    for argv, message in ((["eval", "--suite", "paper", "--bench", "x.json", "--out", str(tmp_path)],
                           "--suite and --bench exclude each other"),
                          (["eval", "--list", "--bench", "x.json", "--out", str(tmp_path)], "--list goes with --suite"),
                          (["eval", "--suite", "paper", "--data-root", str(tmp_path)],
                           "the following arguments are required: --out")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
    # no --model: exit 2 and nothing run
    assert main(["eval", "--suite", "paper", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--suite needs --model" in capsys.readouterr().err
    assert not (tmp_path / "o" / "suite.json").exists()


def test_suite_command_exits_1_when_a_benchmark_fails(corpus, tmp_path, capsys, monkeypatch):
    """A release file that cannot be evaluated fails its benchmark (recorded with the error), the others
    run, and the exit status is 1."""
    from onethinker.evaluate import suite

    monkeypatch.setattr(suite, "default_lmms_python", lambda: None)  # no lmms-eval environment: those are missing
    root = _data_root(corpus, tmp_path / "data")
    bad = json.loads((root / "eval_charades.json").read_text())
    bad[0]["solution"] = "<answer>not a time span</answer>"  # a ground truth that does not parse
    (root / "eval_charades.json").write_text(json.dumps(bad))
    out = tmp_path / "suite"
    argv = ["eval", "--suite", "paper", "--data-root", str(root), "--out", str(out), "--backend", "scripted",
            "--noise", "0", "--max-new-tokens", "64"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 failed" in err and "Traceback" not in err
    rows = {r["benchmark"]: r for r in json.loads((out / "suite.json").read_text())["rows"]}
    assert rows["Charades-STA"]["status"] == "failed" and "eval_charades.json" in rows["Charades-STA"]["error"]
    assert rows["MMVU (mc)"]["status"] == "done"
