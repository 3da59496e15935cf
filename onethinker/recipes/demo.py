"""The demo recipe (``onethinker demo``): synthetic corpus -> perception-pretrained tiny model -> SFT ->
probe -> EMA-GRPO -> held-out evaluation of both checkpoints against the majority baseline -> report; and a
finished run's second held-out draw."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from ..config import load_config
from .stages import (DEMO_PRETRAIN_STEPS, DemoCorpus, _official, _stage, base_model, build_corpus, evaluate_checkpoint,
                     paired, rl_bench, rl_data_filter, run_probe, run_rl, run_sft)


# ---------------------------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------------------------
def run_demo(out: str | Path, *, plan: DemoCorpus | None = None, seed: int = 0, eval_limit: int | None = None,
             max_new_tokens: int = 256, sft_overrides: Sequence[str] = (), rl_overrides: Sequence[str] = (),
             workers: int = 2, threads: int = 2, fresh_base: bool = False,
             pretrain_steps: int = DEMO_PRETRAIN_STEPS, probe_prompts: int = 8, sampled_limit: int | None = 200) -> dict[str, Any]:
    """The demo; returns the summary written to OUT/summary.json. ``threads``: torch CPU threads of the
    evaluations (training threads are in the recipes: ``train.threads``, ``model.threads``)."""
    from ..data.records import read_records
    from ..evaluate.baseline import write_baseline_results
    from ..report.training import answer_spread, collapsed_keys, demo_report, read_log
    from ..tasks.means import held_out_summary

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
    # --seed seeds every stage: corpus and base above, SFT and RL here (an explicit override still wins), sampling
    sft = run_sft(out, [f"model.path={base}", f"train.seed={seed}", *sft_overrides])
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
        probe_result = run_probe(out, sft, corpus, prompts_per_task=probe_prompts, threads=threads, seed=seed,
                                 rl_overrides=[rl_data_filter(plan), *rl_overrides])
        _warn_risks(probe_result, plan)
        done()
    done = _stage("6/8 RL with EMA-GRPO", timing)
    from ..ui import progress as progress_bar

    with progress_bar() as bar:
        task = bar.add_task("RL steps", total=None)

        def update(step: int, total: int, values: dict) -> None:
            bar.update(task, completed=step, total=total,
                       description=f"RL steps (rollout reward {values.get('reward/all', float('nan')):.3f})")

        rl = run_rl(out, [rl_data_filter(plan), f"run.seed={seed}", *rl_overrides], progress=update)
    done()
    done = _stage("7/8 held-out evaluation of the RL checkpoint; samples at temperature 1.0 of both", timing)
    rows_rl = evaluate_checkpoint(rl, corpus, out / "eval_rl", limit=eval_limit, max_new_tokens=max_new_tokens,
                                  threads=threads)
    sampled: dict[str, Any] = {}
    if sampled_limit != 0:
        bench = rl_bench(corpus, out, rl_tasks)
        for name, model in (("sft", sft), ("rl", rl)):
            rows = evaluate_checkpoint(model, corpus, out / f"eval_{name}_t1", limit=sampled_limit,
                                       max_new_tokens=max_new_tokens, threads=threads, temperature=1.0, bench=bench,
                                       seed=seed)
            sampled[name] = held_out_summary(rows)
    done()
    done = _stage("8/8 comparisons and report", timing)
    from ..rl.config import RLConfig
    from ..evaluate.store import ResultStore

    rows_major = ResultStore(out / "eval_majority" / "eval_synthetic.jsonl").rows()
    compare = {"rl_vs_sft": paired(out / "eval_sft", out / "eval_rl", tasks=rl_tasks),
               "sft_vs_majority": paired(out / "eval_majority", out / "eval_sft", tasks=rl_tasks),
               "rl_vs_majority": paired(out / "eval_majority", out / "eval_rl", tasks=rl_tasks)}
    spread = {"sft": answer_spread(rows_sft), "rl": answer_spread(rows_rl)}
    timing["total"] = round(time.perf_counter() - t_all, 1)
    summary = {
        "sft": held_out_summary(rows_sft),
        "rl": held_out_summary(rows_rl),
        "majority": held_out_summary(rows_major),
        "rl_tasks": rl_tasks,
        "rl_mix": plan.rl_mix,
        # the weights the RL run resolved (its saved config), whatever --set gave
        "rl_task_weights": dict(load_config(RLConfig, out / "rl" / "config.yaml").data.task_weights),
        "compare": compare,
        "greedy_answers": spread,
        "collapsed": collapsed_keys(spread["sft"], spread["rl"]),
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


def _warn_risks(probe_result: dict[str, Any], plan: DemoCorpus) -> list[str]:
    """Before RL: the probe's predictions (collapse toward the constant answer, no gradient) for the keys RL
    trains, printed as warnings; the lines are returned (and kept in summary.json)."""
    from rich.markup import escape

    from ..evaluate.probe import risk_lines
    from ..ui import console

    keys = None if plan.rl_mix else list(plan.rl_tasks)
    lines = risk_lines(probe_result, keys)
    for line in lines:
        console.print(f"[yellow]probe warning:[/yellow] {escape(line)}", highlight=False)
    probe_result["warnings"] = lines
    return lines


def run_heldout_draw(out: str | Path, draw_seed: int, *, plan: DemoCorpus | None = None, max_new_tokens: int = 256,
                     eval_limit: int | None = None, workers: int = 2, threads: int = 2) -> dict[str, Any]:
    """A finished demo's SFT and RL checkpoints (and the majority baseline of its RL prompts) on a second
    held-out set, drawn like the first but from corpus seed ``draw_seed``: its scenes are new to every
    stage. Written to OUT/heldout-seedS/ and merged into OUT/summary.json under ``heldout_draws``."""
    from ..data.records import read_records
    from ..synthetic.corpus import synthesize
    from ..evaluate.baseline import write_baseline_results

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
