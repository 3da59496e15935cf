"""``onethinker serve``: an OpenAI-compatible chat-completions server over a checkpoint
(onethinker.generate.server)."""

from __future__ import annotations

import argparse

from rich.markup import escape

from ..ui import console
from .evaluate import _add_backend_args, build_generator_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a checkpoint over an OpenAI-compatible chat-completions API",
                       description="POST /v1/chat/completions (text, image_url and video_url data URLs), "
                                   "GET /v1/models, GET /health. One model; requests queue (at most --max-queue "
                                   "waiting; more are answered 503 with Retry-After).")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--served-name", help="the model name clients send (default: --model as given)")
    p.add_argument("--max-body-mb", type=float, default=64.0, help="largest request body (default 64 MB)")
    p.add_argument("--max-queue", type=int, default=64, metavar="N",
                   help="requests that may wait for the model besides the one being answered; more get 503 with "
                        "Retry-After (default 64)")
    p.add_argument("--read-timeout", type=float, default=30.0, metavar="S",
                   help="seconds a client may take to send its request; also closes idle connections (default 30)")
    p.add_argument("--media-root", metavar="DIR",
                   help="allow file:// image and video URLs naming files under DIR (default: data URLs only)")
    _add_backend_args(p)
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from ..generate.server import ChatServer

    if args.backend == "openai":
        console.print("[red]error:[/red] serve runs a model here: --backend transformers or vllm", highlight=False)
        return 2
    try:
        generator = build_generator_from_args(args)
    except (ValueError, OSError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    try:
        server = ChatServer(generator, args.served_name or args.model or args.backend, host=args.host, port=args.port,
                            max_body_mb=args.max_body_mb, video_fps=args.video_fps, max_frames=args.max_frames,
                            max_queue=args.max_queue, read_timeout_s=args.read_timeout, media_root=args.media_root)
    except (ValueError, OSError) as e:  # bad settings, the port taken
        generator.close()
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    console.print(f"serving {escape(server.model_name)} at {escape(server.url)} (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        generator.close()
    return 0
