"""``onethinker data check|synth|convert|annotate``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..ui import console, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="check, synthesise and convert OneThinker record files")
    dsub = p.add_subparsers(dest="data_cmd", metavar="CMD")
    dsub.required = True

    c = dsub.add_parser(
        "check",
        help="report every problem in record files (RL-train, SFT, evaluation; .json, .jsonl, .parquet)",
        description="Lists each problem with file, record index, problem_id, field and what was expected, then "
        "a summary. Exit status 1 when there are errors (warnings alone give 0).",
    )
    c.add_argument("files", nargs="+", help="record files")
    c.add_argument("--media-root", help="folder the media paths are relative to (default: each file's folder)")
    c.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths (and paths outside the root)")
    c.add_argument("--no-media", action="store_true", help="check that media exist but do not open them")
    c.add_argument("--time-tolerance", type=float, default=0.5, help="seconds an answer may run past the video's end")
    c.add_argument("--max-problems", type=int, default=50, help="problems printed per file (all go to --json)")
    c.add_argument("--json", help="write every problem and the summary to this JSON file")
    c.set_defaults(func=run_check)

    _register_annotate(dsub)

    s = dsub.add_parser("synth", help="write the synthetic multi-task image and video corpus")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--n", type=int, default=2000,
                   help="records in all pools together when --sft/--rl/--heldout are not given (default 2000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--held-out", type=float, default=0.2, help="share of --n in the held-out pool (default 0.2)")
    s.add_argument("--rl-share", type=float, default=0.5, help="share of the rest of --n in the RL pool (default 0.5)")
    s.add_argument("--sft", type=int, help="SFT conversations (own scenes); any of --sft/--rl/--heldout replaces --n")
    s.add_argument("--rl", type=int, help="RL prompts (own scenes)")
    s.add_argument("--heldout", type=int, help="held-out evaluation items (own scenes)")
    s.add_argument("--video-share", type=float, default=0.5, help="share of records about videos (default 0.5)")
    s.add_argument("--rl-video-share", type=float, help="the RL pool's own share of videos (default --video-share)")
    s.add_argument("--heldout-video-share", type=float, help="the held-out pool's own share of videos (default --video-share)")
    s.add_argument("--questions-per-scene", type=int, default=2)
    s.add_argument("--min-objects", type=int, default=2)
    s.add_argument("--max-objects", type=int, default=4)
    s.add_argument("--distractors", type=float, default=0.3, help="chance an object shares the target's colour or shape")
    s.add_argument("--speed", type=float, default=1.0, help="motion speed multiplier")
    s.add_argument("--occlusion", type=float, default=0.0, help="chance objects may overlap")
    s.add_argument("--shapes", nargs="*", default=[], help="shapes objects are drawn from (default: all six)")
    s.add_argument("--tasks", nargs="*", default=[], help="task keys to generate (default: all)")
    s.add_argument("--sft-tasks", nargs="*", default=[], help="task keys of the SFT pool (default: --tasks)")
    s.add_argument("--rl-tasks", nargs="*", default=[], help="task keys of the RL pool (default: --tasks)")
    s.add_argument("--heldout-tasks", nargs="*", default=[],
                   help="task keys of the held-out pool (default: --tasks); in any --*-tasks list a key given k times gets k times the records")
    s.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    s.set_defaults(func=run_synth)

    v = dsub.add_parser("convert", help="convert a record file for another engine")
    v.add_argument("file", help="record file (.json, .jsonl, .parquet)")
    v.add_argument("--to", required=True, choices=("verl", "llamafactory"))
    v.add_argument("--out", required=True, help="output parquet (verl) or folder (llamafactory)")
    v.add_argument("--media-root", help="folder the media paths are relative to (default: the file's folder)")
    v.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths")
    v.add_argument("--relative-paths", action="store_true", help="write media paths relative to the media root")
    v.set_defaults(func=run_convert)


def _register_annotate(dsub: argparse._SubParsersAction) -> None:
    from .evaluate import _add_backend_args

    a = dsub.add_parser(
        "annotate", help="chain-of-thought SFT data from RL records with any VLM, kept where the reward says right",
        description="For every RL-format record: the task's prompt with its media, --n samples from the back-end, "
        "each scored with the OneThinker reward; the best sample with the right format and accuracy >= the "
        "threshold becomes an SFT conversation (OUT/onethinker_sft_image.json, onethinker_sft_video.json). "
        "Every sample, kept or not and why, goes to OUT/annotations.jsonl; a per-task summary to the terminal "
        "and OUT/summary.json. Resumable by problem_id. Thresholds: discrete answers 1.0, OCR 0.9, open-ended "
        "0.5, continuous answers (regression MRA; grounding, tracking and segmentation: the reward's accuracy, "
        "which for segmentation combines box IoU, points and key time) 0.5.")
    a.add_argument("files", nargs="+", help="RL-format record files (onethinker_rl_train.json; eval_*.json also work)")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--media-root", help="folder the media paths are relative to (default: each file's folder)")
    a.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths")
    a.add_argument("--n", type=int, default=4, help="samples per record (default 4)")
    a.add_argument("--min-accuracy", type=float, help="accuracy a kept sample needs, for every task (default: by task)")
    a.add_argument("--concurrency", type=int, default=4,
                   help="requests in flight (openai back-end), or records per batch (local back-ends); default 4")
    a.add_argument("--limit", type=int, help="annotate the first N records")
    a.add_argument("--hint-answer", action="store_true",
                   help="give the model the ground truth and ask for reasoning that reaches it (still checked)")
    _add_backend_args(a, temperature=1.0, temperature_help="sampling temperature (default 1.0)")
    a.set_defaults(func=run_annotate, max_new_tokens=2048)


def run_annotate(args: argparse.Namespace) -> int:
    from ..data.annotate import AnnotateConfig, AnnotateError, annotate
    from .evaluate import build_generator_from_args

    cfg = AnnotateConfig(n=args.n, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                         min_accuracy=args.min_accuracy, concurrency=args.concurrency, limit=args.limit,
                         hint_answer=args.hint_answer, media_root=args.media_root, allow_absolute=args.allow_absolute,
                         video_fps=args.video_fps, max_frames=args.max_frames, seed=args.seed)
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    try:
        with progress() as bar:
            task = bar.add_task("annotating", total=None)
            summary = annotate(generator, args.files, args.out, cfg,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    except AnnotateError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    finally:
        generator.close()
    t = Table(title=f"annotated {summary['annotated']} of {summary['records']} records")
    for col in ("task", "asked", "kept", "rejected (by reason)", "failed", "invalid", "tokens in / out"):
        t.add_column(col, justify="left" if col in ("task", "rejected (by reason)") else "right")
    rows = list(summary["tasks"].items()) + [("all", summary["all"])]
    for name, r in rows:
        rej = ", ".join(f"{k} {v}" for k, v in sorted(r["rejected"].items())) or "-"
        t.add_row(escape(name), str(r["asked"]), str(r["kept"]), escape(rej), str(r["failed"]), str(r["invalid"]),
                  f"{r['prompt_tokens']} / {r['completion_tokens']}", style="bold" if name == "all" else None)
    console.print(t)
    a = summary["all"]
    if a["failed"]:
        console.print(f"[yellow]{a['failed']} records failed[/yellow] after retries (in annotations.jsonl with the "
                      f"error); run the same command again to retry them", highlight=False)
    if a["invalid"]:
        console.print(f"[yellow]{a['invalid']} records cannot be asked[/yellow] (annotations.jsonl names the field)",
                      highlight=False)
    roots = ", ".join(summary["media_roots"])
    console.print(f"SFT files: {escape(summary['sft_files']['image'])}, {escape(summary['sft_files']['video'])} "
                  f"(media paths relative to {escape(roots)}: train with --set data.media_root=...)", highlight=False)
    return 1 if a["failed"] or a["invalid"] else 0


def run_check(args: argparse.Namespace) -> int:
    from ..data.check import check_file

    reports = []
    for f in args.files:
        root = args.media_root if args.media_root is not None else str(Path(f).parent)
        with console.status(f"checking {f}"):
            rep = check_file(f, root, allow_absolute=args.allow_absolute, check_media=not args.no_media,
                             time_tolerance=args.time_tolerance)
        reports.append(rep)
        for p in rep.problems[: args.max_problems]:
            colour = "red" if p.severity == "error" else "yellow"
            console.print(f"[{colour}]{p.severity}[/{colour}] {escape(str(p))}", highlight=False)
        if len(rep.problems) > args.max_problems:
            console.print(f"... and {len(rep.problems) - args.max_problems} more problems in {escape(f)}", highlight=False)
    console.print(_summary_table(reports))
    for rep in reports:
        console.print(f"{escape(rep.file)}: {rep.records} records, {len(rep.errors)} errors, {len(rep.warnings)} warnings; "
                      f"media found {rep.media_found}, missing {rep.media_missing}", highlight=False)
    if args.json:
        payload = [
            {"file": r.file, "records": r.records, "errors": len(r.errors), "warnings": len(r.warnings),
             "media_found": r.media_found, "media_missing": r.media_missing,
             "by_type": [{"problem_type": k[0], "data_type": k[1], "records": v} for k, v in sorted(r.by_type.items())],
             "problems": [{"index": p.index, "problem_id": p.problem_id, "field": p.field, "message": p.message,
                           "severity": p.severity} for p in r.problems]}
            for r in reports
        ]
        try:
            Path(args.json).write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
        except OSError as e:
            console.print(f"[red]error:[/red] cannot write {escape(args.json)}: {escape(str(e))}", highlight=False)
            return 2
    return 1 if any(r.errors for r in reports) else 0


def _summary_table(reports: list) -> Table:
    counts: Counter = Counter()
    for r in reports:
        counts.update(r.by_type)
    dtypes = sorted({d for _, d in counts})
    table = Table(title="records per problem_type x data_type")
    table.add_column("problem_type")
    for d in dtypes:
        table.add_column(escape(d), justify="right")
    table.add_column("total", justify="right")
    for ptype in sorted({p for p, _ in counts}):
        row = [counts.get((ptype, d), 0) for d in dtypes]
        table.add_row(escape(ptype), *(str(x) if x else "" for x in row), str(sum(row)))
    totals = [sum(v for (_, d2), v in counts.items() if d2 == d) for d in dtypes]
    table.add_row("[bold]total", *(f"[bold]{t}" for t in totals), f"[bold]{sum(counts.values())}")
    return table


def run_synth(args: argparse.Namespace) -> int:
    from ..synthetic.corpus import SynthConfig, synthesize

    try:
        cfg = SynthConfig(
            n=args.n, seed=args.seed, held_out=args.held_out, rl_share=args.rl_share, sft=args.sft, rl=args.rl,
            heldout=args.heldout, sft_tasks=list(args.sft_tasks), rl_tasks=list(args.rl_tasks),
            heldout_tasks=list(args.heldout_tasks), video_share=args.video_share,
            rl_video_share=args.rl_video_share, heldout_video_share=args.heldout_video_share,
            questions_per_scene=args.questions_per_scene, min_objects=args.min_objects, max_objects=args.max_objects,
            distractors=args.distractors, speed=args.speed, occlusion=args.occlusion, shapes=list(args.shapes), tasks=list(args.tasks),
            workers=args.workers,
        )
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    with progress() as bar:
        task = bar.add_task("rendering scenes", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        manifest = synthesize(cfg, args.out, progress=update)
    table = Table(title=f"synthetic corpus in {args.out}")
    table.add_column("task (data type)")
    pools = list(manifest["by_task"])
    for pool in pools:
        table.add_column(pool, justify="right")
    keys = sorted({k for c in manifest["by_task"].values() for k in c})
    for k in keys:
        table.add_row(k, *(str(manifest["by_task"][pool].get(k, 0)) for pool in pools))
    console.print(table)
    r = manifest["records"]
    console.print(f"{r['sft']} SFT, {r['rl']} RL and {r['heldout']} held-out records from {manifest['scenes']} scenes "
                  f"(disjoint pools) in {manifest['seconds']:.1f} s; files: {', '.join(manifest['files'])}")
    if manifest["swapped_questions"]:
        console.print(f"[yellow]note:[/yellow] questions that no scene could ask were replaced: {manifest['swapped_questions']}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..data.convert import convert_file

    root = args.media_root if args.media_root is not None else str(Path(args.file).parent)
    try:
        summary = convert_file(args.file, args.to, args.out, media_root=root, allow_absolute=args.allow_absolute,
                               absolute_paths=not args.relative_paths)
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 1
    console.print(escape(json.dumps(summary, indent=1, default=str)), highlight=False)
    return 0
