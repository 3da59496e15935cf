"""Held-out evaluation time: the demo's greedy evaluation of its held-out items, today's path against the
paths before it, in one run on one machine.

    python benchmarks/heldout_eval.py [--items 640] [--batch-size 16] [--max-new-tokens 256] [--threads 1]
                                      [--model DIR --corpus DIR] [--paths generate-file,fast-file,fast-task]
                                      [--work-dir DIR] [--seed 0]

    the demo's evaluations (two cores: 2 threads in one process against 2 processes of one thread each):
    python benchmarks/heldout_eval.py --threads 2 --paths fast-task,fast-task+2 --model runs/demo/sft/final --corpus runs/demo/corpus

Each path runs the evaluation runner (``onethinker.evaluate.runner.evaluate``: prompts built, replies
generated greedily, every item scored with its official metric, results written) on the same items with the
same model, in this process, on the CPU in float32:

- ``generate-file``: transformers ``generate`` (every row computed until the batch's longest reply ends), the
  items in the file's order: the path before issue 23;
- ``fast-file``: the sampling engine's fast sampler (``onethinker.models.sampling``: finished rows leave the
  batch), the file's order;
- ``fast-task``: the fast sampler with the runner's default batch order (items grouped by task key and the truth
  answer's length, so a batch's replies end at about the same step);
- ``PATH+W``: that path with ``W`` generation batches at once, each in a forked process of one torch thread
  (``EvalConfig.workers``, ``onethinker.parallel``; what the demo's evaluations do with its 2 cores).

Use the demo's own SFT checkpoint and corpus for the demo's figure (``--model runs/demo/sft/final --corpus
runs/demo/corpus``; its replies have the demo's lengths); without them a corpus is built with the demo's plan
and the shipped demo base answers (shorter, less regular replies). One untimed warm-up on 4 items per path,
then each path once, the paths in the given order. Printed per path: seconds, items per second, the mean reward,
how many replies differ from the first path's (greedy replies are the same up to float rounding at a near-tie)
and the ratio of the first path's time to each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

PATHS = {"generate-file": ("generate", "file"), "fast-file": ("fast", "file"), "fast-task": ("fast", "task")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=640, help="held-out items (the demo's 640)")
    ap.add_argument("--batch-size", type=int, default=16, help="items per generation batch (the demo's 16)")
    ap.add_argument("--max-new-tokens", type=int, default=256, help="reply length (the demo's 256)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (on a shared machine more threads than free cores scatter the times)")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped demo base)")
    ap.add_argument("--corpus", default=None,
                    help="corpus folder with eval_synthetic.json and its media (default: one built with the demo's plan)")
    ap.add_argument("--paths", default=",".join(PATHS),
                    help=f"comma-separated, the first is the baseline ({', '.join(PATHS)}); PATH@B: batches of B items "
                         "instead of --batch-size")
    ap.add_argument("--work-dir", default=None, help="corpus and result folders (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.items < 1 or args.batch_size < 1 or args.max_new_tokens < 1:
        ap.error("--items, --batch-size and --max-new-tokens must be >= 1")
    names = [p.strip() for p in args.paths.split(",") if p.strip()]
    # every path once, up front: its label -> (sampler, batch order, batch size)
    specs = {n: path_spec(n, args.batch_size) for n in names}
    unknown = [n for n, spec in specs.items() if spec is None]
    if unknown or not names:
        ap.error(f"--paths: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(PATHS)} (PATH@B for "
                 "batches of B, PATH+W for W worker processes)")
    paths = list(specs)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from rl_step import OtherLoad, busy_warning, demo_model, quiet, work_folder  # shared with the other benchmarks

    quiet()

    from onethinker.data.records import read_records, write_records
    from onethinker.evaluate.runner import EvalConfig, evaluate
    from onethinker.evaluate.store import ResultStore
    from onethinker.generate import SamplingConfig, build_generator

    with work_folder(args.work_dir, "heldout_eval_") as work:
        corpus = Path(args.corpus) if args.corpus else heldout_corpus(work, args.items, args.seed)
        source = corpus / "eval_synthetic.json"
        if not source.is_file():
            ap.error(f"--corpus {corpus}: no eval_synthetic.json there")
        records = list(read_records(source))[: args.items]
        bench = work / "heldout.json"
        write_records(bench, records)
        warm = work / "warm.json"
        write_records(warm, records[:4])
        model_dir = demo_model(work, corpus, args.seed, args.model)
        videos = sum(1 for r in records if r.get("data_type") == "video")
        print(f"{len(records)} held-out items ({videos} with video) of {source}; model {model_dir}; batch "
              f"{args.batch_size}, up to {args.max_new_tokens} new tokens, greedy; torch threads {args.threads}",
              flush=True)
        sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=args.seed)
        generators = {s: build_generator("transformers", str(model_dir), sampler=s)
                      for s in {sampler for sampler, _, _, _ in specs.values()}}
        configs = {p: EvalConfig(batch_size=batch, segmenter="grabcut", order=order, workers=workers)
                   for p, (_, order, batch, workers) in specs.items()}
        for p, (sampler, _, _, _) in specs.items():  # warm-up: imports, scorers, first calls
            config = configs[p]
            evaluate(generators[sampler], [warm], work / f"warm-{p}", media_root=corpus, config=config, sampling=sampling)
        times, rows, cores = {}, {}, []
        for p, (sampler, _, _, _) in specs.items():
            config = configs[p]
            out = work / f"out-{p}"
            shutil.rmtree(out, ignore_errors=True)
            watch = OtherLoad().start()
            t0 = time.perf_counter()
            evaluate(generators[sampler], [bench], out, media_root=corpus, config=config, sampling=sampling)
            times[p] = time.perf_counter() - t0
            cores.append(watch.cores())
            rows[p] = {r["problem_id"]: r for r in ResultStore(out / "heldout.jsonl").rows()}
            print(f"  {p}: {times[p]:.1f} s", flush=True)
        base = paths[0]
        print(f"\n{'path':<16} {'seconds':>8} {'items/s':>8} {'reward':>7} {'replies != ' + base:>22} {'speed-up':>9}")
        for p in paths:
            mean = sum(r["reward"]["overall"] for r in rows[p].values()) / len(rows[p])
            differ = sum(1 for k, r in rows[p].items() if r.get("output") != rows[base][k].get("output"))
            print(f"{p:<16} {times[p]:8.1f} {len(rows[p]) / times[p]:8.2f} {mean:7.3f} {differ:22d} "
                  f"{times[base] / times[p]:8.2f}x")
        warning = busy_warning(cores, args.threads)
        if warning:
            print(warning)
        print(json.dumps({"items": len(records), "seconds": {p: round(t, 2) for p, t in times.items()},
                          "speedup": {p: round(times[base] / t, 3) for p, t in times.items()}}))
    return 0


def path_spec(entry: str, batch_size: int) -> tuple[str, str, int, int] | None:
    """(sampler, batch order, batch size, workers) of a ``--paths`` entry, ``PATH``, ``PATH@B`` (batches of B items
    instead of ``batch_size``), ``PATH+W`` (W forked worker processes of one thread) or ``PATH@B+W``; None when it is
    not one."""
    rest, _, w = entry.partition("+")
    name, _, b = rest.partition("@")
    if name not in PATHS or any(x and not (x.isdigit() and int(x) >= 1) for x in (b, w)):
        return None
    return (*PATHS[name], int(b) if b else batch_size, int(w) if w else 1)


def heldout_corpus(work: Path, items: int, seed: int) -> Path:
    """A corpus built with the demo's plan whose held-out file has ``items`` items (built once under ``work``)."""
    from dataclasses import replace

    from onethinker.recipes.stages import DemoCorpus
    from onethinker.synthetic.corpus import synthesize

    corpus = work / f"heldout-corpus-{items}"
    if not (corpus / "eval_synthetic.json").is_file():
        print(f"building a demo-like corpus with {items} held-out items in {corpus} ...", flush=True)
        synthesize(replace(DemoCorpus(), sft=8, rl=8, heldout=items).synth_config(seed, workers=1), corpus)
    return corpus


if __name__ == "__main__":
    sys.exit(main())
