"""``onethinker model tiny --out DIR``: build the small offline Qwen3-VL used by tests and the demo."""

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


def run_tiny(args: argparse.Namespace) -> int:
    from ..models.tiny import build_tiny

    with console.status("building the tiny model"):
        info = build_tiny(args.out, corpus_dir=args.corpus, size=args.size, seed=args.seed)
    console.print(json.dumps(info, indent=1, default=str) if isinstance(info, dict) else str(info), highlight=False)
    console.print(f"saved to {args.out}")
    return 0
