"""``onethinker demo --out DIR``: the end-to-end path that exists so far.

Simulates a step of RL rollouts over every task (correct, near-miss, wrong and malformed responses),
scores them with the batch reward, and writes the rollouts, the rewards and a summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..rewards import RewardConfig, RewardScorer, mean_by
from ..simulate import rollouts
from ..ui import console, results_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo pipeline on built-in synthetic data")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--prompts", type=int, default=256, help="simulated prompts (default 256)")
    p.add_argument("--rollouts", type=int, default=8, help="rollouts per prompt (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = rollouts(args.prompts, args.rollouts, seed=args.seed)
    with (out / "rollouts.jsonl").open("w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it) + "\n")
    t0 = time.perf_counter()
    with RewardScorer(RewardConfig()) as scorer:
        results = scorer.score_batch(items)
        stats = scorer.last_stats
    seconds = time.perf_counter() - t0
    with (out / "rewards.jsonl").open("w", encoding="utf-8") as f:
        for it, r in zip(items, results):
            f.write(json.dumps({"problem_id": it["problem_id"], "task": it["task"], "kind": it["kind"], **r.to_dict()}) + "\n")
    by_task = mean_by(results, [it["task"] for it in items])
    by_kind = mean_by(results, [it["kind"] for it in items])
    summary = {"items": len(items), "seconds": round(seconds, 3), "by_task": by_task, "by_kind": by_kind}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    console.print(results_table(results, [it["task"] for it in items], title="reward by task"))
    console.print(results_table(results, [it["kind"] for it in items], title="reward by kind of response"))
    console.print(
        f"scored {len(items)} rollouts in {seconds:.2f} s ({stats.computed} accuracy comparisons run, "
        f"{stats.timeouts} timeouts); outputs in {out}/ (rollouts.jsonl, rewards.jsonl, summary.json)"
    )
    return 0
