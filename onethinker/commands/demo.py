"""``onethinker demo --out DIR`` (the whole pipeline on the tiny model and the synthetic corpus) and
``onethinker ablate --estimators grpo,dr_grpo,ema_grpo --seeds 3 --out DIR``.

Both skip stages whose output is complete and resume the interrupted one: run the same command again to
continue. ``--set`` overrides go to the RL recipe (configs/demo-rl.yaml), ``--sft-set`` to the SFT one."""

from __future__ import annotations

import argparse
import logging

from ..pipeline import DEMO_HELD_OUT, DEMO_N
from ..ui import console

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", default=default_out, help=f"run folder (default {default_out})")
    p.add_argument("--n", type=int, default=DEMO_N,
                   help=f"synthetic records (default {DEMO_N}: SFT and RL from the train split, evaluation on the held-out one)")
    p.add_argument("--held-out", type=float, default=DEMO_HELD_OUT,
                   help=f"share of scenes held out for evaluation (default {DEMO_HELD_OUT})")
    p.add_argument("--seed", type=int, default=0, help="corpus and tiny-model seed")
    p.add_argument("--eval-limit", type=int, default=None, help="held-out items to evaluate (default: all)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="evaluation reply length (default 256)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of configs/demo-rl.yaml, e.g. run.max_steps=20")
    p.add_argument("--sft-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of configs/demo-sft.yaml, e.g. train.epochs=1")
    p.add_argument("--workers", type=int, default=2, help="processes that synthesise the corpus")
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads of the evaluations (training: --sft-set train.threads=N, --set model.threads=N)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthetic corpus -> tiny model -> SFT -> EMA-GRPO -> held-out evaluation -> report")
    _common(p, "runs/demo")
    p.set_defaults(func=run_demo)

    a = sub.add_parser("ablate", help="advantage estimators side by side (same data, SFT start and steps; several seeds)")
    _common(a, "runs/ablate")
    a.add_argument("--estimators", default="grpo,dr_grpo,ema_grpo",
                   help="comma-separated, from grpo, dr_grpo, ema_grpo (the default: all three)")
    a.add_argument("--seeds", type=int, default=3, help="RL seeds per estimator (default 3)")
    a.set_defaults(func=run_ablate)


def _print_table(summary: dict) -> None:
    from rich.table import Table

    t = Table(title="held-out synthetic set: SFT checkpoint -> RL checkpoint")
    for c in ("task", "items", "reward", "format", "accuracy"):
        t.add_column(c, justify="left" if c == "task" else "right")
    for task in [k for k in summary["sft"] if k != "all"] + ["all"]:
        s, r = summary["sft"].get(task, {}), summary["rl"].get(task, {})
        t.add_row(task, str(s.get("items", "")),
                  *(f"{s.get(k, float('nan')):.3f} -> {r.get(k, float('nan')):.3f}" for k in ("reward", "format", "accuracy")))
    console.print(t)


def run_demo(args: argparse.Namespace) -> int:
    from ..pipeline import run_demo as demo

    summary = demo(args.out, n=args.n, held_out=args.held_out, seed=args.seed, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
                   sft_overrides=args.sft_set, rl_overrides=args.set, workers=args.workers, threads=args.threads)
    _print_table(summary)
    a, b = summary["sft"]["all"]["reward"], summary["rl"]["all"]["reward"]
    console.print(f"held-out mean reward {a:.3f} (SFT) -> {b:.3f} (RL), {b - a:+.3f}; "
                  f"total {summary['timing']['total'] / 60:.1f} min", highlight=False)
    console.print(f"summary: {args.out}/summary.json\nreport:  {summary['report']}", highlight=False)
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..pipeline import run_ablation
    from ..rl.advantages import ESTIMATORS

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown or not estimators:
        console.print(f"[red]error:[/red] unknown estimator(s) {unknown}; choose from {sorted(ESTIMATORS)}", highlight=False)
        return 2
    if args.seeds < 1:
        console.print("[red]error:[/red] --seeds must be at least 1")
        return 2
    summary = run_ablation(args.out, estimators=estimators, seeds=args.seeds, n=args.n, held_out=args.held_out,
                           seed=args.seed, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
                           rl_overrides=args.set, sft_overrides=args.sft_set, workers=args.workers,
                           threads=args.threads)
    for e in estimators:
        vals = [r["all"]["reward"] for r in summary["held_out"][e]]
        console.print(f"{e:>9}: held-out reward {np.mean(vals):.3f} ± {np.std(vals):.3f} over {len(vals)} seed(s)",
                      highlight=False)
    console.print(f"summary: {args.out}/summary.json\nreport:  {summary['report']}", highlight=False)
    return 0
