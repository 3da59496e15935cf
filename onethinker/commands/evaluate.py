"""``onethinker eval`` (and ``eval compare``), ``onethinker infer`` and ``onethinker viz``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape

from ..generate.base import backend_names
from ..segment.base import segmenter_kinds
from ..ui import console, progress


def _add_backend_args(p: argparse.ArgumentParser, *, temperature: float = 0.0,
                      temperature_help: str = "0 = greedy (default)") -> None:
    g = p.add_argument_group("model and back-end")
    g.add_argument("--model", help="checkpoint (local path or hub id); for --backend openai the served model name")
    g.add_argument("--backend", default="transformers", choices=backend_names(),
                   help="generation back-end (default transformers; scripted answers from the ground truth with noise)")
    g.add_argument("--device", default="cpu", help="transformers: cpu, cuda, cuda:N or auto (default cpu)")
    g.add_argument("--dtype", default="auto", help="transformers: auto, bfloat16, float16, float32")
    g.add_argument("--lora", help="transformers: a LoRA adapter folder to apply")
    g.add_argument("--sampler", default="fast", choices=("fast", "generate"),
                   help="transformers: fast (each prompt prefilled once, finished rows leave the batch; default) "
                        "or generate (transformers generate)")
    g.add_argument("--base-url", help="openai: endpoint base URL (default $OPENAI_BASE_URL)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the key")
    g.add_argument("--noise", type=float, default=0.3, help="scripted: share of near-miss or wrong answers")
    g.add_argument("--max-new-tokens", type=int, default=1024)
    g.add_argument("--temperature", type=float, default=temperature, help=temperature_help)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--video-fps", type=float, default=2.0)
    g.add_argument("--max-frames", type=int, default=128)
    g.add_argument("--image-max-pixels", type=int)
    g.add_argument("--video-max-pixels", type=int)


def _add_segmenter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segmentation masks")
    g.add_argument("--segmenter", default="auto", choices=segmenter_kinds(),
                   help="auto: SAM2 when --sam2-checkpoint is given, else the classical GrabCut fallback")
    g.add_argument("--sam2-config", help="SAM2 config name, e.g. configs/sam2.1/sam2.1_hiera_l.yaml")
    g.add_argument("--sam2-checkpoint", help="SAM2 checkpoint file (.pt)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


COMPARE_USAGE = "onethinker eval compare A_DIR B_DIR [--json FILE] [--resamples N]"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on benchmark files with their official metrics (resumable); "
                                    "`eval compare A_DIR B_DIR` compares two evaluation outputs")
    bench = p.add_argument("--bench", nargs="+", required=True, help="evaluation files (eval_*.json / .jsonl / .parquet)")
    s = p.add_argument_group("the paper's benchmark suite (instead of --bench)")
    s.add_argument("--suite", choices=("paper",), help="paper: the 31 benchmarks of the paper's tables, each from its "
                                                       "source (a release eval file, or an lmms-eval task)")
    s.add_argument("--data-root", help="--suite: the folder holding the release's eval files (eval_*.json and media)")
    s.add_argument("--list", action="store_true", help="--suite: list the benchmarks, their metrics, sources and "
                                                       "whether their data is here; run nothing")
    s.add_argument("--lmms-python", help="--suite: the lmms-eval environment's python (default $ONETHINKER_LMMS_PYTHON "
                                         "or .venv-lmms/bin/python)")
    s.add_argument("--lmms-include", help="--suite: a folder of extra lmms-eval task YAMLs (lmms-eval --include_path)")
    p.add_argument("--media-root", help="folder the media paths are relative to (default: each file's folder)")
    p.add_argument("--allow-absolute", action="store_true", help="accept absolute media paths")
    out = p.add_argument("--out", required=True, help="output folder (results, metrics, summary.md, report.html)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="items per generation batch (default 8)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="transformers on a CPU: generation batches decoded at once, each in a forked process of one "
                        "torch thread (a small model gains more from this than from threads); the same outputs "
                        "(default 1)")
    p.add_argument("--order", choices=("task", "file"), default="task",
                   help="task (default): batch the items by task key and answer length, so a batch's replies end "
                        "together (faster; results are the same items); file: the file's order")
    p.add_argument("--limit", type=int, help="evaluate the first N items of each file")
    p.add_argument("--family", action="append", default=[], metavar="BENCH=FAMILY",
                   help="metric family for a benchmark file (by its stem), e.g. eval_anet_rtl=anet_rtl")
    _add_backend_args(p)
    _add_segmenter_args(p)

    # `onethinker eval compare A_DIR B_DIR`: an optional nested sub-command. --bench and --out stay required
    # for the evaluation itself: the usage line is the one argparse writes with them required, and
    # _run_eval_or_usage gives argparse's own error (exit 2) when one is missing.
    usage = p.format_usage()
    p.usage = usage[len("usage: "):].rstrip("\n").replace("%", "%%") + "\n       " + COMPARE_USAGE
    bench.required = out.required = False
    cmd = p.add_subparsers(dest="eval_command", metavar="{compare}", title="other commands")
    c = cmd.add_parser("compare", prog=f"{p.prog} compare",
                       help="compare two `onethinker eval` output folders item by item (paired bootstrap CI)",
                       description="Compare two `onethinker eval` output folders over the same benchmark files, "
                                   "paired by problem_id: per benchmark, per task and overall, the mean reward and "
                                   "accuracy of A and B, B - A and its paired percentile-bootstrap 95% CI.")
    c.add_argument("a", metavar="A_DIR", help="output folder of one `onethinker eval` run (the reference)")
    c.add_argument("b", metavar="B_DIR", help="output folder of another run on the same benchmark files")
    c.add_argument("--json", metavar="FILE", help="also write the comparison as JSON (layout in the README)")
    c.add_argument("--resamples", type=positive_int, default=2000, metavar="N",
                   help="bootstrap resamples (default 2000; the seed is fixed at 0)")
    c.set_defaults(func=run_compare)

    def _run_eval_or_usage(args: argparse.Namespace) -> int:
        if args.suite:
            if args.bench:
                p.error("--suite and --bench exclude each other")
            if args.family:  # the suite gives every benchmark its own metric family (listed by --list)
                p.error(f"--family does not go with --suite: each benchmark of --suite {args.suite} is scored with "
                        f"its own metric family (see --suite {args.suite} --list); use --bench FILE --family "
                        f"BENCH=FAMILY to score a file with another family")
            if args.out is None and not args.list:
                p.error("the following arguments are required: --out")
            return run_suite_command(args)
        if args.list:
            p.error("--list goes with --suite")
        missing = [flag for flag, value in (("--bench", args.bench), ("--out", args.out)) if value is None]
        if missing:
            p.error("the following arguments are required: " + ", ".join(missing))
        return run_eval(args)

    p.set_defaults(func=_run_eval_or_usage)

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
    from ..generate.base import backend_class, build_generator

    # each back-end says which of the command-line settings it takes (register_backend's cli_options)
    options = {name: getattr(args, name) for name in backend_class(args.backend).cli_options}
    return build_generator(args.backend, args.model, **options)


def parse_families(items: list[str], bench_files: list[str]) -> dict[str, str] | None:
    """``--family BENCH=FAMILY`` settings as {bench stem: family}; None after printing what is wrong (an
    item that is not BENCH=FAMILY, an unknown family, a BENCH that is no --bench file's stem)."""
    from ..evaluate.families import FAMILIES

    stems = [Path(b).stem for b in bench_files]
    families: dict[str, str] = {}
    for item in items:
        bench, sep, family = item.partition("=")
        bench, family = bench.strip(), family.strip()
        if not sep or not bench or not family:
            console.print(f"[red]error:[/red] --family {escape(repr(item))} is not BENCH=FAMILY", highlight=False)
            return None
        if family not in FAMILIES:
            console.print(f"[red]error:[/red] --family {escape(item)}: unknown metric family {escape(repr(family))}; "
                          f"expected one of {escape(', '.join(FAMILIES))}", highlight=False)
            return None
        if bench not in stems:
            console.print(f"[red]error:[/red] --family {escape(item)}: {escape(repr(bench))} is not the stem of a --bench "
                          f"file; the stems given: {escape(', '.join(stems))}", highlight=False)
            return None
        families[bench] = family
    return families


def run_eval(args: argparse.Namespace) -> int:
    from ..evaluate.runner import EvalConfig, EvalError, evaluate
    from ..generate import SamplingConfig

    families = parse_families(args.family, args.bench)
    if families is None:
        return 2
    cfg = EvalConfig(batch_size=args.batch_size, limit=args.limit, video_fps=args.video_fps, max_frames=args.max_frames,
                     video_max_pixels=args.video_max_pixels, image_max_pixels=args.image_max_pixels, family=families,
                     segmenter=args.segmenter, sam2_config=args.sam2_config, sam2_checkpoint=args.sam2_checkpoint,
                     device=args.device, allow_absolute=args.allow_absolute, order=args.order,
                     workers=args.workers)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    results = []
    with progress() as bar:
        tasks: dict[str, int] = {}

        def update(bench: str, done: int, total: int) -> None:
            if bench not in tasks:
                tasks[bench] = bar.add_task(escape(bench), total=total)
            bar.update(tasks[bench], completed=done)

        for bench in args.bench:
            root = args.media_root if args.media_root is not None else str(Path(bench).parent)
            try:
                results += evaluate(generator, [bench], args.out, media_root=root, config=cfg, sampling=sampling,
                                    progress=update)
            except (EvalError, ValueError, OSError) as e:
                console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
                return 1
    if len(args.bench) > 1:  # one summary and report over all files
        from ..report.evaluation import write_report
        from ..evaluate.runner import write_summary

        write_summary(Path(args.out), [r.metrics for r in results])
        write_report(Path(args.out), [r.metrics for r in results], media_root=None)
    for r in results:
        parts = [f"{name} {value:.4f}" for fm in r.metrics["families"].values() for name, value in fm["metrics"].items()]
        console.print(f"{r.bench} ({r.items} items): " + ", ".join(parts), highlight=False, markup=False)
    console.print(f"results, metrics and summary in {escape(args.out)}/ (summary.md, report.html)", highlight=False)
    generator.close()
    return 0


def suite_table(rows: list[dict]):
    """The terminal listing of ``--suite paper --list``."""
    from rich import box
    from rich.table import Table

    t = Table(title="The paper's benchmarks (OneThinker, arXiv 2512.03043, Tables 1-8)", box=box.SIMPLE_HEAD)
    for col in ("benchmark", "tbl", "family", "metric: paper OneThinker-8B", "source", "here"):
        t.add_column(col, overflow="fold")
    for r in rows:
        name = r["benchmark"] + (f" {r['part']}" if r["part"] else "")
        paper = ", ".join(f"{m} {v:.1f}" for m, v in r["paper"].items())
        src = r["source"] if not r["lmms_task"] else f"lmms-eval {r['lmms_task']}"
        here = "[green]ready[/green]" if r["ready"] else "[yellow]missing[/yellow]"
        t.add_row(escape(name), str(r["table"]), escape(r["family"]), escape(paper), escape(src), here)
    return t


def run_suite_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..evaluate.runner import EvalConfig, EvalError, evaluate
    from ..evaluate.suite import SUITES, SuiteRun, default_lmms_python, list_suite, run_suite
    from ..generate import SamplingConfig

    benchmarks = SUITES[args.suite]
    root = Path(args.data_root) if args.data_root else None
    if root is not None and not root.is_dir():
        console.print(f"[red]error:[/red] --data-root {escape(str(root))}: no such folder", highlight=False)
        return 2
    lmms_python = args.lmms_python or default_lmms_python()
    if args.list:
        rows = list_suite(benchmarks, root, lmms_python)
        console.print(suite_table(rows))
        ready = sum(r["ready"] for r in rows)
        notes: dict[str, list[str]] = {}
        for r in rows:
            if not r["ready"]:
                name = r["benchmark"] + (f" {r['part']}" if r["part"] else "")
                notes.setdefault(r["get"] or r["where"], []).append(name if r["source"] != "none" else
                                                                    f"{name} ({r['note']})")
        for get, names in notes.items():
            if all(" (" in n for n in names):  # no source: one line each, with its reason
                for n in names:
                    console.print(f"[yellow]no source:[/yellow] {escape(n)}", highlight=False)
            else:
                console.print(f"[yellow]missing[/yellow] {escape(', '.join(names))}: {escape(get)}", highlight=False)
        console.print(f"{len(benchmarks)} benchmarks in {len(rows)} parts: {ready} ready here, {len(rows) - ready} "
                      f"missing (each with where to get it)", highlight=False)
        return 0
    if not args.model and args.backend != "scripted":
        console.print("[red]error:[/red] --suite needs --model", highlight=False)
        return 2
    cfg = EvalConfig(batch_size=args.batch_size, limit=args.limit, video_fps=args.video_fps, max_frames=args.max_frames,
                     video_max_pixels=args.video_max_pixels, image_max_pixels=args.image_max_pixels,
                     segmenter=args.segmenter, sam2_config=args.sam2_config, sam2_checkpoint=args.sam2_checkpoint,
                     device=args.device, allow_absolute=args.allow_absolute, order=args.order,
                     workers=args.workers)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    state: dict = {}

    def evaluate_release(path: Path, out: Path, family: str | None) -> dict:
        if "generator" not in state:  # built on first use: a run of lmms-eval tasks only never loads it here
            state["generator"] = build_generator_from_args(args)
        conf = replace(cfg, family={path.stem: family}) if family else cfg
        try:
            result = evaluate(state["generator"], [path], out, media_root=args.media_root or path.parent, config=conf,
                              sampling=sampling)[0]
        except EvalError as e:
            raise RuntimeError(str(e)) from e
        metrics: dict = {}
        for fm in result.metrics["families"].values():
            metrics.update(fm["metrics"])
        return metrics

    lmms_args = {"backend": args.backend, "dtype": args.dtype, "max_new_tokens": args.max_new_tokens,
                 "video_fps": args.video_fps, "max_frames": args.max_frames,
                 "image_max_pixels": args.image_max_pixels, "video_max_pixels": args.video_max_pixels,
                 "base_url": args.base_url, "lora": args.lora}
    run = SuiteRun(model=args.model, out=Path(args.out), data_root=root, evaluate_release=evaluate_release,
                   lmms_python=lmms_python, lmms_model_args={k: v for k, v in lmms_args.items() if v is not None},
                   lmms_include=Path(args.lmms_include) if args.lmms_include else None, batch_size=args.batch_size,
                   limit=args.limit, device=args.device,
                   log=lambda text: console.print(escape(text), highlight=False))
    summary = run_suite(run, benchmarks)
    if "generator" in state:
        state["generator"].close()
    c = summary["counts"]
    console.print(f"suite: {c['done']} parts done, {c['failed']} failed, {c['missing']} missing; "
                  f"{escape(str(run.out))}/suite.md, suite.html, suite.json", highlight=False)
    return 1 if c["failed"] else 0


def compare_table(result: dict):
    """The terminal table of a ``compare_dirs`` result: benchmarks, tasks, then all paired items; one line
    per metric. A difference whose 95% interval excludes 0 is green (B higher) or red (B lower)."""
    from rich import box
    from rich.table import Table

    from ..evaluate.compare import excludes_zero

    def num(x: float | None, sign: str = "") -> str:
        return "–" if x is None else f"{x:{sign}.3f}"

    t = Table(title=f"B - A, paired by item ({result['method']})", caption=f"A: {escape(str(result['a']))}\nB: {escape(str(result['b']))}",
              box=box.SIMPLE_HEAD)
    t.add_column("benchmark / task")
    t.add_column("n", justify="right")
    t.add_column("metric")
    for col in ("A", "B", "B - A", "95% CI"):
        t.add_column(col, justify="right", no_wrap=True)

    def add(name: str, block: dict, bold: bool = False) -> None:
        for i, m in enumerate(("reward", "accuracy")):
            s = block[m]
            ci = "–" if s["ci95"] is None else f"[{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}]"
            diff = num(s["diff"], "+")
            if excludes_zero(s["ci95"]):
                colour = "green" if s["ci95"][0] > 0 else "red"
                diff, ci = f"[{colour}]{diff}", f"[{colour}]{ci}"
            t.add_row(name if i == 0 else "", str(block["n"]) if i == 0 else "", m, num(s["a"]), num(s["b"]), diff, ci,
                      style="bold" if bold else None)

    for bench, block in result["benchmarks"].items():
        add(f"bench {escape(bench)}", block)
    t.add_section()
    for key, block in result["tasks"].items():
        add(escape(key), block)
    t.add_section()
    add("all", result["all"], bold=True)
    return t


def run_compare(args: argparse.Namespace) -> int:
    from ..evaluate.compare import CompareError, compare_dirs

    try:
        result = compare_dirs(args.a, args.b, resamples=args.resamples)
    except CompareError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    un = result["unpaired"]
    for side, folder in (("a", result["a"]), ("b", result["b"])):
        for bench, items in un[f"benchmarks_only_in_{side}"].items():
            console.print(f"[yellow]warning:[/yellow] benchmark {escape(bench)} ({items} items) is only in {escape(folder)}: skipped",
                          highlight=False)
    for bench, u in un["by_benchmark"].items():
        for side, folder in (("a", result["a"]), ("b", result["b"])):
            if u[side]:
                ids = ", ".join(json.dumps(i, default=str) for i in u[f"{side}_ids"][:5])
                more = f" and {u[side] - 5} more" if u[side] > 5 else ""
                console.print(f"[yellow]warning:[/yellow] {escape(bench)}: {u[side]} items only in {escape(folder)}, not paired "
                              f"(problem_id {escape(ids)}{more})", highlight=False)
    if result["all"]["n"] == 0:
        console.print("[yellow]warning:[/yellow] no item is in both folders: nothing to compare", highlight=False)
    console.print(compare_table(result))
    if args.json:
        try:
            path = Path(args.json)
            if path.parent != Path(""):
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        except OSError as e:
            console.print(f"[red]error:[/red] cannot write {escape(args.json)}: {escape(str(e))}", highlight=False)
            return 2
        console.print(f"wrote {escape(args.json)}", highlight=False)
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
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 1
    console.print("[bold]reasoning[/bold]")
    console.print(result["reasoning"] or "(none)", highlight=False, markup=False)
    console.print("[bold]answer[/bold]")
    console.print(json.dumps(result["answer"], ensure_ascii=False) if result["parsed"] else
                  f"(could not parse: {result['parse_error']}) {result['answer_text']!r}", highlight=False, markup=False)
    for path in result["files"]:
        console.print(f"wrote {escape(str(path))}", highlight=False)
    return 0


def run_viz(args: argparse.Namespace) -> int:
    from ..report.gallery import read_results, visualize

    src = Path(args.results)
    files = sorted(src.glob("*.jsonl")) if src.is_dir() else [src]
    try:
        if files and not any(read_results(f, warn=False) for f in files):  # every line unreadable: nothing to draw
            console.print(f"[red]error:[/red] {escape(str(src))}: no readable result rows (each line should be a JSON "
                          f"object with a problem_id, as `onethinker eval` writes)", highlight=False)
            return 1
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 1
    try:
        paths = visualize(args.results, args.out, media_root=args.media_root, n=args.n, select=args.select,
                          video_format=args.video_format)
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 1
    for warning in getattr(paths, "unreadable", []):  # some lines unreadable, others drawn: exit 0, said here
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    console.print(f"wrote {len(paths)} items to {escape(args.out)}", highlight=False)
    for reason in getattr(paths, "skipped", [])[:20]:
        console.print(f"[yellow]skipped:[/yellow] {escape(str(reason))}", highlight=False)
    return 0
