"""``onethinker probe``: which task keys can RL move? Greedy and sampled rewards, pass@k, maj@k, the share
of prompts GRPO learns nothing from, and the majority baseline, per task key (onethinker.evaluate.probe)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.markup import escape

from ..ui import console, progress
from .evaluate import _add_backend_args, build_generator_from_args

DESCRIPTION = """\
Before spending compute on RL: for each prompt of --data the model answers once greedily and --n times
at --temperature; every answer gets the training reward. Per task key (and over all prompts):

  grdy R / acc / fmt     mean reward, accuracy and format score of the greedy answers
  smpl R / acc           the same over the n samples
  pass@k (k = n)         discrete answers (multiple choice, numerical, math): unbiased pass@k, a sample
                         counting as right when its accuracy is 1; graded accuracy (IoU-type for
                         grounding, tracking and segmentation; MRA; 1 - WER; ROUGE): the mean over
                         prompts of the best accuracy among the n samples
  maj@k                  accuracy of the majority answer among the samples (answers normalised as the
                         reward does); only where answers are discrete (multiple choice, numerical, math,
                         OCR), '-' (null) for regression, grounding, tracking, segmentation, open-ended
  no sig                 share of prompts whose n samples all get the same reward: GRPO learns nothing there
  base R / acc           majority baseline: the one answer per task key with the best mean reward on the
                         training records (--train; default --data itself, i.e. fitted in-sample),
                         given to every probed item
  dist frac              distinct greedy answers / prompts (near 0: the same answer to everything)
  tok                    mean response length of the samples (tokens, or words without a tokenizer)

RL can help where no sig is low and pass@k is well above the greedy accuracy; a greedy reward at or
below the baseline means the model has not learned the task. Writes OUT/probe.json and
OUT/probe_items.jsonl (every output and its scores)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="before RL: per task key, greedy vs sampled reward, pass@k, maj@k, "
                                     "no-signal share and the majority baseline",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="records to probe: RL (answer) or evaluation (solution) records, "
                                                 ".json / .jsonl / .parquet")
    p.add_argument("--train", help="training records that choose the majority baseline (default: --data)")
    p.add_argument("--media-root", help="folder the media paths are relative to (default: the --data file's folder)")
    p.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths")
    p.add_argument("--n", type=int, default=8, help="samples per prompt, also k of pass@k and maj@k (default 8)")
    p.add_argument("--limit", type=int, help="probe the first N records")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per generation call (default 8)")
    p.add_argument("--workers", type=int, default=1,
                   help="transformers on a CPU: batches generated at once, each in a forked process of one torch "
                        "thread; the same outputs (default 1)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling top-p (default 1.0)")
    p.add_argument("--format-weight", type=float, default=0.1, help="w in reward = (1-w) accuracy + w format + structure")
    p.add_argument("--reward-workers", type=int, default=-1,
                   help="worker processes for the reward's symbolic checks (-1: one per core; 0: in-process)")
    p.add_argument("--max-candidates", type=int, default=256,
                   help="majority baseline: training answers tried per continuous task key (default 256)")
    p.add_argument("--out", required=True, help="output folder (probe.json, probe_items.jsonl)")
    _add_backend_args(p, temperature=1.0, temperature_help="sampling temperature of the n samples (default 1.0)")
    p.set_defaults(func=run_probe)


def _fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _short(text: object, width: int = 26) -> str:
    if text is None:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def probe_tables(result: dict, title: str = "") -> list:
    """Two rich tables that fit an 80-column terminal (two decimals; probe.json has full precision):
    the model's numbers per task key, then the majority baseline beside the greedy accuracy, answer
    diversity and response length."""
    from rich import box
    from rich.table import Table

    blocks = list(result["tasks"].items()) + [("all", result["all"])]
    width = max(len(k) for k, _ in blocks)

    def table(cols: tuple[str, ...], caption: str | None) -> Table:
        t = Table(title=caption, box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, title_justify="left")
        for c in cols:
            if c == "task":
                t.add_column(c, no_wrap=True, min_width=width)
            elif c == "baseline answer":
                t.add_column(c, no_wrap=True)
            else:
                t.add_column(c, justify="right", no_wrap=True)
        return t

    model = table(("task", "n", "grdy\nR", "grdy\nacc", "grdy\nfmt", "smpl\nR", "smpl\nacc", "pass\n@k", "maj\n@k",
                   "no\nsig"), title or None)
    base = table(("task", "grdy\nacc", "base\nR", "base\nacc", "dist\nfrac", "tok", "baseline answer"),
                 "majority baseline (one constant answer per task key), answers and length")
    for key, b in blocks:
        mb = b["majority_baseline"]
        answer = mb.get("answer")
        style = "bold" if key == "all" else None
        model.add_row(key, str(b["prompts"]), _fmt(b["greedy"]["reward"]), _fmt(b["greedy"]["accuracy"]),
                      _fmt(b["greedy"]["format"]), _fmt(b["sampled"]["reward"]), _fmt(b["sampled"]["accuracy"]),
                      _fmt(b["pass_at_k"]), _fmt(b["maj_at_k"]), _fmt(b["no_signal_frac"]), style=style,
                      end_section=key == blocks[-2][0] if len(blocks) > 1 else False)
        base.add_row(key, _fmt(b["greedy"]["accuracy"]), _fmt(mb["reward"]), _fmt(mb["accuracy"]),
                     _fmt(b["distinct_frac"]), _fmt(b["mean_tokens"], 1), _short(answer),
                     style=style, end_section=key == blocks[-2][0] if len(blocks) > 1 else False)
    return [model, base]


def run_probe(args: argparse.Namespace) -> int:
    from ..evaluate.probe import (ProbeConfig, ProbeDataError, config_dict, load_records, probe, risk_lines,
                                  token_counter, write_items)
    from ..reward import RewardConfig

    try:
        config = ProbeConfig(n=args.n, temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                             batch_size=args.batch_size, seed=args.seed, video_fps=args.video_fps,
                             max_frames=args.max_frames, video_max_pixels=args.video_max_pixels,
                             allow_absolute=args.allow_absolute, max_candidates=args.max_candidates,
                             workers=args.workers)
        reward = RewardConfig(format_weight=args.format_weight, workers=args.reward_workers)
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {args.limit}")
    except ValueError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    try:
        records = load_records(args.data, limit=args.limit)
        train = load_records(args.train) if args.train else load_records(args.data)
    except ProbeDataError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    media_root = args.media_root if args.media_root is not None else str(Path(args.data).parent)
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    what, count = token_counter(generator, args.model)
    t0 = time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task("probing", total=len(records))
            result, rows = probe(generator, records, train_records=train, config=config, reward=reward,
                                 media_root=media_root, source=args.data, count_tokens=count,
                                 tokenizer_counts=what == "tokenizer",
                                 progress=lambda done, total: bar.update(task, completed=done))
    except ProbeDataError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    finally:
        generator.close()
    run = result["config"]["run"]
    run["seconds"] = round(time.perf_counter() - t0, 2)
    result["config"] = config_dict(config, reward, model=args.model, backend=args.backend, generator=generator.name,
                                   data=str(args.data), train=str(args.train or args.data),
                                   baseline_in_sample=not args.train, limit=args.limit, media_root=media_root,
                                   token_count=what, run=run)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    write_items(out / "probe_items.jsonl", rows)
    k = config.n
    for t in probe_tables(result, title=f"probe: {generator.name}, n = k = {k}, temperature {config.temperature:g}"):
        console.print(t)
    for line in risk_lines(result):  # what the figures predict for RL at these settings
        console.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)
    if run["generation_errors"]:
        console.print(f"[yellow]note:[/yellow] {run['generation_errors']} prompts had a generation error (scored as empty answers)")
    if not args.train:
        console.print("[yellow]note:[/yellow] the majority baseline was chosen on the probed data itself (in-sample); "
                      "pass --train for the training records")
    console.print(f"wrote {out / 'probe.json'} and {out / 'probe_items.jsonl'}", highlight=False)
    return 0
