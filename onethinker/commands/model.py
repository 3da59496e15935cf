"""``onethinker model tiny --out DIR``: build the small offline Qwen3-VL used by tests and the demo;
``model pretrain``: its perception stage; ``model average A B ... --out OUT``: the mean of checkpoints' weights."""

from __future__ import annotations

import argparse
import json

from ..ui import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="build or inspect models")
    msub = p.add_subparsers(dest="model_cmd", metavar="CMD")
    msub.required = True
    t = msub.add_parser("tiny", help="build a tiny random Qwen3-VL (tokenizer trained on the synthetic corpus), offline")
    t.add_argument("--out", required=True, help="output folder (loadable with from_pretrained / onethinker.models.load)")
    t.add_argument("--corpus", help="a synthetic corpus folder whose text trains the tokenizer (default: a fresh small one)")
    t.add_argument("--size", default="tiny", choices=("tiny", "small"))
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=run_tiny)

    from ..models.pretrain import PretrainConfig

    d = PretrainConfig()
    q = msub.add_parser("pretrain", help="perception stage for the tiny model (dense scene descriptions + patch labels), "
                                          "the stand-in for a pretrained Qwen3-VL; resumes from its checkpoint")
    q.add_argument("--model", required=True, help="tiny checkpoint folder (onethinker model tiny --out ...)")
    q.add_argument("--out", required=True, help="run folder: log.jsonl, checkpoint/, final/ (the model SFT starts from)")
    q.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps (default {d.steps})")
    q.add_argument("--batch-size", type=int, default=d.batch_size, help=f"scenes per step (default {d.batch_size})")
    q.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate, cosine to a tenth (default {d.lr})")
    q.add_argument("--warmup", type=int, default=d.warmup, help=f"warm-up steps (default {d.warmup})")
    q.add_argument("--aux-weight", type=float, default=d.aux_weight, help=f"patch-label loss weight (default {d.aux_weight})")
    q.add_argument("--box-weight", type=float, default=d.box_weight,
                   help="weight of a patch-box head's loss (each object patch regresses its object's box; default "
                        f"{d.box_weight}: off)")
    q.add_argument("--digit-weight", type=float, default=d.digit_weight,
                   help="weight of a patch-digit head's loss (each object patch predicts the 12 digits of its object's "
                        f"box in the 0-1000 frame; default {d.digit_weight}: off)")
    q.add_argument("--pos-embed", choices=("keep", "sincos"), default=d.pos_embed,
                   help="the vision position table: keep the model's, or replace it before the first step by a 2-D "
                        "sine-cosine table as strong as the patch embeddings (default keep)")
    q.add_argument("--lm-weight", type=float, default=d.lm_weight, help=f"description loss weight (default {d.lm_weight})")
    q.add_argument("--min-objects", type=int, default=d.min_objects)
    q.add_argument("--max-objects", type=int, default=d.max_objects)
    q.add_argument("--shapes", nargs="*", default=[], help="shapes the scenes are drawn from (default: all six)")
    q.add_argument("--qa-share", type=float, default=d.qa_share,
                   help=f"share of items that are short questions instead of descriptions (default {d.qa_share})")
    q.add_argument("--qa-tasks", default=",".join(d.qa_tasks),
                   help=f"comma-separated kinds of short question, drawn evenly; a kind listed k times is asked k "
                        f"times as often (default {','.join(d.qa_tasks)})")
    q.add_argument("--qa-format", choices=("short", "onethinker"), default=d.qa_format,
                   help="training questions asked the short way (bare answers; default) or in the OneThinker form (the "
                        "task's prompt, <think>reasoning</think><answer>...</answer>, as the corpus' SFT conversations)")
    q.add_argument("--eval-boxes", type=int, default=d.eval_boxes,
                   help=f"held-out 'Find the ...' questions scored by box IoU at each check (default {d.eval_boxes})")
    q.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between held-out perception checks")
    q.add_argument("--save-every", type=int, default=d.save_every, help="steps between resumable checkpoints")
    q.add_argument("--seed", type=int, default=d.seed)
    q.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: torch's default)")
    q.add_argument("--save-dtype", default=d.save_dtype, choices=("float32", "bfloat16", "float16"),
                   help="dtype of OUT/final's weights (default float32; bfloat16 halves a model to ship)")
    q.add_argument("--no-resume", action="store_true", help="start over even if OUT/checkpoint exists")
    q.set_defaults(func=run_pretrain)

    r = msub.add_parser("pretrain-records", help="write perception-stage items (scene + short question or description) "
                                                  "as SFT records, to replay the stage during SFT")
    r.add_argument("--out", required=True, help="folder: OUT/perception.json and OUT/media/perception/*.png")
    r.add_argument("--n", type=int, required=True, help="records to write")
    r.add_argument("--start", type=int, default=None,
                   help="first scene index of the perception stream (default 20,000,000: apart from training and checks)")
    r.add_argument("--shapes", nargs="*", default=[], help="shapes the scenes are drawn from (default: all six)")
    r.add_argument("--qa-share", type=float, default=d.qa_share,
                   help=f"share of short questions instead of descriptions (default {d.qa_share})")
    r.add_argument("--qa-tasks", default=",".join(d.qa_tasks),
                   help="comma-separated kinds of short question; a kind listed k times is asked k times as often")
    r.add_argument("--seed", type=int, default=d.seed)
    r.set_defaults(func=run_pretrain_records)

    a = msub.add_parser("average", help="the element-wise mean of the weights of several checkpoints of one model "
                                         "(tail averaging; the native RL trainer's run.average_last)")
    a.add_argument("folders", nargs="+", help="model folders (save_pretrained, safetensors), e.g. an RL run's last "
                                              "checkpoints; the last one's config and processor files are copied")
    a.add_argument("--out", required=True, help="output folder (replaced; loadable with from_pretrained)")
    a.set_defaults(func=run_average)


def run_tiny(args: argparse.Namespace) -> int:
    from ..models.tiny import build_tiny

    with console.status("building the tiny model"):
        info = build_tiny(args.out, corpus_dir=args.corpus, size=args.size, seed=args.seed)
    console.print(json.dumps(info, indent=1, default=str) if isinstance(info, dict) else str(info), highlight=False)
    console.print(f"saved to {args.out}")
    return 0


def run_average(args: argparse.Namespace) -> int:
    from ..models.averaging import average_checkpoints

    try:
        out = average_checkpoints(args.folders, args.out)
    except (OSError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    console.print(f"the mean of {len(args.folders)} checkpoints saved to {out}", highlight=False)
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    from ..models.pretrain import PretrainConfig, PretrainError, pretrain
    from ..ui import progress

    try:
        cfg = PretrainConfig(model=args.model, out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             warmup=args.warmup, aux_weight=args.aux_weight, box_weight=args.box_weight,
                             digit_weight=args.digit_weight, pos_embed=args.pos_embed,
                             lm_weight=args.lm_weight,
                             min_objects=args.min_objects, max_objects=args.max_objects, shapes=tuple(args.shapes),
                             qa_share=args.qa_share, eval_boxes=args.eval_boxes, qa_format=args.qa_format,
                             qa_tasks=tuple(t.strip() for t in args.qa_tasks.split(",") if t.strip()),
                             eval_every=args.eval_every,
                             save_every=args.save_every, seed=args.seed, threads=args.threads,
                             save_dtype=args.save_dtype)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    from pathlib import Path

    if not (Path(args.model) / "config.json").is_file():
        console.print(f"[red]error:[/red] {args.model}: not a model folder (no config.json); build one with "
                      "`onethinker model tiny --out DIR`")
        return 2
    with progress() as bar:
        task = bar.add_task("pretraining", total=cfg.steps)

        def update(done: int, total: int, row: dict) -> None:
            bar.update(task, completed=done)
            if "eval_loss" in row:
                bar.console.print(f"step {done}: " + ", ".join(f"{k} {row[k]}" for k in row if k.startswith(("eval", "image"))),
                                  highlight=False)

        try:
            summary = pretrain(cfg, resume=not args.no_resume, progress=update)
        except PretrainError as e:
            console.print(f"[red]error:[/red] {e}")
            return 2
    console.print(json.dumps(summary["eval"], indent=1), highlight=False)
    console.print(f"{summary['steps']} steps (from {summary['resumed_from']}) in {summary['seconds']:.0f} s; "
                  f"model: {summary['final']}")
    return 0


def run_pretrain_records(args: argparse.Namespace) -> int:
    from ..models.pretrain import RECORDS_START, PretrainConfig, write_sft_records

    try:
        cfg = PretrainConfig(shapes=tuple(args.shapes), qa_share=args.qa_share, seed=args.seed,
                             qa_tasks=tuple(t.strip() for t in args.qa_tasks.split(",") if t.strip()))
        with console.status(f"writing {args.n} perception records"):
            path = write_sft_records(cfg, args.out, args.n, start=RECORDS_START if args.start is None else args.start)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    console.print(f"{args.n} records: {path} (add it to an SFT run's data.files)")
    return 0
