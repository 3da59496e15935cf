"""The demo's RL step, today's path against a former one, on a finished demo run's SFT checkpoint.

    python benchmarks/demo_rl_steps.py --root runs/demo [--baseline fast|generate] [--steps 4] [--rounds 2] [--focus-only]

Runs `onethinker train rl --config configs/demo-rl.yaml` from ROOT/sft/final on ROOT/corpus (the demo's recipe:
every task key of its RL pool, 24 prompts x 6 rollouts at temperature 0.7, up to 256 new tokens, KL to the SFT
start, two sampling tries; `--focus-only`: the four focus keys only, as the demo trained before) for --steps steps,
alternating a former path and today's, each in its own process, --rounds times; prints every step's time split
from the run's log.jsonl, the processes' peak memory, the medians and the ratio. Today: `rollout.sampler=stream`
(one decode batch per step that refills join) and micro-batches cut where padding is least. Baselines:
`--baseline fast` (session 27's path: `rollout.sampler=fast`, one sampling call per 16 prompts, micro-batches
of 32 rollouts), `--baseline generate` (session 16's: transformers generate, every rollout's prompt in the update).
Needs a finished demo's SFT stage (`make demo`, or `onethinker demo` up to SFT).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

# the child: `onethinker ...` that writes its own peak resident memory (MB) to argv[1] when it exits; with
# BENCH_FORMER_CUT set, the update cuts micro-batches as before (benchmarks/rl_update_cut.py's former_cut)
CHILD = ("import atexit, os, resource, sys\n"
         "out = sys.argv.pop(1)\n"
         "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))\n"
         "if os.environ.get('BENCH_FORMER_CUT'):\n"
         "    sys.path.insert(0, os.environ['BENCH_FORMER_CUT'])\n"
         "    import onethinker.rl.trainer, rl_update_cut\n"
         "    onethinker.rl.trainer.micro_batches = rl_update_cut.former_cut\n"
         "from onethinker.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")
BASELINES = {"generate": ("former (generate, per rollout)", ["rollout.sampler=generate", "optim.shared_prompt=false"]),
             "fast": ("former (fast, 32-rollout cut)", ["rollout.sampler=fast", "rollout.generation_batch_size=16"])}
TODAY = ("today (stream, least padding)", ["rollout.sampler=stream"])
MODES: dict[str, list[str]] = {}


def run(root: Path, name: str, overrides: list[str], steps: int, focus_only: bool = False) -> tuple[list[dict], float]:
    former = name != TODAY[0]
    out = f"bench-rl-{'former' if former else 'today'}"
    shutil.rmtree(root / out, ignore_errors=True)
    keys = '["multiple choice","numerical","regression","spatial grounding"]' if focus_only else "[]"
    peak_file = root / f"{out}.peak"
    cmd = [sys.executable, "-c", CHILD, str(peak_file), "train", "rl", "--config", "configs/demo-rl.yaml", "--set", f"root={root}",
           "--set", f"data.tasks={keys}", "--set", f"run.output_dir={out}", "--set", f"run.max_steps={steps}",
           "--set", "run.save_every=0"] + [a for o in overrides for a in ("--set", o)]
    env = dict(os.environ)
    env.pop("BENCH_FORMER_CUT", None)
    if former and "rollout.sampler=fast" in overrides:
        env["BENCH_FORMER_CUT"] = str(Path(__file__).resolve().parent)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = float(peak_file.read_text())
    peak_file.unlink()
    rows = [json.loads(x) for x in (root / out / "log.jsonl").read_text().splitlines()]
    shutil.rmtree(root / out, ignore_errors=True)
    return rows, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="a demo run folder with sft/final and corpus/")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--focus-only", action="store_true", help="RL on the four focus keys only (the demo before --rl-mix)")
    ap.add_argument("--baseline", choices=sorted(BASELINES), default="fast",
                    help="fast: session 27's sampler and micro-batches; generate: session 16's path")
    args = ap.parse_args()
    MODES.clear()
    MODES.update([BASELINES[args.baseline], TODAY])
    root = Path(args.root).resolve()
    if not (root / "sft" / "final" / "config.json").is_file():
        print(f"error: {root}/sft/final: no SFT checkpoint (run the demo's SFT stage first)", file=sys.stderr)
        return 2
    steps: dict[str, list[dict]] = {m: [] for m in MODES}
    peaks: dict[str, float] = {m: 0.0 for m in MODES}
    for _ in range(args.rounds):
        for name, overrides in MODES.items():
            rows, peak = run(root, name, overrides, args.steps, args.focus_only)
            steps[name] += rows
            peaks[name] = max(peaks[name], peak)
            print(f"{name}: step s {[round(r['time/step_s'], 1) for r in rows]}, rollout s "
                  f"{[round(r['time/rollout_s'], 1) for r in rows]}, update s {[round(r['time/update_s'], 1) for r in rows]}, "
                  f"response tokens {[round(r['response/length_mean'], 1) for r in rows]}", flush=True)
    med = {m: {k: statistics.median(r[f"time/{k}_s"] for r in rows) for k in ("step", "rollout", "update")}
           for m, rows in steps.items()}
    print(f"\n{'path':32} {'s/step':>7} {'rollout':>8} {'update':>7} {'peak MB':>8}")
    for m in MODES:
        print(f"{m:32} {med[m]['step']:7.2f} {med[m]['rollout']:8.2f} {med[m]['update']:7.2f} {peaks[m]:8.0f}")
    old, new = (med[m] for m in MODES)
    print(f"today / former: step {old['step'] / new['step']:.2f}x faster, rollout {old['rollout'] / new['rollout']:.2f}x, "
          f"update {old['update'] / new['update']:.2f}x (medians over {args.steps} x {args.rounds} steps each)")
    print(f"peak memory today / former: {peaks[list(MODES)[1]] / peaks[list(MODES)[0]]:.2f} (each run's own process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
