"""``onethinker train sft|rl --config FILE``."""

from __future__ import annotations

import argparse

from rich.markup import escape

from ..config import ConfigError, load_config
from ..ui import console, progress


class SetupError(RuntimeError):
    """A training set-up that cannot start: a model or checkpoint that does not exist or cannot be loaded."""


def _error(e: BaseException) -> None:
    console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)


def _config_error(path: str, e: BaseException) -> None:
    """A config that cannot be used: the message names the file where the error's own text does not (a
    file that is not UTF-8, a value a config class's own check refuses)."""
    text = "nested too deeply" if isinstance(e, RecursionError) else str(e)
    if not isinstance(e, ConfigError) and str(path) not in text:
        text = f"{path}: {text}"
    console.print(f"[red]error:[/red] {escape(text)}", highlight=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="SFT cold start or RL (EMA-GRPO)")
    tsub = p.add_subparsers(dest="train_cmd", metavar="STAGE")
    tsub.required = True
    for name, helptext in (("sft", "supervised cold start on SFT records (transformers Trainer)"),
                           ("rl", "multi-task RL with EMA-GRPO (native engine, or verl with --engine verl)")):
        s = tsub.add_parser(name, help=helptext)
        s.add_argument("--config", required=True, help="YAML config (see configs/)")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.lr=1e-6")
        s.add_argument("--resume", nargs="?", const="latest", default=None,
                       help="resume from the latest checkpoint in the output folder, or from the given one")
        if name == "rl":
            s.add_argument("--engine", default="native", choices=("native", "verl"),
                           help="native: this machine; verl: Ray/FSDP/vLLM cluster (see README)")
            s.add_argument("--dry-run", action="store_true", help="verl: print the command instead of running it")
            s.add_argument("--nnodes", type=int, default=1, help="verl: number of nodes")
            s.add_argument("--gpus-per-node", type=int, default=8, help="verl: GPUs per node")
        s.set_defaults(func=run_sft if name == "sft" else run_rl)


def run_sft(args: argparse.Namespace) -> int:
    from ..models.loading import ModelLoadError
    from ..sft.config import SFTConfig
    from ..sft.data import SFTDataError
    from ..sft.trainer import SFTError, train_sft

    try:
        cfg = load_config(SFTConfig, args.config, args.set)
    except (ConfigError, ValueError, RecursionError) as e:
        _config_error(args.config, e)
        return 2
    try:
        result = train_sft(cfg, resume=args.resume)
    except (SFTDataError, SFTError, ModelLoadError) as e:  # bad records (file, record, field) or an unusable set-up
        _error(e)
        return 1
    console.print(f"SFT done: {result}", highlight=False, markup=False)
    return 0


def run_rl(args: argparse.Namespace) -> int:
    from ..rl.config import RLConfig

    try:
        cfg = load_config(RLConfig, args.config, args.set)
    except (ConfigError, ValueError, RecursionError) as e:
        _config_error(args.config, e)
        return 2
    if args.engine == "verl":
        from ..integrations.verl.launcher import launch

        return launch(cfg, args.config, nnodes=args.nnodes, gpus_per_node=args.gpus_per_node, dry_run=args.dry_run,
                      resume=args.resume)
    from ..checkpoints import RL_LAYOUT, resolve_resume
    from ..models.loading import ModelLoadError
    from ..rl.data import RLDataError
    from ..rl.trainer import train_rl

    # An explicit --resume that finds nothing is an error here (the library's train_rl warns and starts over).
    try:
        ckpt = resolve_resume(RL_LAYOUT, cfg.resolved().run.output_dir, args.resume, allow_auto=False,
                              missing="error", error=SetupError)
    except SetupError as e:
        _error(e)
        return 1
    try:
        with progress() as bar:
            task = bar.add_task("RL steps", total=cfg.run.max_steps)

            def update(step: int, total: int, values: dict) -> None:
                bar.update(task, completed=step,
                           description=f"RL steps (reward {values.get('reward/all', float('nan')):.3f})")

            last = train_rl(cfg, resume=str(ckpt) if ckpt is not None else None, progress=update)
    except (RLDataError, ModelLoadError) as e:  # bad records (file, record, field) or a model that cannot be loaded
        _error(e)
        return 1
    console.print(f"RL done: final policy in {cfg.run.output_dir}/final; last step reward "
                  f"{last.get('reward/all', float('nan')):.3f}", highlight=False)
    return 0
