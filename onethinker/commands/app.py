"""``onethinker app``: a web page (Gradio) to try a checkpoint on an image or a video (onethinker.app)."""

from __future__ import annotations

import argparse
import time

from rich.markup import escape

from ..ui import console
from .evaluate import _add_backend_args, _add_segmenter_args, build_generator_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="a web page to try a checkpoint on an image or a video (Gradio)",
                       description="Upload an image or a video (or pick an example), choose the task, ask; the page "
                                   "shows the reasoning, the parsed answer drawn on the picture or the video, the "
                                   "generation time and token counts. The Run button is also the API endpoint /run "
                                   '(gradio_client). Needs Gradio: pip install -e ".[app]" in the checkout (make setup installs it).')
    p.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--examples", metavar="DIR",
                   help="a folder of record files (eval_*.json, onethinker_rl_train.json, ...) with their media, whose "
                        "questions the page offers as examples; an empty or new folder gets a small synthetic set "
                        "(default: a synthetic set in a temporary folder)")
    p.add_argument("--no-examples", action="store_true", help="no examples")
    p.add_argument("--max-upload-mb", type=float, default=500.0, help="largest upload (default 500 MB)")
    _add_backend_args(p)
    _add_segmenter_args(p)
    p.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> int:
    from ..app.page import GradioMissing, import_gradio

    try:
        import_gradio()
    except GradioMissing as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    from ..app import AppRunner, AppSettings, build_app, launch_app, load_examples

    if args.port is not None and not 0 < args.port < 65536:
        console.print(f"[red]error:[/red] --port {args.port}: expected 1..65535", highlight=False)
        return 2
    if args.examples and args.no_examples:
        console.print("[red]error:[/red] --examples and --no-examples exclude each other", highlight=False)
        return 2
    if args.port:  # a port in use is an error before the model loads
        import socket

        try:
            with socket.create_server((args.host, args.port)):
                pass
        except OSError as e:
            console.print(f"[red]error:[/red] cannot listen on {escape(args.host)}:{args.port}: {escape(str(e))}",
                          highlight=False)
            return 2
    examples, folder = [], None
    if not args.no_examples:
        try:
            examples, folder = load_examples(args.examples)
        except (ValueError, OSError) as e:
            console.print(f"[red]error:[/red] examples: {escape(str(e))}", highlight=False)
            return 2
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError, ImportError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    settings = AppSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, video_fps=args.video_fps,
                           max_frames=args.max_frames, segmenter=args.segmenter, sam2_config=args.sam2_config,
                           sam2_checkpoint=args.sam2_checkpoint, device=args.device)
    runner = AppRunner(generator, settings)
    page = build_app(runner, examples=examples)
    try:
        url = launch_app(page, host=args.host, port=args.port, allowed_paths=[str(folder)] if folder else [],
                         max_upload_mb=args.max_upload_mb)
    except (OSError, ValueError) as e:
        console.print(f"[red]error:[/red] cannot serve on {escape(args.host)}:{args.port}: {escape(str(e))}",
                      highlight=False)
        generator.close()
        runner.close()
        return 2
    console.print(f"serving {escape(generator.name)} at {escape(url)} ({len(examples)} examples; Ctrl-C stops)",
                  highlight=False)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        page.close()
        generator.close()
        runner.close()
    return 0
