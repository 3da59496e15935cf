"""The estimator ablation recipe (``onethinker ablate``): several advantage estimators x seeds from one SFT
start, per-task held-out reward against that start with paired CIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .stages import (DEMO_PRETRAIN_STEPS, DemoCorpus, _stage, base_model, build_corpus, evaluate_checkpoint,
                     rl_data_filter, run_rl, run_sft)


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
    from ..report.training import ablation_report, read_log
    from ..tasks.means import held_out_summary

    plan = plan or DemoCorpus()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    rl_tasks = list(plan.rl_tasks)
    done = _stage("corpus, base model, SFT start and its evaluation (shared by every run)", timing)
    corpus = build_corpus(out, plan=plan, seed=seed, workers=workers)
    base = base_model(out, corpus, seed, fresh=fresh_base, pretrain_steps=pretrain_steps, threads=threads,
                      shapes=plan.shapes)
    sft = run_sft(out, [f"model.path={base}", f"train.seed={seed}", *sft_overrides])
    rows_sft = evaluate_checkpoint(sft, corpus, out / "eval_sft", limit=eval_limit, max_new_tokens=max_new_tokens,
                                   threads=threads)
    done()
    results: dict[str, list[dict]] = {est: [] for est in estimators}
    logs: dict[str, list[list[dict]]] = {est: [] for est in estimators}
    # per estimator, item -> one (reward, accuracy) per seed run
    per_item: dict[str, dict[str, list[tuple[float, float]]]] = {est: {} for est in estimators}
    # Seed-major: after seed 0 every estimator has one run, so an ablation that is stopped part way (or a
    # budget that allows one seed) still compares all of them; summary.json and report.html are rewritten
    # after every run.
    summary: dict[str, Any] = _summarise(out, estimators, seeds, rl_tasks, results, per_item, rows_sft, timing)
    for s in range(seeds):
        for est in estimators:
            name = f"rl_{est}_seed{s}"
            done = _stage(f"{est}, seed {s}", timing)
            final = run_rl(out, [f"algorithm.estimator={est}", f"run.seed={s}",
                                 rl_data_filter(plan), *rl_overrides], output_dir=name)
            rows = evaluate_checkpoint(final, corpus, out / f"eval_{name}", limit=eval_limit, max_new_tokens=max_new_tokens,
                                       threads=threads)
            results[est].append(held_out_summary(rows))
            for r in rows:
                per_item[est].setdefault(json.dumps(r["problem_id"]), []).append(
                    (float(r["reward"]["overall"]), float(r["reward"]["accuracy"])))
            logs[est].append(read_log(out / name / "log.jsonl"))
            done()
            summary = _summarise(out, estimators, seeds, rl_tasks, results, per_item, rows_sft, timing)
            summary["report"] = str(ablation_report(out, results, logs, vs_sft=summary["vs_sft"],
                                                    vs_estimators=summary["vs_estimators"]))
    if "report" not in summary:  # no run (seeds 0)
        summary["report"] = str(ablation_report(out, results, logs, vs_sft=summary["vs_sft"],
                                                vs_estimators=summary["vs_estimators"]))
    return summary


def _summarise(out: Path, estimators: Sequence[str], seeds: int, rl_tasks: list[str], results: dict[str, list[dict]],
               per_item: dict[str, dict[str, list[tuple[float, float]]]], rows_sft: list[dict],
               timing: dict[str, float]) -> dict[str, Any]:
    """Per estimator and task key (plus the pooled RL keys and all keys): the SFT start's and the RL runs' mean
    held-out reward and accuracy (per item averaged over the seeds run so far) and paired bootstrap CIs of the
    differences (``vs_sft``); and every pair of estimators against each other the same way, over the items both
    have (``vs_estimators``, keyed "a vs b": b minus a); written to ``out/summary.json``."""
    from ..tasks.means import held_out_summary

    sft_by = {json.dumps(r["problem_id"]): r for r in rows_sft}
    sft_scores = {k: (float(r["reward"]["overall"]), float(r["reward"]["accuracy"])) for k, r in sft_by.items()}

    def seed_mean(est: str) -> dict[str, tuple[float, float]]:
        return {k: (sum(v[0] for v in vals) / len(vals), sum(v[1] for v in vals) / len(vals))
                for k, vals in per_item[est].items() if vals}

    ran = [est for est in estimators if per_item[est]]
    means = {est: seed_mean(est) for est in ran}
    cis = {est: _paired(sft_scores, means[est], sft_by, rl_tasks) for est in ran}
    pairs = {f"{a} vs {b}": _paired(means[a], means[b], sft_by, rl_tasks)
             for i, a in enumerate(ran) for b in ran[i + 1:]}
    summary = {"estimators": list(estimators), "seeds": seeds,
               "seeds_done": {est: len(results[est]) for est in estimators}, "rl_tasks": rl_tasks,
               "held_out": results, "sft": held_out_summary(rows_sft), "vs_sft": cis, "vs_estimators": pairs,
               "timing": dict(timing),
               "method": "per item: reward and accuracy averaged over the seeds run; differences (RL - SFT; for 'a vs "
                         "b', b - a) with paired percentile bootstrap 95% CIs over items (2,000 resamples, seed 0)"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _paired(a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]], rows_by: dict[str, dict],
            rl_tasks: list[str]) -> dict[str, dict[str, Any]]:
    """Per task key of the items ``a`` and ``b`` share (and "all", "rl_tasks"): both means of reward and accuracy,
    the difference b - a and its paired bootstrap 95% CI. Reward keeps the former field names (sft, rl, diff, ci95)."""
    from ..evaluate.compare import paired_bootstrap
    from ..tasks.means import row_task_key

    groups: dict[str, list[str]] = {}
    for k in b:
        if k in a and k in rows_by:
            key = row_task_key(rows_by[k])
            groups.setdefault(key, []).append(k)
            groups.setdefault("all", []).append(k)
            if key in rl_tasks:
                groups.setdefault("rl_tasks", []).append(k)
    out: dict[str, dict[str, Any]] = {}
    for g, keys in sorted(groups.items()):
        block: dict[str, Any] = {"n": len(keys)}
        for j, (mean_a, mean_b, diff, ci) in enumerate((("sft", "rl", "diff", "ci95"),
                                                          ("sft_acc", "rl_acc", "diff_acc", "ci95_acc"))):
            xa, xb = [a[k][j] for k in keys], [b[k][j] for k in keys]
            lo, hi = paired_bootstrap(xa, xb)
            block.update({mean_a: sum(xa) / len(xa), mean_b: sum(xb) / len(xb),
                          diff: sum(xb) / len(xb) - sum(xa) / len(xa), ci: [lo, hi]})
        out[g] = block
    return out
