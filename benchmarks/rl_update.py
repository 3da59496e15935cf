"""RL update time: the prompt-shared update (``optim.shared_prompt: true``) against the per-rollout one.

    python benchmarks/rl_update.py [--prompts 16] [--n 8] [--length 40] [--spread 12] [--rounds 2]
                                   [--updates 2] [--threads 2] [--records 96] [--work-dir DIR] [--model DIR]

The demo's update (configs/demo-rl.yaml: micro-batches of 32 rollouts, one mini-batch of all prompts, one
epoch, no KL, every parameter trained, the vision tower too) on the demo's RL prompts (a small corpus made
with the demo's plan, ``onethinker.recipes.stages.DemoCorpus``: the RL keys' image questions and a few videos)
and the demo's base model (the shipped ``onethinker/assets/demo-base``; ``--model`` for another). The
responses are not sampled: each rollout gets ``--length`` +- ``--spread`` random (non-vision) tokens ending
with the stop token, and each group random scores turned into group-normalised advantages (the update's
time does not depend on what the tokens say; sampling would only slow the benchmark).

Each mode runs in its own process (so that each has its own peak memory), ``--rounds`` times, alternating
which goes first: one untimed warm-up update, then ``--updates`` timed ``RLTrainer._update`` calls, on the CPU
in float32 with ``--threads`` torch threads. Printed per mode: the median update time (wall and this process's CPU time), the peak resident
memory of the process, and the largest autograd memory of one micro-batch (the tensors its forward saves
for the backward, parameters excluded: what the update's peak is made of); then the ratio per-rollout /
shared. Other processes on a shared machine slow whichever mode runs meanwhile: their CPU use is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args) -> None:
    """One mode: build the trainer and the rollouts, one warm-up update, ``--updates`` timed ones; JSON out."""
    import numpy as np
    import torch

    from onethinker.config import load_config
    from onethinker.recipes.stages import DEMO_RL_TASKS
    from onethinker.rl.config import RLConfig
    from onethinker.rl.trainer import RLTrainer, Rollout, StepLog

    torch.manual_seed(args.seed)
    tasks = ",".join(json.dumps(t) for t in DEMO_RL_TASKS)
    cfg = load_config(RLConfig, REPO / "configs" / "demo-rl.yaml", [
        f"model.path={args.model}", f"model.threads={args.threads}",
        f"data.train_files=[{json.dumps(str(Path(args.corpus) / 'onethinker_rl_train.json'))}]", f"data.tasks=[{tasks}]",
        f"run.output_dir={args.out}", f"rollout.prompts_per_step={args.prompts}", f"rollout.n={args.n}",
        f"optim.shared_prompt={'true' if args.child == 'shared' else 'false'}", f"run.seed={args.seed}",
    ])
    trainer = RLTrainer(cfg)
    prompts = [trainer._prompt(r) for r in trainer.stream.take(args.prompts)]
    rng = random.Random(args.seed)
    banned = set(trainer.suppress_ids) | {trainer.pad_id} | set(trainer.stop_ids)
    allowed = [i for i in range(len(trainer.tokenizer)) if i not in banned]
    rollouts = []
    for k, p in enumerate(prompts):
        scores = [rng.random() for _ in range(args.n)]
        mean, std = statistics.mean(scores), statistics.stdev(scores)
        for s in scores:
            n = max(2, min(cfg.rollout.max_new_tokens, round(rng.gauss(args.length, args.spread))))
            ro = Rollout(p, f"g{k}", [rng.choice(allowed) for _ in range(n - 1)] + [trainer.stop_ids[0]], "")
            ro.advantage = (s - mean) / (std + 1e-6)
            rollouts.append(ro)

    # autograd memory of a micro-batch: what its forward saves for the backward (parameters excluded)
    params = {p.untyped_storage().data_ptr() for p in trainer.model.parameters()}
    saved_peak = [0]
    logprobs = trainer._logprobs

    def measured(model, part):
        seen: dict[int, int] = {}

        def pack(t):
            st = t.untyped_storage()
            if st.data_ptr() not in params:
                seen[st.data_ptr()] = st.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = logprobs(model, part)
        saved_peak[0] = max(saved_peak[0], sum(seen.values()))
        return out

    rss0 = _rss_mb()
    trainer._logprobs = measured
    t0 = time.perf_counter()
    trainer._update(rollouts, StepLog())  # warm-up (optimizer state, allocator), measured
    warm = time.perf_counter() - t0
    trainer._logprobs = logprobs
    times, cpu = [], []
    for _ in range(args.updates):
        t0, c0 = time.perf_counter(), time.process_time()
        trainer._update(rollouts, StepLog())
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    prompt_tokens = sum(int(ro.prompt.features["attention_mask"].sum()) for ro in rollouts)
    response_tokens = sum(len(ro.response) for ro in rollouts)
    print(json.dumps({
        "mode": args.child, "times": times, "cpu": cpu, "warmup": warm, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss0, "saved_mb": saved_peak[0] / 2**20, "prompt_tokens": prompt_tokens,
        "response_tokens": response_tokens, "rollouts": len(rollouts),
        "videos": sum(1 for p in prompts if "pixel_values_videos" in p.features),
        "images": sum(1 for p in prompts if "pixel_values" in p.features),
        "threads": torch.get_num_threads(), "mean_length": float(np.mean([len(r.response) for r in rollouts])),
    }), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--length", type=float, default=40.0, help="mean response length in tokens")
    ap.add_argument("--spread", type=float, default=12.0, help="standard deviation of the response lengths")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--updates", type=int, default=2, help="timed updates per mode and round (after 1 warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--records", type=int, default=96, help="RL prompts in the corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped demo base)")
    ap.add_argument("--child", choices=["full", "shared"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.child:
        import logging
        import warnings

        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        child(args)
        return 0

    sys.path.insert(0, str(HERE))
    from rl_step import OtherLoad, busy_warning, demo_corpus, demo_model, work_folder

    with work_folder(args.work_dir, "rl_update_") as work:
        corpus = demo_corpus(work, args.records, args.seed, folder="corpus")
        model = demo_model(work, corpus, args.seed, args.model)
        results: dict[str, list[dict]] = {"full": [], "shared": []}
        others: dict[str, list[float]] = {"full": [], "shared": []}
        for k in range(args.rounds):
            for mode in (("full", "shared") if k % 2 == 0 else ("shared", "full")):
                print(f"round {k + 1}: {mode} ...", flush=True)
                cmd = [sys.executable, __file__, "--child", mode, "--corpus", str(corpus), "--model", str(model),
                       "--out", str(work / "runs" / f"{mode}{k}"), "--prompts", str(args.prompts), "--n", str(args.n),
                       "--length", str(args.length), "--spread", str(args.spread), "--updates", str(args.updates),
                       "--threads", str(args.threads), "--seed", str(args.seed)]
                watch = OtherLoad().start()
                run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                cores = watch.cores()
                if run.returncode != 0:
                    print(run.stdout[-3000:], run.stderr[-3000:])
                    raise SystemExit(f"{mode}: the child failed ({run.returncode})")
                row = json.loads(run.stdout.strip().splitlines()[-1])
                results[mode].append(row)
                if cores is not None:
                    others[mode].append(cores)
                print(f"  updates {', '.join(f'{t:.2f}' for t in row['times'])} s (warm-up {row['warmup']:.2f} s)"
                      + (f"; other processes kept {cores:.2f} of {os.cpu_count()} cores busy" if cores is not None else ""),
                      flush=True)
        r = results["full"][0]
        ptok, rtok = r["prompt_tokens"], r["response_tokens"]
        print()
        print(f"update of {args.prompts} prompts x {args.n} rollouts ({r['images']} image, {r['videos']} video prompts), "
              f"responses {r['mean_length']:.1f} tokens on average; prompt tokens {ptok / (ptok + rtok):.0%} of the "
              f"per-rollout path's; micro-batch 32 rollouts; {r['threads']} torch threads; model {model}")
        head = (f"{'mode':<12} {'s/update':>9} {'(min-max)':>13} {'CPU s/update':>13} {'peak RSS MB':>12} "
                f"{'autograd MB/micro-batch':>24}")
        print(head)
        print("-" * len(head))
        med, med_cpu = {}, {}
        for mode, name in (("full", "per-rollout"), ("shared", "shared")):
            times = [t for row in results[mode] for t in row["times"]]
            med[mode] = statistics.median(times)
            med_cpu[mode] = statistics.median([t for row in results[mode] for t in row["cpu"]])
            rss = max(row["maxrss_mb"] for row in results[mode])
            saved = max(row["saved_mb"] for row in results[mode])
            print(f"{name:<12} {med[mode]:9.2f} {f'({min(times):.2f}-{max(times):.2f})':>13} {med_cpu[mode]:13.2f} "
                  f"{rss:12.0f} {saved:24.0f}")
        print(f"ratio per-rollout / shared (time): {med['full'] / med['shared']:.2f}x (CPU time "
              f"{med_cpu['full'] / med_cpu['shared']:.2f}x); peak RSS "
              f"{max(x['maxrss_mb'] for x in results['full']) / max(x['maxrss_mb'] for x in results['shared']):.2f}x; "
              f"autograd memory {max(x['saved_mb'] for x in results['full']) / max(x['saved_mb'] for x in results['shared']):.2f}x")
        if busy_warning(others["full"] + others["shared"], args.threads):
            print(busy_warning(others["full"] + others["shared"], args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
