"""The paper's benchmark suite (``onethinker eval --suite paper``): the 31 benchmarks of OneThinker's
Tables 1-8, each from its source, with the published OneThinker-8B figures beside the measured ones.

Sources:

- **release**: one of the 23 eval files of the release (``OneThink/OneThinker-eval`` on the Hugging Face Hub;
  ``Evaluation/Eval/eval_bench_all.sh`` of the reference code), scored here by ``onethinker.evaluate.runner``
  with the benchmark's official metric;
- **lmms-eval**: a task of lmms-eval (the paper used VLMEvalKit for these), run by lmms-eval's own command
  with the ``onethinker`` model plugin (``onethinker.integrations.lmms_eval``) in the lmms-eval environment
  (``make lmms-env``); lmms-eval fetches the dataset from the Hub on first use (or reads ``HF_HOME``'s cache);
- **none**: lmms-eval has no task for the benchmark and the release has no file (the three captioning
  benchmarks, VideoHolmes' open judge aside): listed with the reason, never silently skipped.

The published figures (percent) are those of the paper's Tables 1-8 (arXiv 2512.03043; the repository
README quotes MMMU 70.6, MathVerse 64.3, VideoMMMU 66.2, RefCOCO testA 93.7, ReasonVOS J&F 54.9). Measured
metrics are fractions in ``onethinker eval``'s files; the suite shows them x100 beside the paper's.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

RELEASE_DATA = "the release's eval files: OneThink/OneThinker-eval on the Hugging Face Hub (files eval_*.json and their media)"
PAPER_SOURCE = "OneThinker (arXiv 2512.03043), Tables 1-8"


@dataclass(frozen=True)
class Part:
    """One scored unit of a benchmark: a release file (a split of RefCOCO) or an lmms-eval task.

    ``metrics``: the paper's metric name -> the measured metric's key (this project's metric name for release
    files, lmms-eval's metric name for its tasks; None: the paper's metric has no measured counterpart).
    ``paper``: the published OneThinker-8B figure per paper metric (percent)."""

    label: str
    paper: dict[str, float]
    metrics: dict[str, str | None]
    file: str | None = None
    lmms_task: str | None = None
    family: str | None = None  # a metric family other than the task's own (anet_rtl)


@dataclass(frozen=True)
class Benchmark:
    name: str
    table: int
    family: str
    source: str  # "release", "lmms-eval" or "none"
    parts: tuple[Part, ...]
    note: str = ""


def _p(label: str, paper: dict[str, float], metrics: dict[str, str | None], **kw: Any) -> Part:
    return Part(label, paper, metrics, **kw)


def _mc(name: str, table: int, family: str, file: str, value: float) -> Benchmark:
    return Benchmark(name, table, family, "release", (_p("", {"accuracy": value}, {"accuracy": "accuracy"}, file=file),))


def _lmms(name: str, table: int, family: str, task: str, value: float, metric: str, note: str = "") -> Benchmark:
    return Benchmark(name, table, family, "lmms-eval", (_p("", {"accuracy": value}, {"accuracy": metric}, lmms_task=task),),
                     note)


def _tg(name: str, file: str, paper: Sequence[float], family: str | None = None) -> Benchmark:
    keys = ("R@0.3", "R@0.5", "R@0.7", "mIoU")
    ours = {"R@0.3": "R1@0.3", "R@0.5": "R1@0.5", "R@0.7": "R1@0.7", "mIoU": "mIoU"}
    if family == "anet_rtl":  # ANet-RTL's official metric: mIoU and P@0.5 averaged per video
        ours = {"R@0.3": None, "R@0.5": "P@0.5", "R@0.7": None, "mIoU": "mIoU"}
    return Benchmark(name, 4, "temporal grounding", "release",
                     (_p("", dict(zip(keys, paper)), ours, file=file, family=family),))


def _rec(name: str, splits: dict[str, tuple[str, float]]) -> Benchmark:
    return Benchmark(name, 5, "spatial grounding", "release",
                     tuple(_p(s, {"Acc@0.5": v}, {"Acc@0.5": "Acc@0.5"}, file=f) for s, (f, v) in splits.items()))


JUDGE = "its official score needs a judge model (OPENAI_API_KEY / API_TYPE, as lmms-eval documents)"

#: The paper's 31 benchmarks (Tables 1-8), in the paper's order.
PAPER_SUITE: tuple[Benchmark, ...] = (
    # Table 1: image QA (VLMEvalKit in the paper; lmms-eval here)
    _lmms("MMMU", 1, "image QA", "mmmu_val", 70.6, "mmmu_acc"),
    _lmms("MathVista", 1, "image QA", "mathvista_testmini_format", 77.6, "llm_as_judge_eval", JUDGE),
    _lmms("MathVerse", 1, "image QA", "mathverse_testmini", 64.3, "gpt_eval_score", JUDGE),
    _lmms("MMBench", 1, "image QA", "mmbench_en_dev", 86.6, "gpt_eval_score", JUDGE),
    _lmms("MMStar", 1, "image QA", "mmstar", 70.6, "average"),
    _lmms("ScienceQA", 1, "image QA", "scienceqa_img", 96.5, "exact_match"),
    _lmms("AI2D", 1, "image QA", "ai2d", 85.2, "exact_match"),
    _lmms("MMT-Bench", 1, "image QA", "mmt_val", 67.8, "accuracy"),
    # Table 2: video QA
    _mc("VideoMMMU", 2, "video QA", "eval_videommmu.json", 66.2),
    _mc("MMVU (mc)", 2, "video QA", "eval_mmvu.json", 70.5),
    _mc("VideoMME", 2, "video QA", "eval_videomme.json", 66.5),
    _lmms("VideoHolmes", 2, "video QA", "video_holmes", 48.7, "video_holmes_accuracy"),
    _lmms("LongVideoBench", 2, "video QA", "longvideobench_val_v", 61.7, "lvb_acc"),
    _mc("LongVideo-Reason", 2, "video QA", "eval_longvideoreason.json", 79.2),
    _mc("VideoMathQA", 2, "video QA", "eval_videomathqa.json", 35.0),
    # Table 3: captioning (VLMEvalKit's judge-based scorers in the paper)
    Benchmark("MMSci-Caption", 3, "image captioning", "none", (_p("", {"score": 25.7}, {"score": None}),),
              "lmms-eval 0.7.3 has no MMSci captioning task (VLMEvalKit's MMSci scorer is judge-based)"),
    Benchmark("MMT-Caption", 3, "image captioning", "none", (_p("", {"score": 57.9}, {"score": None}),),
              "lmms-eval 0.7.3 has no MMT captioning task (its mmt tasks are MMT-Bench's multiple choice); the "
              "reference code's scripts do not say how the paper scored it"),
    Benchmark("VideoMMLU-Caption", 3, "video captioning", "none", (_p("", {"score": 28.0}, {"score": None}),),
              "lmms-eval 0.7.3 has no Video-MMLU captioning task (its videommmu is Video-MMMU, another benchmark)"),
    # Table 4: temporal grounding
    _tg("Charades-STA", "eval_charades.json", (83.5, 68.3, 45.3, 59.9)),
    _tg("ActivityNet", "eval_activitynet.json", (65.0, 43.6, 25.7, 45.9)),
    _tg("ANet-RTL", "eval_anet_rtl.json", (62.0, 42.3, 22.7, 43.2), family="anet_rtl"),
    # Table 5: spatial grounding (box accuracy at IoU 0.5)
    _rec("RefCOCO", {"testA": ("eval_refcoco_testA.json", 93.7), "testB": ("eval_refcoco_testB.json", 88.9),
                     "val": ("eval_refcoco_val.json", 92.0)}),
    _rec("RefCOCO+", {"testA": ("eval_refcocop_testA.json", 91.4), "testB": ("eval_refcocop_testB.json", 82.7),
                      "val": ("eval_refcocop_val.json", 87.0)}),
    _rec("RefCOCOg", {"test": ("eval_refcocog_test.json", 88.8), "val": ("eval_refcocog_val.json", 89.2)}),
    # Table 6: spatio-temporal grounding. The paper prints tIoU@0.5 / tIoU / sIoU@0.5 / sIoU; the release's
    # scorer is the HC-STVG one (spec: m_tIoU, m_vIoU, vIoU@0.5), the same quantities under other names
    Benchmark("STVG", 6, "spatio-temporal grounding", "release",
              (_p("", {"tIoU@0.5": 34.9, "tIoU": 39.5, "sIoU@0.5": 40.3, "sIoU": 36.7},
                  {"tIoU@0.5": None, "tIoU": "m_tIoU", "sIoU@0.5": "vIoU@0.5", "sIoU": "m_vIoU"}, file="eval_stvg.json"),),
              "paper tIoU / sIoU@0.5 / sIoU shown beside this project's m_tIoU / vIoU@0.5 / m_vIoU; tIoU@0.5 has no "
              "counterpart"),
    # Table 7: tracking (the paper's R@t is the success rate at overlap t)
    Benchmark("GOT-10k", 7, "tracking", "release",
              (_p("", {"AO": 73.0, "R@0.3": 93.9, "R@0.5": 84.4, "R@0.7": 68.8},
                  {"AO": "AO", "R@0.3": None, "R@0.5": "SR@0.5", "R@0.7": None}, file="eval_got10k.json"),)),
    # Table 8: segmentation (masks from the model's box and points through SAM2)
    Benchmark("RefCOCO (segmentation)", 8, "image segmentation", "release",
              (_p("val", {"cIoU": 75.8}, {"cIoU": "cIoU"}, file="eval_seg_refcoco.json"),)),
    Benchmark("RefCOCO+ (segmentation)", 8, "image segmentation", "release",
              (_p("val", {"cIoU": 67.1}, {"cIoU": "cIoU"}, file="eval_seg_refcocop.json"),)),
    Benchmark("RefCOCOg (segmentation)", 8, "image segmentation", "release",
              (_p("val", {"cIoU": 70.8}, {"cIoU": "cIoU"}, file="eval_seg_refcocog.json"),)),
    Benchmark("MeViS", 8, "video segmentation", "release",
              (_p("", {"J": 48.8, "F": 56.7, "J&F": 52.7}, {"J": "J", "F": "F", "J&F": "J&F"}, file="eval_seg_mevis.json"),)),
    Benchmark("ReasonVOS", 8, "video segmentation", "release",
              (_p("", {"J": 51.1, "F": 58.7, "J&F": 54.9}, {"J": "J", "F": "F", "J&F": "J&F"},
                  file="eval_seg_reasonvos.json"),)),
)

SUITES: dict[str, tuple[Benchmark, ...]] = {"paper": PAPER_SUITE}


# -------------------------------------------------------------------------------------------------
# where each part's data is
# -------------------------------------------------------------------------------------------------
def default_lmms_python() -> str | None:
    """The lmms-eval environment's interpreter: $ONETHINKER_LMMS_PYTHON, else ``.venv-lmms/bin/python`` of
    the working folder or of this checkout, else None."""
    env = os.environ.get("ONETHINKER_LMMS_PYTHON")
    if env:
        return env
    here = Path(__file__).resolve().parents[2]
    for root in (Path.cwd(), here):
        py = root / ".venv-lmms" / "bin" / "python"
        if py.is_file():
            return str(py)
    return None


def release_file(data_root: Path | None, name: str) -> Path | None:
    """The release file under the data root (also as .jsonl or .parquet), or None."""
    if data_root is None:
        return None
    stem = Path(name).stem
    for suffix in (".json", ".jsonl", ".parquet"):
        p = data_root / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def part_status(bench: Benchmark, part: Part, data_root: Path | None, lmms_python: str | None) -> dict[str, Any]:
    """``{"ready": bool, "where": str}``: whether the part can run here, and where its data is or comes from."""
    if bench.source == "release":
        path = release_file(data_root, part.file or "")
        if path is not None:
            return {"ready": True, "where": str(path)}
        root = "no --data-root given" if data_root is None else f"not under {data_root}"
        return {"ready": False, "where": f"{part.file}: {root}", "get": RELEASE_DATA}
    if bench.source == "lmms-eval":
        if lmms_python is None:
            return {"ready": False, "where": "no lmms-eval environment",
                    "get": "make lmms-env (or --lmms-python / $ONETHINKER_LMMS_PYTHON); lmms-eval downloads each task's "
                           "dataset from the Hugging Face Hub on first use, or reads HF_HOME's cache"}
        return {"ready": True, "where": f"lmms-eval ({lmms_python}); the dataset from the Hub or HF_HOME's cache"}
    return {"ready": False, "where": "no source", "get": bench.note or "no source"}


def list_suite(benchmarks: Sequence[Benchmark], data_root: Path | None, lmms_python: str | None) -> list[dict]:
    """One row per benchmark part: name, table, family, metric(s), source, the paper's figures, status."""
    rows = []
    for b in benchmarks:
        for part in b.parts:
            st = part_status(b, part, data_root, lmms_python)
            rows.append({"benchmark": b.name, "part": part.label, "table": b.table, "family": b.family,
                         "source": b.source if b.source != "release" else f"release {part.file}",
                         "lmms_task": part.lmms_task, "metrics": list(part.paper), "paper": dict(part.paper),
                         "ready": st["ready"], "where": st["where"], "get": st.get("get"), "note": b.note})
    return rows


# -------------------------------------------------------------------------------------------------
# running
# -------------------------------------------------------------------------------------------------
@dataclass
class SuiteRun:
    """How to run the parts: the model, the release-file evaluation (a callable, so the command's
    generator and settings stay with the caller) and the lmms-eval command's settings."""

    model: str | None
    out: Path
    data_root: Path | None
    evaluate_release: Callable[[Path, Path, str | None], dict[str, Any]] | None = None
    lmms_python: str | None = None
    lmms_model_args: dict[str, Any] = field(default_factory=dict)
    lmms_include: Path | None = None
    batch_size: int = 8
    limit: int | None = None
    device: str = "cpu"
    log: Callable[[str], None] = print


def _lmms_results(out: Path, task: str) -> dict[str, float] | None:
    """lmms-eval's metrics for ``task`` from its newest ``*_results.json`` under ``out`` (keys without the
    filter suffix ",none"), or None."""
    files = sorted(out.rglob("*_results.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(files):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        block = (data.get("results") or {}).get(task)
        if isinstance(block, dict):
            return {k.split(",")[0]: float(v) for k, v in block.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and "_stderr" not in k}
    return None


def run_lmms_task(run: SuiteRun, task: str) -> dict[str, Any]:
    """``python -m lmms_eval --model onethinker`` for one task (skipped when its results exist: resumable).
    Returns ``{"metrics": {...}, "log": path}``; raises RuntimeError with the log's tail on failure."""
    out = run.out / "lmms" / task
    done = _lmms_results(out, task)
    if done is not None:
        return {"metrics": done, "log": str(out / "lmms-eval.log"), "resumed": True}
    out.mkdir(parents=True, exist_ok=True)
    args = {"pretrained": run.model, "log_dir": str(out / "replies"), **run.lmms_model_args}
    model_args = ",".join(f"{k}={v}" for k, v in args.items() if v is not None)
    cmd = [run.lmms_python or sys.executable, "-m", "lmms_eval", "--model", "onethinker", "--model_args", model_args,
           "--tasks", task, "--batch_size", str(run.batch_size), "--device", run.device, "--log_samples",
           "--output_path", str(out), "--verbosity", "DEBUG"]  # DEBUG: lmms-eval exits non-zero on a failure
    if run.limit is not None:
        cmd += ["--limit", str(run.limit)]
    if run.lmms_include is not None:
        cmd += ["--include_path", str(run.lmms_include)]
    log = out / "lmms-eval.log"
    with open(log, "w", encoding="utf-8") as f:
        f.write(" ".join(cmd) + "\n\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "WANDB_MODE": "disabled"})
    metrics = _lmms_results(out, task)
    if proc.returncode != 0 or metrics is None:
        tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
        raise RuntimeError(f"lmms-eval {task} failed (exit {proc.returncode}; log {log}):\n{tail}")
    return {"metrics": metrics, "log": str(log), "resumed": False}


def _measured(part: Part, metrics: dict[str, float], scale: float) -> dict[str, float | None]:
    return {pm: (None if key is None or key not in metrics else round(metrics[key] * scale, 2))
            for pm, key in part.metrics.items()}


def run_suite(run: SuiteRun, benchmarks: Sequence[Benchmark] = PAPER_SUITE) -> dict[str, Any]:
    """Run every part that can run here (release files under the data root, lmms-eval tasks in its
    environment); every other part is recorded as missing with where to get it. Writes ``suite.json``,
    ``suite.md`` and ``suite.html`` to ``run.out`` and returns the summary."""
    run.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for b in benchmarks:
        for part in b.parts:
            st = part_status(b, part, run.data_root, run.lmms_python)
            row: dict[str, Any] = {"benchmark": b.name, "part": part.label, "table": b.table, "family": b.family,
                                   "source": b.source, "file": part.file, "lmms_task": part.lmms_task,
                                   "paper": dict(part.paper), "measured": {k: None for k in part.paper},
                                   "metrics": {}, "status": "missing", "where": st["where"],
                                   "get": st.get("get"), "note": b.note}
            label = b.name + (f" {part.label}" if part.label else "")
            if st["ready"]:
                started = time.perf_counter()
                try:
                    if b.source == "release":
                        if run.evaluate_release is None:
                            raise RuntimeError("no model to evaluate release files with")
                        got = run.evaluate_release(Path(st["where"]), run.out / "release", part.family)
                        row["metrics"] = got
                        row["measured"] = _measured(part, got, 100.0)
                    else:
                        got = run_lmms_task(run, part.lmms_task or "")
                        row["metrics"], row["log"] = got["metrics"], got["log"]
                        # lmms-eval's scores are fractions for some tasks and percentages for others
                        vals = [got["metrics"].get(k) for k in part.metrics.values() if k]
                        scale = 1.0 if any(v is not None and v > 1.0 for v in vals) else 100.0
                        row["measured"] = _measured(part, got["metrics"], scale)
                    row["status"] = "done"
                except Exception as e:  # one benchmark's failure is recorded; the suite goes on
                    row["status"], row["error"] = "failed", f"{type(e).__name__}: {e}"
                row["seconds"] = round(time.perf_counter() - started, 1)
                run.log(f"{label}: {row['status']}" + (f" ({row.get('error', '')[:200]})" if row["status"] == "failed" else ""))
            else:
                run.log(f"{label}: missing ({st['where']})")
            rows.append(row)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "missing")}
    summary = {"suite": "paper", "paper_source": PAPER_SOURCE, "model": run.model,
               "data_root": None if run.data_root is None else str(run.data_root), "counts": counts,
               "benchmarks": len({r["benchmark"] for r in rows}), "rows": rows,
               "note": "measured metrics x100 beside the paper's OneThinker-8B figures (percent)"}
    (run.out / "suite.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (run.out / "suite.md").write_text(suite_markdown(summary), encoding="utf-8")
    (run.out / "suite.html").write_text(suite_html(summary), encoding="utf-8")
    return summary


def _cell(v: Any) -> str:
    return "–" if v is None else f"{v:.1f}"


def suite_markdown(summary: dict) -> str:
    lines = [f"# The paper's benchmark suite: {summary['model']}", "",
             f"{summary['benchmarks']} benchmarks; parts done {summary['counts']['done']}, failed "
             f"{summary['counts']['failed']}, missing {summary['counts']['missing']}. Measured x100 beside the "
             f"published OneThinker-8B figures ({summary['paper_source']}).", "",
             "| benchmark | table | family | metric | measured | paper | source | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        name = r["benchmark"] + (f" {r['part']}" if r["part"] else "")
        src = r["file"] or r["lmms_task"] or "none"
        status = r["status"] if r["status"] == "done" else f"{r['status']}: {r.get('error') or r['where']}"
        for i, (m, paper) in enumerate(r["paper"].items()):
            lines.append(f"| {name if i == 0 else ''} | {r['table'] if i == 0 else ''} | {r['family'] if i == 0 else ''} | "
                         f"{m} | {_cell(r['measured'].get(m))} | {paper:.1f} | {src if i == 0 else ''} | "
                         f"{status.replace('|', '/') if i == 0 else ''} |")
    return "\n".join(lines) + "\n"


def suite_html(summary: dict) -> str:
    from ..report.style import CSS

    e = html.escape
    body = [f"<h1>The paper's benchmark suite</h1><p>Model: <code>{e(str(summary['model']))}</code>. "
            f"{summary['benchmarks']} benchmarks; parts done {summary['counts']['done']}, failed "
            f"{summary['counts']['failed']}, missing {summary['counts']['missing']}. Measured metrics x100 beside "
            f"the published OneThinker-8B figures ({e(summary['paper_source'])}).</p>",
            "<table><tr><th>benchmark</th><th>table</th><th>family</th><th>metric</th><th>measured</th><th>paper</th>"
            "<th>source</th><th>status</th></tr>"]
    for r in summary["rows"]:
        name = r["benchmark"] + (f" {r['part']}" if r["part"] else "")
        src = r["file"] or r["lmms_task"] or "none"
        status = r["status"] if r["status"] == "done" else f"{r['status']}: {r.get('error') or r['where']}"
        n = len(r["paper"])
        for i, (m, paper) in enumerate(r["paper"].items()):
            head = (f"<td rowspan='{n}'>{e(name)}</td><td rowspan='{n}'>{r['table']}</td><td rowspan='{n}'>"
                    f"{e(r['family'])}</td>") if i == 0 else ""
            tail = f"<td rowspan='{n}'>{e(src)}</td><td rowspan='{n}'>{e(status)}</td>" if i == 0 else ""
            body.append(f"<tr>{head}<td>{e(m)}</td><td>{_cell(r['measured'].get(m))}</td><td>{paper:.1f}</td>{tail}</tr>")
    body.append("</table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>OneThinker paper suite</title><style>{CSS}"
            f"</style></head><body>{''.join(body)}</body></html>\n")

