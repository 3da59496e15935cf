"""Whole-pipeline runs: the demo (synthetic corpus -> tiny model -> SFT -> EMA-GRPO -> held-out
evaluation of both checkpoints -> report) and the estimator ablation. Every stage is skipped when its
output is already complete, and the long ones resume, so running the same command again continues."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import load_config
from .ui import console

log = logging.getLogger(__name__)


def recipe(name: str) -> Path:
    """A YAML recipe shipped with the package (``configs/`` in the repository links to the same files)."""
    path = Path(str(resources.files("onethinker") / "configs" / name))
    if not path.is_file():
        raise FileNotFoundError(f"recipe {name!r} not found in {path.parent}")
    return path


def _stage(name: str, timing: dict[str, float]) -> Callable[[], None]:
    console.print(f"[bold]{name}[/bold]")
    t0 = time.perf_counter()

    def done() -> None:
        timing[name] = round(time.perf_counter() - t0, 1)
        console.print(f"  {name}: {timing[name]:.0f} s")

    return done


# ---------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------
#: The demo's corpus: 2,000 records, 12% of the scenes held out (240 items), the rest (1,760) for SFT and RL.
DEMO_N, DEMO_HELD_OUT = 2000, 0.12


def build_corpus(out: Path, *, n: int, seed: int, workers: int, held_out: float = DEMO_HELD_OUT) -> Path:
    from .data.synth import SynthConfig, synthesize

    corpus = out / "corpus"
    cfg = SynthConfig(n=n, seed=seed, workers=workers, held_out=held_out)
    manifest = corpus / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text()).get("config", {})
        want = json.loads(json.dumps(asdict(cfg)))  # tuples as the manifest's lists
        if {k: v for k, v in old.items() if k != "workers"} == {k: v for k, v in want.items() if k != "workers"}:
            return corpus
    synthesize(cfg, corpus)
    return corpus


def build_model(out: Path, corpus: Path, seed: int) -> Path:
    from .models.tiny import build_tiny

    tiny = out / "tiny"
    if not (tiny / "config.json").is_file():
        build_tiny(tiny, corpus_dir=corpus, size="tiny", seed=seed)
    return tiny


def run_sft(out: Path, overrides: Sequence[str]) -> Path:
    from .sft.config import SFTConfig
    from .sft.trainer import train_sft

    final = out / "sft" / "final"
    if (final / "config.json").is_file():
        return final
    cfg = load_config(SFTConfig, recipe("demo-sft.yaml"), [f"root={out}", "format_check.file=", *overrides])
    train_sft(cfg, resume="auto")
    return final


def run_rl(out: Path, overrides: Sequence[str], *, output_dir: str = "rl",
           progress: Callable[[int, int, dict], None] | None = None) -> Path:
    from .rl.config import RLConfig
    from .rl.trainer import train_rl

    final = out / output_dir / "final"
    if (final / "config.json").is_file():
        return final
    cfg = load_config(RLConfig, recipe("demo-rl.yaml"), [f"root={out}", f"run.output_dir={output_dir}", *overrides])
    has_ckpt = any((out / output_dir / "checkpoints").glob("step-*"))
    train_rl(cfg, resume="latest" if has_ckpt else None, progress=progress)
    return final


def evaluate_checkpoint(model: Path, corpus: Path, out: Path, *, limit: int | None, max_new_tokens: int,
                        batch_size: int = 16, threads: int = 2) -> list[dict]:
    """Held-out evaluation with the runner (resumable); returns the result rows."""
    import torch

    from .evaluate.runner import EvalConfig, evaluate
    from .evaluate.store import ResultStore
    from .generate import SamplingConfig, build_generator

    if threads:
        torch.set_num_threads(threads)
    bench = corpus / "eval_synthetic.json"
    gen = build_generator("transformers", str(model))
    evaluate(gen, [bench], out, media_root=corpus, config=EvalConfig(batch_size=batch_size, limit=limit, segmenter="grabcut"),
             sampling=SamplingConfig(max_new_tokens=max_new_tokens))
    return ResultStore(out / "eval_synthetic.jsonl").rows()


def _official(out: Path) -> dict[str, dict[str, float]]:
    path = out / "eval_synthetic.metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {fam: fm["metrics"] for fam, fm in m["families"].items()}


# ---------------------------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------------------------
def run_demo(out: str | Path, *, n: int = DEMO_N, held_out: float = DEMO_HELD_OUT, seed: int = 0, eval_limit: int | None = None, max_new_tokens: int = 256,
             sft_overrides: Sequence[str] = (), rl_overrides: Sequence[str] = (), workers: int = 2,
             threads: int = 2) -> dict[str, Any]:
    """The demo; returns the summary written to OUT/summary.json. ``threads``: torch CPU threads of the
    evaluations (training threads are in the recipes: ``train.threads``, ``model.threads``)."""
    from .training_report import demo_report, held_out_summary, read_log

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t_all = time.perf_counter()

    done = _stage("1/7 synthetic corpus", timing)
    corpus = build_corpus(out, n=n, seed=seed, workers=workers, held_out=held_out)
    done()
    done = _stage("2/7 tiny Qwen3-VL (random weights, tokenizer trained on the corpus)", timing)
    build_model(out, corpus, seed)
    done()
    done = _stage("3/7 SFT cold start", timing)
    sft = run_sft(out, sft_overrides)
    done()
    done = _stage("4/7 held-out evaluation of the SFT checkpoint", timing)
    rows_sft = evaluate_checkpoint(sft, corpus, out / "eval_sft", limit=eval_limit, max_new_tokens=max_new_tokens,
                                   threads=threads)
    done()
    done = _stage("5/7 RL with EMA-GRPO", timing)
    from .ui import progress as progress_bar

    with progress_bar() as bar:
        task = bar.add_task("RL steps", total=None)

        def update(step: int, total: int, values: dict) -> None:
            bar.update(task, completed=step, total=total,
                       description=f"RL steps (rollout reward {values.get('reward/all', float('nan')):.3f})")

        rl = run_rl(out, rl_overrides, progress=update)
    done()
    done = _stage("6/7 held-out evaluation of the RL checkpoint", timing)
    rows_rl = evaluate_checkpoint(rl, corpus, out / "eval_rl", limit=eval_limit, max_new_tokens=max_new_tokens,
                                  threads=threads)
    done()
    done = _stage("7/7 report", timing)
    timing["total"] = round(time.perf_counter() - t_all, 1)
    summary = {
        "sft": held_out_summary(rows_sft),
        "rl": held_out_summary(rows_rl),
        "official": {"sft": _official(out / "eval_sft"), "rl": _official(out / "eval_rl")},
        "timing": timing,
        "note": (f"{len(rows_rl)} held-out items of the synthetic corpus (n={n}, seed={seed}); greedy decoding, "
                 f"at most {max_new_tokens} new tokens; reward = the OneThinker training reward (overall, format, accuracy)"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    report = demo_report(out, summary, sft_log=read_log(out / "sft" / "log.jsonl"), rl_log=read_log(out / "rl" / "log.jsonl"),
                         eval_dirs={"SFT checkpoint": out / "eval_sft", "RL checkpoint": out / "eval_rl"})
    done()
    summary["report"] = str(report)
    return summary


# ---------------------------------------------------------------------------------------------
# the ablation
# ---------------------------------------------------------------------------------------------
def run_ablation(out: str | Path, *, estimators: Sequence[str], seeds: int, n: int = DEMO_N,
                 held_out: float = DEMO_HELD_OUT, seed: int = 0,
                 eval_limit: int | None = None, max_new_tokens: int = 256, rl_overrides: Sequence[str] = (),
                 sft_overrides: Sequence[str] = (), workers: int = 2, threads: int = 2) -> dict[str, Any]:
    """The same data, SFT start and number of steps for every estimator, ``seeds`` seeds each."""
    from .training_report import ablation_report, held_out_summary, read_log

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    done = _stage("corpus, tiny model and SFT start (shared by every run)", timing)
    corpus = build_corpus(out, n=n, seed=seed, workers=workers, held_out=held_out)
    build_model(out, corpus, seed)
    run_sft(out, sft_overrides)
    done()
    results: dict[str, list[dict]] = {}
    logs: dict[str, list[list[dict]]] = {}
    for est in estimators:
        results[est], logs[est] = [], []
        for s in range(seeds):
            name = f"rl_{est}_seed{s}"
            done = _stage(f"{est}, seed {s}", timing)
            final = run_rl(out, [f"algorithm.estimator={est}", f"run.seed={s}", *rl_overrides], output_dir=name)
            rows = evaluate_checkpoint(final, corpus, out / f"eval_{name}", limit=eval_limit, max_new_tokens=max_new_tokens,
                                       threads=threads)
            results[est].append(held_out_summary(rows))
            logs[est].append(read_log(out / name / "log.jsonl"))
            done()
    summary = {"estimators": list(estimators), "seeds": seeds, "held_out": results, "timing": timing}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    summary["report"] = str(ablation_report(out, results, logs))
    return summary
