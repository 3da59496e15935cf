"""``onethinker eval``, ``onethinker infer`` and ``onethinker viz``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..ui import console, progress


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and back-end")
    g.add_argument("--model", help="checkpoint (local path or hub id); for --backend openai the served model name")
    g.add_argument("--backend", default="transformers", choices=("transformers", "vllm", "openai", "scripted"),
                   help="generation back-end (default transformers; scripted answers from the ground truth with noise)")
    g.add_argument("--device", default="cpu", help="transformers: cpu, cuda, cuda:N or auto (default cpu)")
    g.add_argument("--dtype", default="auto", help="transformers: auto, bfloat16, float16, float32")
    g.add_argument("--lora", help="transformers: a LoRA adapter folder to apply")
    g.add_argument("--base-url", help="openai: endpoint base URL (default $OPENAI_BASE_URL)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the key")
    g.add_argument("--noise", type=float, default=0.3, help="scripted: share of near-miss or wrong answers")
    g.add_argument("--max-new-tokens", type=int, default=1024)
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--video-fps", type=float, default=2.0)
    g.add_argument("--max-frames", type=int, default=128)
    g.add_argument("--image-max-pixels", type=int)
    g.add_argument("--video-max-pixels", type=int)


def _add_segmenter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segmentation masks")
    g.add_argument("--segmenter", default="auto", choices=("auto", "grabcut", "sam2"),
                   help="auto: SAM2 when --sam2-checkpoint is given, else the classical GrabCut fallback")
    g.add_argument("--sam2-config", help="SAM2 config name, e.g. configs/sam2.1/sam2.1_hiera_l.yaml")
    g.add_argument("--sam2-checkpoint", help="SAM2 checkpoint file (.pt)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on benchmark files with their official metrics (resumable)")
    p.add_argument("--bench", nargs="+", required=True, help="evaluation files (eval_*.json / .jsonl / .parquet)")
    p.add_argument("--media-root", help="folder the media paths are relative to (default: each file's folder)")
    p.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths")
    p.add_argument("--out", required=True, help="output folder (results, metrics, summary.md, report.html)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, help="evaluate the first N items of each file")
    p.add_argument("--family", action="append", default=[], metavar="BENCH=FAMILY",
                   help="metric family for a benchmark file (by its stem), e.g. anet=anet_rtl")
    _add_backend_args(p)
    _add_segmenter_args(p)
    p.set_defaults(func=run_eval)

    i = sub.add_parser("infer", help="answer one question about one image or video")
    i.add_argument("--media", required=True, help="image or video file")
    i.add_argument("--problem-type", required=True, help="e.g. 'multiple choice', 'spatial grounding', 'segmentation'")
    i.add_argument("--question", default="", help="the question (for segmentation/grounding: what to find)")
    i.add_argument("--options", nargs="*", default=[], help="multiple-choice options, e.g. 'A. cat' 'B. dog'")
    i.add_argument("--out", default="runs/infer", help="folder for the visualisation (default runs/infer)")
    _add_backend_args(i)
    _add_segmenter_args(i)
    i.set_defaults(func=run_infer)

    v = sub.add_parser("viz", help="draw predictions and truth (boxes, points, masks, tracks) for evaluation results")
    v.add_argument("results", help="OUT/<bench>.jsonl from onethinker eval")
    v.add_argument("--out", required=True, help="folder for the pictures and videos")
    v.add_argument("--media-root", help="default: the media_root recorded next to the results")
    v.add_argument("--n", type=int, default=24, help="items to draw (default 24)")
    v.add_argument("--select", default="mixed", choices=("mixed", "best", "worst", "random", "all"))
    v.add_argument("--video-format", default="mp4", choices=("mp4", "gif"))
    v.set_defaults(func=run_viz)


def build_generator_from_args(args: argparse.Namespace):
    from ..generate import build_generator

    options = {}
    if args.backend == "transformers":
        options = {"dtype": args.dtype, "device": args.device, "lora": args.lora,
                   "image_max_pixels": args.image_max_pixels, "video_max_pixels": args.video_max_pixels}
    elif args.backend == "openai":
        options = {"base_url": args.base_url, "api_key_env": args.api_key_env,
                   "image_max_pixels": args.image_max_pixels, "video_max_pixels": args.video_max_pixels}
    elif args.backend == "vllm":
        options = {"image_max_pixels": args.image_max_pixels, "video_max_pixels": args.video_max_pixels}
    elif args.backend == "scripted":
        options = {"noise": args.noise, "seed": args.seed}
    return build_generator(args.backend, args.model, **options)


def run_eval(args: argparse.Namespace) -> int:
    from ..evaluate.runner import EvalConfig, EvalError, evaluate
    from ..generate import SamplingConfig

    families = {}
    for item in args.family:
        if "=" not in item:
            console.print(f"[red]error:[/red] --family {item!r} is not BENCH=FAMILY")
            return 2
        k, v = item.split("=", 1)
        families[k] = v
    cfg = EvalConfig(batch_size=args.batch_size, limit=args.limit, video_fps=args.video_fps, max_frames=args.max_frames,
                     video_max_pixels=args.video_max_pixels, image_max_pixels=args.image_max_pixels, family=families,
                     segmenter=args.segmenter, sam2_config=args.sam2_config, sam2_checkpoint=args.sam2_checkpoint,
                     device=args.device, allow_absolute=args.allow_absolute)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    results = []
    with progress() as bar:
        tasks: dict[str, int] = {}

        def update(bench: str, done: int, total: int) -> None:
            if bench not in tasks:
                tasks[bench] = bar.add_task(bench, total=total)
            bar.update(tasks[bench], completed=done)

        for bench in args.bench:
            root = args.media_root if args.media_root is not None else str(Path(bench).parent)
            try:
                results += evaluate(generator, [bench], args.out, media_root=root, config=cfg, sampling=sampling,
                                    progress=update)
            except (EvalError, ValueError, OSError) as e:
                console.print(f"[red]error:[/red] {e}", highlight=False)
                return 1
    if len(args.bench) > 1:  # one summary and report over all files
        from ..evaluate.report import write_report
        from ..evaluate.runner import write_summary

        write_summary(Path(args.out), [r.metrics for r in results])
        write_report(Path(args.out), [r.metrics for r in results], media_root=None)
    for r in results:
        parts = [f"{name} {value:.4f}" for fm in r.metrics["families"].values() for name, value in fm["metrics"].items()]
        console.print(f"{r.bench} ({r.items} items): " + ", ".join(parts), highlight=False, markup=False)
    console.print(f"results, metrics and summary in {args.out}/ (summary.md, report.html)")
    generator.close()
    return 0


def run_infer(args: argparse.Namespace) -> int:
    from ..evaluate.infer import infer_one

    try:
        generator = build_generator_from_args(args)
        result = infer_one(generator, args.media, args.problem_type, args.question, args.options, out_dir=args.out,
                           max_new_tokens=args.max_new_tokens, temperature=args.temperature, video_fps=args.video_fps,
                           max_frames=args.max_frames, segmenter=args.segmenter, sam2_config=args.sam2_config,
                           sam2_checkpoint=args.sam2_checkpoint, device=args.device)
    except (ValueError, OSError, RuntimeError, KeyError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 1
    console.print("[bold]reasoning[/bold]")
    console.print(result["reasoning"] or "(none)", highlight=False, markup=False)
    console.print("[bold]answer[/bold]")
    console.print(json.dumps(result["answer"], ensure_ascii=False) if result["parsed"] else
                  f"(could not parse: {result['parse_error']}) {result['answer_text']!r}", highlight=False, markup=False)
    for path in result["files"]:
        console.print(f"wrote {path}")
    return 0


def run_viz(args: argparse.Namespace) -> int:
    from ..evaluate.viz import visualize

    try:
        paths = visualize(args.results, args.out, media_root=args.media_root, n=args.n, select=args.select,
                          video_format=args.video_format)
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 1
    console.print(f"wrote {len(paths)} items to {args.out}")
    for reason in getattr(paths, "skipped", [])[:20]:
        console.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False)
    return 0
