"""``onethinker <verb> ...``: the command line. Each verb lives in ``onethinker.commands``."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .commands import app, data, demo, evaluate, model, probe, reward, serve, train

VERBS = (reward, data, model, train, evaluate, probe, demo, serve, app)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onethinker",
        description="OneThinker: one multimodal reasoning model for image and video tasks.",
    )
    parser.add_argument("--version", action="version", version=f"onethinker {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        verb.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
