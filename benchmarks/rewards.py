"""Reward scoring throughput: ``score_batch`` against a plain loop over ``score``.

    python benchmarks/rewards.py [--prompts 1024] [--rollouts 8] [--seed 0] [--workers -1]

A mixed batch of simulated RL rollouts (every problem type; correct, near-miss, wrong and malformed
responses, a few of them huge) is scored twice in this process:
- baseline: ``for item in batch: score(...)`` - one at a time, no cache, no worker pool;
- ``RewardScorer.score_batch``: a cold call (worker start-up included) and warm calls (workers up,
  as from the second step of an RL run; every memo table empty, so nothing is carried over).
Plain and warm runs alternate (``--repeats``) and medians are reported, because this machine's speed
drifts. It prints items/s for each and the ratios, and fails if any score differs between the paths.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time

from onethinker.rewards import RewardConfig, RewardScorer, score
from onethinker.synthetic.rollouts import rollouts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=1024)
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=-1, help="worker processes (-1: one per core)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each path")
    args = ap.parse_args(argv)

    items = rollouts(args.prompts, args.rollouts, seed=args.seed)
    n = len(items)
    kinds = collections.Counter(it["kind"] for it in items)
    huge = sum(len(it["response"]) > 10_000 for it in items)
    print(f"batch: {n} responses = {args.prompts} prompts x {args.rollouts} rollouts over {len({it['task'] for it in items})} task keys")
    print("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + f"; {huge} responses over 10,000 characters")

    # Imports and one-off set-up (rouge-score, NLTK, math-verify) happen here, untimed, for both paths.
    for it in {it["task"]: it for it in items}.values():
        score(it["response"], it["ground_truth"], it["problem_type"], it["data_type"])

    # Cold: the first batch of a run, worker start-up included.
    scorer = RewardScorer(RewardConfig(workers=args.workers))
    t0 = time.perf_counter()
    cold = scorer.score_batch(items)
    t_cold = time.perf_counter() - t0
    scorer.close()

    # This machine's speed drifts (a shared VM): alternate the two paths and take medians.
    t_plains, t_warms = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        plain = [score(it["response"], it["ground_truth"], it["problem_type"], it["data_type"]) for it in items]
        t_plains.append(time.perf_counter() - t0)
        # Warm: workers already up, as from the second step of an RL run; a new scorer each time,
        # so every memo table (here and in the workers) starts empty.
        scorer = RewardScorer(RewardConfig(workers=args.workers)).start()
        t0 = time.perf_counter()
        warm = scorer.score_batch(items)
        t_warms.append(time.perf_counter() - t0)
        warm_stats = scorer.last_stats
        scorer.close()
    t_plain, t_warm = statistics.median(t_plains), statistics.median(t_warms)

    mismatches = [i for i in range(n) if plain[i] != cold[i] or plain[i] != warm[i]]
    # (`plain` and `warm` are from the last repeat; earlier repeats are the same computation.)
    print(f"accuracy comparisons run by score_batch: {warm_stats.computed} for {n} items (the rest were repeats); "
          f"timeouts {warm_stats.timeouts}, worker errors {warm_stats.errors}")
    print(f"workers: {RewardConfig(workers=args.workers).resolved_workers()}")
    print(f"timings, median of {args.repeats} alternating runs (plain: {', '.join(f'{t:.2f}' for t in t_plains)} s; "
          f"warm batch: {', '.join(f'{t:.2f}' for t in t_warms)} s)")
    print(f"plain loop over score():         {t_plain:8.2f} s  {n / t_plain:10.0f} items/s")
    print(f"score_batch, cold (starts pool): {t_cold:8.2f} s  {n / t_cold:10.0f} items/s  ratio {t_plain / t_cold:6.1f}x")
    print(f"score_batch, warm (pool up):     {t_warm:8.2f} s  {n / t_warm:10.0f} items/s  ratio {t_plain / t_warm:6.1f}x")
    if mismatches:
        i = mismatches[0]
        print(f"MISMATCH in {len(mismatches)} items; first: item {i} ({items[i]['task']}, {items[i]['kind']}): "
              f"plain {plain[i]} cold {cold[i]} warm {warm[i]}", file=sys.stderr)
        return 1
    print(f"scores identical: {n} of {n}, in every run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
