"""``onethinker reward score IN.jsonl -o OUT.jsonl``: score rollouts with the OneThinker reward."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from rich.markup import escape

from ..config import ConfigError, load_config
from ..reward import ITEM_FIELDS, RewardConfig, RewardResult, RewardScorer
from ..tasks import task_key
from ..ui import console, progress, results_table

_PARTS = ("overall", "format", "accuracy", "structure")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reward", help="score model responses with the OneThinker reward")
    rsub = p.add_subparsers(dest="reward_cmd", metavar="CMD")
    rsub.required = True
    s = rsub.add_parser(
        "score",
        help="score a JSONL file of rollouts",
        description=(
            "Each input line is a JSON object with response, ground_truth, problem_type and data_type "
            "(and optionally problem_id and problem, which the model judge uses). Writes one result "
            "object per input line, in order: overall, format, accuracy, structure. A malformed line "
            "gets null values and an 'error' field, is reported with its line number, and does not "
            "stop the others; the exit status is then 1."
        ),
    )
    s.add_argument("input", help="JSONL file of rollouts ('-' for standard input)")
    s.add_argument("-o", "--output", help="where to write the results (default: standard output)")
    s.add_argument("--batch-size", type=int, default=8192, help="lines scored together (default 8192)")
    add_reward_options(s)
    s.set_defaults(func=run_score)


def add_reward_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reward settings (a `reward:` config section; flags override it)")
    g.add_argument("--config", help="YAML file with a reward section (or a bare RewardConfig mapping)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. judge.batch_size=32")
    g.add_argument("--format-weight", type=float, help="w in overall = (1-w) accuracy + w format + structure")
    g.add_argument("--workers", type=int, help="worker processes for scoring (-1: one per core, at most 8; 0: in-process)")
    g.add_argument("--item-timeout", type=float, help="seconds one item may take before it scores 0")
    g.add_argument("--judge", choices=("rouge", "polar"), help="open-ended accuracy: ROUGE or a POLAR server")
    g.add_argument("--judge-url", help="base URL of the vLLM server that serves the reward model")
    g.add_argument("--judge-model", help="model name the server knows the reward model by")


def reward_config_from_args(args: argparse.Namespace) -> RewardConfig:
    overrides = list(args.set)
    flag_map = {
        "format_weight": args.format_weight,
        "workers": args.workers,
        "item_timeout_s": args.item_timeout,
        "judge.backend": args.judge,
        "judge.url": args.judge_url,
        "judge.model": args.judge_model,
    }
    overrides += [f"{k}={json.dumps(v)}" for k, v in flag_map.items() if v is not None]
    return load_config(RewardConfig, args.config, overrides, section="reward")


def _read_lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, item, None) or (line number, None, error message) for every line.

    Lines are split at b"\\n" and decoded one by one, so a line that is not valid UTF-8 (a lone
    surrogate written by another tool, a stray Latin-1 byte) is reported with its location and the
    lines around it are still read. A UTF-8 byte-order mark before the first line is ignored."""
    for lineno, raw in enumerate(stream, 1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad = raw[e.start : min(e.end, e.start + 4)]
            yield lineno, None, f"{name}:{lineno}: not valid UTF-8 (byte {e.start + 1} of the line: {bad!r})"
            continue
        if not line.strip():
            yield lineno, None, f"{name}:{lineno}: empty line"
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            yield lineno, None, f"{name}:{lineno}: invalid JSON ({e})"
            continue
        except RecursionError:
            yield lineno, None, f"{name}:{lineno}: invalid JSON (nested too deeply to read)"
            continue
        if not isinstance(obj, dict):
            yield lineno, None, f"{name}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            continue
        missing = [k for k in ITEM_FIELDS if k not in obj]
        if missing:
            yield lineno, None, f"{name}:{lineno}: missing field(s) {', '.join(repr(m) for m in missing)}"
            continue
        yield lineno, obj, None


def run_score(args: argparse.Namespace) -> int:
    try:
        config = reward_config_from_args(args)
    except (ConfigError, ValueError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        return 2
    if args.batch_size < 1:
        console.print(f"[red]error:[/red] --batch-size must be at least 1, got {args.batch_size}")
        return 2
    if args.input == "-":
        src, name = sys.stdin.buffer, "<stdin>"
    else:
        path = Path(args.input)
        if path.is_dir():
            console.print(f"[red]error:[/red] {escape(str(path))}: is a directory, not a JSONL file of rollouts",
                          highlight=False)
            return 2
        if not path.is_file():
            console.print(f"[red]error:[/red] {escape(str(path))}: no such file", highlight=False)
            return 2
        try:
            src, name = path.open("rb"), str(path)
        except OSError as e:
            console.print(f"[red]error:[/red] cannot read {escape(str(path))}: {escape(str(e))}", highlight=False)
            return 2
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    except OSError as e:
        console.print(f"[red]error:[/red] cannot write {escape(str(args.output))}: {escape(str(e))}", highlight=False)
        if src is not sys.stdin.buffer:
            src.close()
        return 2

    errors: list[str] = []
    keys: list[str] = []
    results: list[RewardResult] = []
    total_lines = 0
    with RewardScorer(config) as scorer, progress() as bar:
        task = bar.add_task("scoring", total=None)
        batch: list[tuple[int, dict | None, str | None]] = []

        def flush() -> None:
            good = [obj for _, obj, err in batch if obj is not None]
            scored = iter(scorer.score_batch(good)) if good else iter(())
            for _, obj, err in batch:
                if obj is None:
                    row: dict[str, Any] = {p: None for p in _PARTS}
                    row["error"] = err
                else:
                    r = next(scored)
                    row = r.to_dict()
                    results.append(r)
                    keys.append(task_key(obj["problem_type"], obj["data_type"]))
                out.write(json.dumps(row) + "\n")
            bar.advance(task, len(batch))
            batch.clear()

        for lineno, obj, err in _read_lines(src, name):
            total_lines = lineno
            if err:
                errors.append(err)
            batch.append((lineno, obj, err))
            if len(batch) >= args.batch_size:
                flush()
        if batch:
            flush()
        stats = scorer.totals
    if out is not sys.stdout:
        out.close()
    if src is not sys.stdin.buffer:
        src.close()

    console.print(results_table(results, keys, title=f"{escape(name)}: {len(results)} scored, {len(errors)} malformed"))
    notes = []
    if stats.timeouts or stats.errors:
        notes.append(f"{stats.timeouts} items timed out and {stats.errors} failed in a worker (accuracy 0)")
    if stats.judged:
        notes.append(f"{stats.judged} open-ended items judged by the model; {stats.judge_fallback} fell back to ROUGE")
    if scorer.pool_disabled:
        notes.append(f"worker pool unavailable ({scorer.pool_disabled}); scored in-process")
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    for err in errors[:20]:
        console.print(f"[red]malformed:[/red] {escape(err)}", highlight=False)
    if len(errors) > 20:
        console.print(f"[red]... and {len(errors) - 20} more malformed lines[/red]")
    if args.output:
        console.print(f"wrote {total_lines} results to {escape(args.output)}", highlight=False)
    return 1 if errors else 0
