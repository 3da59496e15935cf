"""Whole-pipeline runs: the demo (synthetic corpus -> tiny model -> SFT -> EMA-GRPO -> held-out
evaluation of both checkpoints -> report) and the estimator ablation. Every stage is skipped when its
output is already complete, and the long ones resume, so running the same command again continues."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
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
#: The task keys the demo's RL trains (SFT and the held-out set cover every key). Chosen by the probe of
#: the SFT checkpoint (docs/experiments.md): image questions whose samples disagree often enough for GRPO
#: to learn from, where greedy accuracy is below the best of 8 samples.
DEMO_RL_TASKS: tuple[str, ...] = ("multiple choice", "numerical", "regression", "spatial grounding")


@dataclass
class DemoCorpus:
    """The demo's corpus: three pools of disjoint scenes. RL prompts and held-out items lean on the keys
    RL trains (``weight`` times the records of any other key, mostly images) so that at least 400
    held-out items measure RL's effect, and every key keeps records for the majority baseline."""

    sft: int = 1600
    rl: int = 1600
    heldout: int = 640
    rl_tasks: tuple[str, ...] = DEMO_RL_TASKS
    weight: int = 3
    video_share: float = 0.5  # SFT conversations
    heldout_video_share: float = 0.15  # RL prompts and held-out items
    # One shape in many colours: the tiny vision tower learns colours and places within the demo's budget
    # but not the six shapes (docs/experiments.md E1-E3, V1-V2), so objects are told apart by colour.
    shapes: tuple[str, ...] = ("circle",)

    def synth_config(self, seed: int, workers: int):
        from .data.synth import SynthConfig
        from .tasks import TASKS

        weighted = [k for k in TASKS for _ in range(self.weight if k in self.rl_tasks else 1)]
        return SynthConfig(seed=seed, workers=workers, sft=self.sft, rl=self.rl, heldout=self.heldout,
                           video_share=self.video_share, rl_video_share=self.heldout_video_share,
                           heldout_video_share=self.heldout_video_share, rl_tasks=weighted, heldout_tasks=weighted,
                           shapes=list(self.shapes))


def build_corpus(out: Path, *, plan: DemoCorpus, seed: int, workers: int) -> Path:
    from .data.synth import synthesize

    corpus = out / "corpus"
    cfg = plan.synth_config(seed, workers)
    manifest = corpus / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text()).get("config", {})
        want = json.loads(json.dumps(asdict(cfg)))  # tuples as the manifest's lists
        if {k: v for k, v in old.items() if k != "workers"} == {k: v for k, v in want.items() if k != "workers"}:
            return corpus
    synthesize(cfg, corpus)
    return corpus


#: The perception-pretrained tiny model shipped with the package (``onethinker model pretrain``; see
#: onethinker/assets/README.md): the demo's stand-in for Qwen3-VL-Instruct.
SHIPPED_BASE = "assets/demo-base"
DEMO_SIZE = "tiny"
DEMO_PRETRAIN_STEPS = 1000


def shipped_base() -> Path | None:
    path = Path(str(resources.files("onethinker") / SHIPPED_BASE))
    return path if (path / "config.json").is_file() else None


def build_model(out: Path, corpus: Path, seed: int, size: str = "tiny") -> Path:
    from .models.tiny import build_tiny

    tiny = out / "tiny"
    if not (tiny / "config.json").is_file():
        build_tiny(tiny, corpus_dir=corpus, size=size, seed=seed)
    return tiny


def base_model(out: Path, corpus: Path, seed: int, *, fresh: bool, pretrain_steps: int = DEMO_PRETRAIN_STEPS,
               threads: int = 2, shapes: Sequence[str] = ()) -> Path:
    """The model SFT starts from: the shipped perception-pretrained base, or (``fresh``, or none shipped)
    a tiny model built on the corpus and put through ``pretrain_steps`` of the perception stage here
    (``pretrain_steps`` 0: the random model, as before the perception stage existed)."""
    from .models.pretrain import PretrainConfig, pretrain

    if not fresh and shipped_base() is not None:
        return shipped_base()  # type: ignore[return-value]
    tiny = build_model(out, corpus, seed, size=DEMO_SIZE)
    if pretrain_steps <= 0:
        return tiny
    final = out / "base" / "final"
    if not (final / "config.json").is_file():
        pretrain(PretrainConfig(model=str(tiny), out=str(out / "base"), steps=pretrain_steps, seed=seed, threads=threads,
                                shapes=tuple(shapes)))
    return final


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
                        batch_size: int = 16, threads: int = 2, temperature: float = 0.0,
                        bench: Path | None = None) -> list[dict]:
    """Held-out evaluation with the runner (resumable); returns the result rows. ``temperature`` > 0:
    one sample per item at that temperature (seeded) instead of the greedy answer."""
    import torch

    from .evaluate.runner import EvalConfig, evaluate
    from .evaluate.store import ResultStore
    from .generate import SamplingConfig, build_generator

    if threads:
        torch.set_num_threads(threads)
    bench = bench or corpus / "eval_synthetic.json"
    gen = build_generator("transformers", str(model))
    evaluate(gen, [bench], out, media_root=corpus, config=EvalConfig(batch_size=batch_size, limit=limit, segmenter="grabcut"),
             sampling=SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature))
    return ResultStore(out / f"{bench.stem}.jsonl").rows()


def _official(out: Path) -> dict[str, dict[str, float]]:
    path = out / "eval_synthetic.metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {fam: fm["metrics"] for fam, fm in m["families"].items()}


def rl_bench(corpus: Path, out: Path, tasks: Sequence[str]) -> Path:
    """The held-out items of the task keys RL trains, as their own benchmark file (for sampled evaluation)."""
    from .data.records import read_records, write_records
    from .tasks import task_key

    path = out / "eval_rl_tasks.json"
    if not path.is_file():
        recs = [r for r in read_records(corpus / "eval_synthetic.json") if task_key(r.get("problem_type"), r.get("data_type")) in tasks]
        write_records(path, recs)
    return path


def paired(a_dir: Path, b_dir: Path, *, tasks: Sequence[str] | None = None) -> dict[str, Any]:
    """``eval compare`` of two evaluation folders (B - A per task key and over all items), plus the same
    pooled over ``tasks`` (``"rl_tasks"``)."""
    from .evaluate.compare import compare_dirs

    return compare_dirs(a_dir, b_dir, pools={"rl_tasks": list(tasks)} if tasks else None)


# ---------------------------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------------------------
def run_demo(out: str | Path, *, plan: DemoCorpus | None = None, seed: int = 0, eval_limit: int | None = None,
             max_new_tokens: int = 256, sft_overrides: Sequence[str] = (), rl_overrides: Sequence[str] = (),
             workers: int = 2, threads: int = 2, fresh_base: bool = False,
             pretrain_steps: int = DEMO_PRETRAIN_STEPS, probe_prompts: int = 8, sampled_limit: int | None = 200) -> dict[str, Any]:
    """The demo; returns the summary written to OUT/summary.json. ``threads``: torch CPU threads of the
    evaluations (training threads are in the recipes: ``train.threads``, ``model.threads``)."""
    from .data.records import read_records
    from .evaluate.baseline import write_baseline_results
    from .training_report import demo_report, held_out_summary, read_log

    plan = plan or DemoCorpus()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t_all = time.perf_counter()
    rl_tasks = list(plan.rl_tasks)

    done = _stage("1/8 synthetic corpus (SFT conversations, RL prompts, held-out items: disjoint scenes)", timing)
    corpus = build_corpus(out, plan=plan, seed=seed, workers=workers)
    done()
    done = _stage("2/8 base model (perception-pretrained tiny Qwen3-VL)", timing)
    base = base_model(out, corpus, seed, fresh=fresh_base, pretrain_steps=pretrain_steps, threads=threads,
                      shapes=plan.shapes)
    done()
    done = _stage("3/8 SFT cold start", timing)
    sft = run_sft(out, [f"model.path={base}", *sft_overrides])
    done()
    done = _stage("4/8 held-out evaluation of the SFT checkpoint, and the majority baseline", timing)
    rows_sft = evaluate_checkpoint(sft, corpus, out / "eval_sft", limit=eval_limit, max_new_tokens=max_new_tokens,
                                   threads=threads)
    if not (out / "eval_majority" / "eval_synthetic.jsonl").is_file():
        write_baseline_results(list(read_records(corpus / "onethinker_rl_train.json")), corpus / "eval_synthetic.json",
                               out / "eval_majority")
    done()
    probe_result = None
    if probe_prompts > 0:
        done = _stage("5/8 probe of the SFT checkpoint on RL prompts (which tasks RL can move)", timing)
        probe_result = run_probe(out, sft, corpus, prompts_per_task=probe_prompts, threads=threads)
        done()
    done = _stage("6/8 RL with EMA-GRPO", timing)
    from .ui import progress as progress_bar

    with progress_bar() as bar:
        task = bar.add_task("RL steps", total=None)

        def update(step: int, total: int, values: dict) -> None:
            bar.update(task, completed=step, total=total,
                       description=f"RL steps (rollout reward {values.get('reward/all', float('nan')):.3f})")

        rl = run_rl(out, [f"data.tasks=[{','.join(json.dumps(t) for t in rl_tasks)}]", *rl_overrides], progress=update)
    done()
    done = _stage("7/8 held-out evaluation of the RL checkpoint; samples at temperature 1.0 of both", timing)
    rows_rl = evaluate_checkpoint(rl, corpus, out / "eval_rl", limit=eval_limit, max_new_tokens=max_new_tokens,
                                  threads=threads)
    sampled: dict[str, Any] = {}
    if sampled_limit != 0:
        bench = rl_bench(corpus, out, rl_tasks)
        for name, model in (("sft", sft), ("rl", rl)):
            rows = evaluate_checkpoint(model, corpus, out / f"eval_{name}_t1", limit=sampled_limit,
                                       max_new_tokens=max_new_tokens, threads=threads, temperature=1.0, bench=bench)
            sampled[name] = held_out_summary(rows)
    done()
    done = _stage("8/8 comparisons and report", timing)
    from .evaluate.store import ResultStore

    rows_major = ResultStore(out / "eval_majority" / "eval_synthetic.jsonl").rows()
    compare = {"rl_vs_sft": paired(out / "eval_sft", out / "eval_rl", tasks=rl_tasks),
               "sft_vs_majority": paired(out / "eval_majority", out / "eval_sft", tasks=rl_tasks),
               "rl_vs_majority": paired(out / "eval_majority", out / "eval_rl", tasks=rl_tasks)}
    timing["total"] = round(time.perf_counter() - t_all, 1)
    summary = {
        "sft": held_out_summary(rows_sft),
        "rl": held_out_summary(rows_rl),
        "majority": held_out_summary(rows_major),
        "rl_tasks": rl_tasks,
        "compare": compare,
        "sampled_t1": sampled,
        "probe": probe_result,
        "official": {"sft": _official(out / "eval_sft"), "rl": _official(out / "eval_rl")},
        "base": str(base),
        "timing": timing,
        "note": (f"{len(rows_rl)} held-out items of the synthetic corpus (seed {seed}, scenes no training stage saw); "
                 f"greedy decoding, at most {max_new_tokens} new tokens; reward = the OneThinker training reward "
                 "(overall, format, accuracy); differences with paired bootstrap 95% CIs (2,000 resamples, seed 0); "
                 "majority = the best single answer per task key on the RL prompts, given to every item"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    report = demo_report(out, summary, sft_log=read_log(out / "sft" / "log.jsonl"), rl_log=read_log(out / "rl" / "log.jsonl"),
                         eval_dirs={"SFT checkpoint": out / "eval_sft", "RL checkpoint": out / "eval_rl"})
    done()
    summary["report"] = str(report)
    return summary


def run_heldout_draw(out: str | Path, draw_seed: int, *, plan: DemoCorpus | None = None, max_new_tokens: int = 256,
                     eval_limit: int | None = None, workers: int = 2, threads: int = 2) -> dict[str, Any]:
    """A finished demo's SFT and RL checkpoints (and the majority baseline of its RL prompts) on a second
    held-out set, drawn like the first but from corpus seed ``draw_seed``: its scenes are new to every
    stage. Written to OUT/heldout-seedS/ and merged into OUT/summary.json under ``heldout_draws``."""
    from .data.records import read_records
    from .data.synth import synthesize
    from .evaluate.baseline import write_baseline_results

    plan = plan or DemoCorpus()
    out = Path(out).resolve()
    sft, rl, corpus = out / "sft" / "final", out / "rl" / "final", out / "corpus"
    missing = [str(p) for p in (sft / "config.json", rl / "config.json", corpus / "manifest.json") if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{out}: not a finished demo run (missing {', '.join(missing)}); run `onethinker demo --out {out}` first")
    run_seed = json.loads((corpus / "manifest.json").read_text()).get("config", {}).get("seed")
    if run_seed == draw_seed:
        raise ValueError(f"--heldout-draw {draw_seed}: that is the run's own corpus seed; pick another so the scenes are new")
    folder = out / f"heldout-seed{draw_seed}"
    cfg = plan.synth_config(draw_seed, workers)
    cfg.sft, cfg.rl = 0, 0
    draw = folder / "corpus"
    if not (draw / "manifest.json").is_file():
        synthesize(cfg, draw)
    rows = {name: evaluate_checkpoint(model, draw, folder / f"eval_{name}", limit=eval_limit, max_new_tokens=max_new_tokens,
                                      threads=threads) for name, model in (("sft", sft), ("rl", rl))}
    if not (folder / "eval_majority" / "eval_synthetic.jsonl").is_file():
        write_baseline_results(list(read_records(corpus / "onethinker_rl_train.json")), draw / "eval_synthetic.json",
                               folder / "eval_majority")
    tasks = list(plan.rl_tasks)
    result = {"seed": draw_seed, "items": len(rows["rl"]),
              "compare": {"rl_vs_sft": paired(folder / "eval_sft", folder / "eval_rl", tasks=tasks),
                          "sft_vs_majority": paired(folder / "eval_majority", folder / "eval_sft", tasks=tasks),
                          "rl_vs_majority": paired(folder / "eval_majority", folder / "eval_rl", tasks=tasks)}}
    (folder / "summary.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    main = out / "summary.json"
    if main.is_file():
        summary = json.loads(main.read_text())
        summary.setdefault("heldout_draws", {})[str(draw_seed)] = result
        main.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return result


def run_probe(out: Path, model: Path, corpus: Path, *, prompts_per_task: int, threads: int, n: int = 8) -> dict[str, Any]:
    """``onethinker probe`` of ``model`` on ``prompts_per_task`` RL prompts of each task key (n samples at
    temperature 1.0); written to OUT/probe/probe.json."""
    import torch

    from .data.records import read_records
    from .evaluate.probe import ProbeConfig, probe
    from .generate import build_generator
    from .tasks import task_key

    path = out / "probe" / "probe.json"
    if path.is_file():
        return json.loads(path.read_text())
    if threads:
        torch.set_num_threads(threads)
    train = list(read_records(corpus / "onethinker_rl_train.json"))
    picked: list[dict] = []
    seen: dict[str, int] = {}
    for r in train:
        k = task_key(r.get("problem_type"), r.get("data_type"))
        if seen.get(k, 0) < prompts_per_task:
            seen[k] = seen.get(k, 0) + 1
            picked.append(r)
    gen = build_generator("transformers", str(model))
    result, _ = probe(gen, picked, train_records=train, config=ProbeConfig(n=n, temperature=1.0, max_new_tokens=256),
                      media_root=corpus)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


# ---------------------------------------------------------------------------------------------
# the ablation
# ---------------------------------------------------------------------------------------------
def run_ablation(out: str | Path, *, estimators: Sequence[str], seeds: int, plan: DemoCorpus | None = None, seed: int = 0,
                 eval_limit: int | None = None, max_new_tokens: int = 256, rl_overrides: Sequence[str] = (),
                 sft_overrides: Sequence[str] = (), workers: int = 2, threads: int = 2, fresh_base: bool = False,
                 pretrain_steps: int = DEMO_PRETRAIN_STEPS) -> dict[str, Any]:
    """The same data, SFT start and number of steps for every estimator, ``seeds`` seeds each. Per task
    key: each estimator's held-out reward (per item, averaged over its seeds) and its difference to the
    SFT start with a paired bootstrap 95% CI."""
    from .evaluate.compare import paired_bootstrap
    from .training_report import ablation_report, held_out_summary, read_log, row_task_key

    plan = plan or DemoCorpus()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    rl_tasks = list(plan.rl_tasks)
    done = _stage("corpus, base model, SFT start and its evaluation (shared by every run)", timing)
    corpus = build_corpus(out, plan=plan, seed=seed, workers=workers)
    base = base_model(out, corpus, seed, fresh=fresh_base, pretrain_steps=pretrain_steps, threads=threads,
                      shapes=plan.shapes)
    sft = run_sft(out, [f"model.path={base}", *sft_overrides])
    rows_sft = evaluate_checkpoint(sft, corpus, out / "eval_sft", limit=eval_limit, max_new_tokens=max_new_tokens,
                                   threads=threads)
    done()
    results: dict[str, list[dict]] = {}
    logs: dict[str, list[list[dict]]] = {}
    per_item: dict[str, dict[str, list[float]]] = {}
    for est in estimators:
        results[est], logs[est], per_item[est] = [], [], {}
        for s in range(seeds):
            name = f"rl_{est}_seed{s}"
            done = _stage(f"{est}, seed {s}", timing)
            final = run_rl(out, [f"algorithm.estimator={est}", f"run.seed={s}",
                                 f"data.tasks=[{','.join(json.dumps(t) for t in rl_tasks)}]", *rl_overrides], output_dir=name)
            rows = evaluate_checkpoint(final, corpus, out / f"eval_{name}", limit=eval_limit, max_new_tokens=max_new_tokens,
                                       threads=threads)
            results[est].append(held_out_summary(rows))
            for r in rows:
                per_item[est].setdefault(json.dumps(r["problem_id"]), []).append(float(r["reward"]["overall"]))
            logs[est].append(read_log(out / name / "log.jsonl"))
            done()
    sft_by = {json.dumps(r["problem_id"]): r for r in rows_sft}
    cis: dict[str, dict[str, Any]] = {}
    for est in estimators:
        cis[est] = {}
        groups: dict[str, list[str]] = {}
        for k in per_item[est]:
            if k in sft_by:
                groups.setdefault(row_task_key(sft_by[k]), []).append(k)
                groups.setdefault("all", []).append(k)
                if row_task_key(sft_by[k]) in rl_tasks:
                    groups.setdefault("rl_tasks", []).append(k)
        for g, keys in sorted(groups.items()):
            a = [float(sft_by[k]["reward"]["overall"]) for k in keys]
            b = [sum(per_item[est][k]) / len(per_item[est][k]) for k in keys]
            lo, hi = paired_bootstrap(a, b)
            cis[est][g] = {"n": len(keys), "sft": sum(a) / len(a), "rl": sum(b) / len(b),
                           "diff": sum(b) / len(b) - sum(a) / len(a), "ci95": [lo, hi]}
    summary = {"estimators": list(estimators), "seeds": seeds, "rl_tasks": rl_tasks, "held_out": results,
               "sft": held_out_summary(rows_sft), "vs_sft": cis, "timing": timing,
               "method": "per item: reward averaged over the seeds; diff to the SFT start with a paired percentile "
                         "bootstrap 95% CI (2,000 resamples, seed 0)"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    summary["report"] = str(ablation_report(out, results, logs, vs_sft=cis))
    return summary
