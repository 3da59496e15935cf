"""``onethinker demo --out DIR`` (the whole pipeline on the tiny model and the synthetic corpus) and
``onethinker ablate --estimators grpo,dr_grpo,ema_grpo --seeds 3 --out DIR``.

Both skip stages whose output is complete and resume the interrupted one: run the same command again to
continue. ``--set`` overrides go to the RL recipe (configs/demo-rl.yaml), ``--sft-set`` to the SFT one."""

from __future__ import annotations

import argparse
import logging

from rich.markup import escape

from ..recipes.stages import DEMO_PRETRAIN_STEPS, DemoCorpus
from ..ui import console

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", default=default_out, help=f"run folder (default {default_out})")
    d = DemoCorpus()
    p.add_argument("--sft", type=int, default=d.sft, help=f"SFT conversations (default {d.sft})")
    p.add_argument("--rl", type=int, default=d.rl, help=f"RL prompts (default {d.rl}; scenes apart from SFT's)")
    p.add_argument("--heldout", type=int, default=d.heldout, help=f"held-out items (default {d.heldout}; scenes apart from both)")
    p.add_argument("--rl-tasks", default=",".join(d.rl_tasks),
                   help=f"comma-separated focus keys (default {','.join(d.rl_tasks)}): 3x the RL prompts and held-out "
                        "items of any other key, reported on their own; with --no-rl-mix the only keys RL trains")
    p.add_argument("--rl-mix", action=argparse.BooleanOptionalAction, default=d.rl_mix,
                   help="RL trains every task key of its pool, the --rl-tasks keys with 3x their prompts, as the paper "
                        f"trains all tasks in one run (default {'on' if d.rl_mix else 'off'}; --no-rl-mix: only --rl-tasks)")
    p.add_argument("--fresh-base", action="store_true",
                   help="build the base model here as the shipped one was made (a tiny model, the perception stage, then "
                        "six stages that teach boxes, the last three in the tasks' own answer form; about an hour) instead of "
                        "using the shipped one")
    p.add_argument("--pretrain-steps", type=int, default=DEMO_PRETRAIN_STEPS,
                   help=f"with --fresh-base (or when none is shipped): steps of the first perception stage (default "
                        f"{DEMO_PRETRAIN_STEPS}; each box stage runs 0.3 of it; 0: random weights)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds every stage: corpus, tiny model, SFT (train.seed), the probe, RL (run.seed; ablate: "
                        "its runs' seeds are 0..N-1) and sampled evaluation (default 0); --sft-set/--set overrides win")
    p.add_argument("--eval-limit", type=int, default=None, help="held-out items to evaluate (default: all)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="evaluation reply length (default 256)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of configs/demo-rl.yaml, e.g. run.max_steps=20")
    p.add_argument("--sft-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of configs/demo-sft.yaml, e.g. train.epochs=1")
    p.add_argument("--workers", type=int, default=2, help="processes that synthesise the corpus")
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads of the evaluations (training: --sft-set train.threads=N, --set model.threads=N)")


class PlanError(ValueError):
    """Bad settings of the demo or ablation plan (exit status 2)."""


def _plan(args: argparse.Namespace) -> DemoCorpus:
    from ..tasks import TASKS

    keys = tuple(k.strip() for k in args.rl_tasks.split(",") if k.strip())
    unknown = [k for k in keys if k not in TASKS]
    known = ", ".join(repr(k) for k in TASKS)
    if unknown:
        raise PlanError(f"--rl-tasks: unknown task key{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(k) for k in unknown)}; known: {known}")
    if not keys:
        raise PlanError(f"--rl-tasks {args.rl_tasks!r}: no task key given; known: {known}")
    _check_overrides(args)
    return DemoCorpus(sft=args.sft, rl=args.rl, heldout=args.heldout, rl_tasks=keys, rl_mix=args.rl_mix)


def _check_overrides(args: argparse.Namespace) -> None:
    """The --sft-set and --set overrides resolved against the demo's recipes now, before any stage runs, so a
    bad key or value is a settings error up front, not a traceback after the SFT stage."""
    from ..config import ConfigError, load_config
    from ..recipes.stages import recipe
    from ..rl.config import RLConfig
    from ..sft.config import SFTConfig

    for flag, cls, name, extra in (("--sft-set", SFTConfig, "demo-sft.yaml", ["format_check.file="]),
                                   ("--set", RLConfig, "demo-rl.yaml", [])):
        overrides = getattr(args, flag.lstrip("-").replace("-", "_"), None) or []
        if not overrides:
            continue
        try:
            load_config(cls, recipe(name), [*extra, *overrides])
        except (ConfigError, ValueError, TypeError) as e:
            raise PlanError(f"{flag}: {e}") from e


def _checked_plan(args: argparse.Namespace) -> DemoCorpus | None:
    """The plan, or None after printing why the settings are bad."""
    try:
        return _plan(args)
    except PlanError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthetic corpus -> perception-pretrained tiny model -> SFT -> probe -> EMA-GRPO -> "
                                    "held-out evaluation against SFT and the majority baseline -> report")
    _common(p, "runs/demo")
    p.add_argument("--probe-prompts", type=int, default=8, help="RL prompts per task key the probe samples (0: no probe)")
    p.add_argument("--sampled-limit", type=int, default=200,
                   help="held-out items of the RL keys answered by a sample at temperature 1.0, per checkpoint (0: none)")
    p.add_argument("--heldout-draw", type=int, default=None, metavar="SEED",
                   help="after a finished run: evaluate its SFT and RL checkpoints and the majority baseline on a second "
                        "held-out set drawn the same way from corpus seed SEED (OUT/heldout-seedSEED/)")
    p.set_defaults(func=run_demo)

    a = sub.add_parser("ablate", help="advantage estimators side by side (same data, SFT start and steps; several seeds)")
    _common(a, "runs/ablate")
    a.add_argument("--estimators", default="grpo,dr_grpo,ema_grpo",
                   help="comma-separated, from grpo, dr_grpo, ema_grpo (the default: all three)")
    a.add_argument("--seeds", type=int, default=3, help="RL seeds per estimator (default 3)")
    a.set_defaults(func=run_ablate)


def _print_table(summary: dict) -> None:
    """The held-out table; narrower than the console allows (80 columns, or a log file), it is folded into
    two tables, accuracies and RL - SFT, so that no figure is cut."""
    from rich.table import Table

    c = summary.get("compare", {}).get("rl_vs_sft")
    cols = ("task", "items", "majority acc", "SFT acc", "RL acc", "RL - SFT acc [95% CI]", "SFT -> RL reward", "format")

    def ci(block: dict | None) -> str:
        if not block or block["accuracy"]["diff"] is None:
            return ""
        lo, hi = block["accuracy"]["ci95"]
        return f"{block['accuracy']['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    rows = []
    keys = [k for k in summary["sft"] if k != "all"]
    for task in keys + (["rl_tasks"] if c and c.get("rl_tasks") else []) + ["all"]:
        if task == "rl_tasks":
            blk = c["rl_tasks"]
            rows.append(("RL's focus keys" if summary.get("rl_mix") else "task keys RL trains", str(blk["n"]), "",
                         f"{blk['accuracy']['a']:.3f}", f"{blk['accuracy']['b']:.3f}", ci(blk),
                         f"{blk['reward']['a']:.3f} -> {blk['reward']['b']:.3f}", ""))
            continue
        s, r, m = summary["sft"].get(task, {}), summary["rl"].get(task, {}), summary.get("majority", {}).get(task, {})
        blk = (c["all"] if task == "all" else c["tasks"].get(task)) if c else None
        name = task + (" *" if task in summary.get("rl_tasks", []) else "")
        rows.append((name, str(s.get("items", "")), f"{m.get('accuracy', float('nan')):.3f}",
                     f"{s.get('accuracy', float('nan')):.3f}", f"{r.get('accuracy', float('nan')):.3f}", ci(blk),
                     f"{s.get('reward', float('nan')):.3f} -> {r.get('reward', float('nan')):.3f}",
                     f"{s.get('format', float('nan')):.2f} -> {r.get('format', float('nan')):.2f}"))

    def table(title: str, picked: tuple[str, ...]) -> Table:
        t = Table(title=title)
        for col in picked:  # the task names wrap; the figures never do
            t.add_column(col, justify="left" if col == "task" else "right", no_wrap=col != "task")
        for row in rows:
            t.add_row(*(row[cols.index(col)] for col in picked))
        return t

    whole = table("held-out synthetic set: majority baseline, SFT checkpoint, RL checkpoint", cols)
    if console.measure(whole, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(whole)
    else:
        console.print(table("held-out synthetic set: accuracy of the majority baseline, SFT and RL",
                            ("task", "items", "majority acc", "SFT acc", "RL acc", "format")))
        console.print(table("held-out synthetic set: RL checkpoint - SFT checkpoint",
                            ("task", "RL - SFT acc [95% CI]", "SFT -> RL reward")))
    star = "RL's focus keys (RL trains every key, these with 3x the prompts)" if summary.get("rl_mix") else "trained by RL"
    weights = summary.get("rl_task_weights") or {}
    if weights:
        star += "; in RL's prompt stream " + ", ".join(f"{k} {w}x" for k, w in weights.items())
    console.print(f"* {star}; CIs: paired bootstrap over items", highlight=False)


def _print_draw(result: dict) -> None:
    """The second draw's comparisons; folded into two tables where the console is too narrow for one (as
    :func:`_print_table`), so that no interval is cut."""
    from rich.table import Table

    cols = ("pair", "pool", "items", "A acc", "B acc", "acc diff [95% CI]", "reward diff [95% CI]")
    rows = []
    for pair, c in result["compare"].items():
        for pool in ("rl_tasks", "all"):
            blk = c.get(pool)
            if not blk:
                continue
            a, r = blk["accuracy"], blk["reward"]
            rows.append((pair.replace("_vs_", " vs "), "task keys RL trains" if pool == "rl_tasks" else "all keys",
                         str(blk["n"]), f"{a['a']:.3f}", f"{a['b']:.3f}",
                         f"{a['diff']:+.3f} [{a['ci95'][0]:+.3f}, {a['ci95'][1]:+.3f}]",
                         f"{r['diff']:+.3f} [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"))
    title = f"second held-out draw (corpus seed {result['seed']}, {result['items']} items): B - A [95% CI]"

    def table(picked: tuple[str, ...]) -> Table:
        t = Table(title=title)
        for col in picked:  # names wrap, figures never do
            t.add_column(col, justify="left" if col in ("pair", "pool") else "right", no_wrap=col not in ("pair", "pool"))
        for row in rows:
            t.add_row(*(row[cols.index(col)] for col in picked))
        return t

    whole = table(cols)
    if console.measure(whole, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(whole)
    else:
        console.print(table(("pair", "pool", "items", "A acc", "B acc")))
        console.print(table(("pair", "pool", "acc diff [95% CI]", "reward diff [95% CI]")))


def run_demo(args: argparse.Namespace) -> int:
    from ..recipes.demo import run_demo as demo

    plan = _checked_plan(args)
    if plan is None:
        return 2
    if args.heldout_draw is not None:
        from ..recipes.demo import run_heldout_draw

        try:
            result = run_heldout_draw(args.out, args.heldout_draw, plan=plan, max_new_tokens=args.max_new_tokens,
                                      eval_limit=args.eval_limit, workers=args.workers, threads=args.threads)
        except (FileNotFoundError, ValueError) as e:
            console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
            return 2
        _print_draw(result)
        console.print(f"written: {args.out}/heldout-seed{args.heldout_draw}/summary.json (and summary.json: heldout_draws)",
                      highlight=False)
        return 0

    summary = demo(args.out, plan=plan, seed=args.seed, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
                   sft_overrides=args.sft_set, rl_overrides=args.set, workers=args.workers, threads=args.threads,
                   fresh_base=args.fresh_base, pretrain_steps=args.pretrain_steps, probe_prompts=args.probe_prompts,
                   sampled_limit=args.sampled_limit)
    _print_table(summary)
    a, b = summary["sft"]["all"]["reward"], summary["rl"]["all"]["reward"]
    if summary.get("collapsed"):
        console.print(f"[yellow]warning:[/yellow] RL's greedy answers became one constant on {', '.join(summary['collapsed'])} "
                      "(summary.json greedy_answers)", highlight=False)
    console.print(f"held-out mean reward {a:.3f} (SFT) -> {b:.3f} (RL), {b - a:+.3f}; "
                  f"total {summary['timing']['total'] / 60:.1f} min", highlight=False)
    console.print(f"summary: {args.out}/summary.json\nreport:  {summary['report']}", highlight=False)
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..recipes.ablation import run_ablation
    from ..rl.advantages import ESTIMATORS

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown or not estimators:
        console.print(f"[red]error:[/red] unknown estimator(s) {unknown}; choose from {sorted(ESTIMATORS)}", highlight=False)
        return 2
    if args.seeds < 1:
        console.print("[red]error:[/red] --seeds must be at least 1")
        return 2
    plan = _checked_plan(args)
    if plan is None:
        return 2
    summary = run_ablation(args.out, estimators=estimators, seeds=args.seeds, plan=plan,
                           seed=args.seed, fresh_base=args.fresh_base, pretrain_steps=args.pretrain_steps, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
                           rl_overrides=args.set, sft_overrides=args.sft_set, workers=args.workers,
                           threads=args.threads)
    for e in estimators:
        vals = [r["all"]["reward"] for r in summary["held_out"][e]]
        console.print(f"{e:>9}: held-out reward {np.mean(vals):.3f} ± {np.std(vals):.3f} over {len(vals)} seed(s)",
                      highlight=False)
    console.print(f"summary: {args.out}/summary.json\nreport:  {summary['report']}", highlight=False)
    return 0
