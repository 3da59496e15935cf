"""``python -m onethinker.integrations.lmms_eval --check``: lmms-eval is importable and resolves the
``onethinker`` model through its registry (the entry point is installed). Exit 0, or 1 with the reason."""

from __future__ import annotations

import argparse
import sys

from . import MODEL_CLASS, MODEL_NAME


def check() -> str:
    import importlib.metadata as md

    from lmms_eval.models import get_model

    cls = get_model(MODEL_NAME)
    where = f"{cls.__module__}.{cls.__name__}"
    if where != MODEL_CLASS:
        raise RuntimeError(f"lmms-eval resolves {MODEL_NAME!r} to {where}, not {MODEL_CLASS}")
    return f"lmms-eval {md.version('lmms_eval')}: --model {MODEL_NAME} -> {where}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m onethinker.integrations.lmms_eval")
    p.add_argument("--check", action="store_true", help="verify that lmms-eval resolves the onethinker model")
    args = p.parse_args(argv)
    if not args.check:
        p.print_help()
        return 0
    try:
        print(check())
    except Exception as e:  # noqa: BLE001 - the reason is the output
        print(f"lmms-eval plugin check failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
