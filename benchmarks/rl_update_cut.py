"""The RL update's micro-batch cut: groups cut to minimise padding against the former fixed-size chunks, on real rollouts.

    python benchmarks/rl_update_cut.py --root runs/demo [--steps 3] [--rounds 2]

Samples ``--steps`` steps of rollouts once with the demo's recipe (configs/demo-rl.yaml) from ROOT/sft/final on
ROOT/corpus (the sampled answers' real lengths: 20-token counts beside 250-token tracks), then times
``RLTrainer._update`` on each step's rollouts with the former cut (whole groups ordered by their longest response,
cut every ``optim.micro_batch_size`` rollouts) and with today's (:func:`onethinker.rl.shared_prompt.micro_batches`:
the cut that minimises padded tokens), alternating which goes first, ``--rounds`` times, the weights and optimizer
put back before every update (both modes update the same model on the same rollouts). Prints per step the padded
response and prompt tokens of each cut and the update times, then the medians and the ratio former / today, and the
largest difference of the updated weights between the modes (the loss is the same sum whatever the cut: float
rounding only). Needs a finished demo's SFT stage (`make demo`, or `onethinker demo` up to SFT).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def former_cut(rollouts, size, *, shared=True, **_):
    """The cut before today's: whole groups by their longest response, every ``size`` rollouts."""
    groups: dict = {}
    for ro in rollouts:
        groups.setdefault(ro.group, []).append(ro)
    order = sorted(groups.values(), key=lambda g: -max(len(ro.response) for ro in g))
    flat = [ro for g in order for ro in sorted(g, key=lambda ro: -len(ro.response))]
    return [flat[i : i + size] for i in range(0, len(flat), size)]


def padded(parts) -> tuple[int, int, int]:
    """(padded response tokens, padded prompt tokens, micro-batches) of a cut."""
    from onethinker.rl.shared_prompt import _prompt_length

    resp = sum(len(p) * max(len(ro.response) for ro in p) for p in parts)
    prompt = sum(len({ro.group for ro in p}) * max(_prompt_length(ro) for ro in p) for p in parts)
    return resp, prompt, len(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="a demo run folder with sft/final and corpus/")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    root = Path(args.root).resolve()
    if not (root / "sft" / "final" / "config.json").is_file():
        print(f"error: {root}/sft/final: no SFT checkpoint (run the demo's SFT stage first)", file=sys.stderr)
        return 2
    import torch

    from onethinker.config import load_config
    from onethinker.rl import trainer as rl_trainer
    from onethinker.rl.advantages import compute_advantages
    from onethinker.rl.config import RLConfig
    from onethinker.rl.shared_prompt import micro_batches

    cfg = load_config(RLConfig, REPO / "configs" / "demo-rl.yaml",
                      [f"root={root}", f"run.output_dir={tempfile.mkdtemp(prefix='bench-cut-')}", "run.save_every=0"])
    trainer = rl_trainer.RLTrainer(cfg)
    size = cfg.optim.micro_batch_size
    steps = []
    for _ in range(args.steps):  # rollouts sampled once, scored and given advantages as train_step does
        kept = trainer._sample_groups(rl_trainer.StepLog())
        scores = torch.tensor([ro.reward.overall for ro in kept], dtype=torch.float32)
        adv = compute_advantages(cfg.algorithm.estimator, scores, [ro.group for ro in kept],
                                 [ro.prompt.task for ro in kept], trainer.stats)
        for ro, a in zip(kept, adv.tolist()):
            ro.advantage = a
        steps.append(kept)
        trainer.step += 1
    weights = copy.deepcopy(trainer.model.state_dict())
    optim = copy.deepcopy(trainer.optimizer.state_dict())
    modes = {"former (every 32 rollouts)": former_cut, "today (least padding)": micro_batches}
    times: dict[str, list[float]] = {m: [] for m in modes}
    after: dict[str, dict] = {}
    print(f"{'step':>4} {'mode':28} {'resp tokens':>11} {'prompt tokens':>13} {'micro':>5}  update s")
    for s, kept in enumerate(steps):
        real = sum(len(ro.response) for ro in kept)
        for r in range(args.rounds):
            for name in (list(modes) if r % 2 == 0 else list(modes)[::-1]):
                rl_trainer.micro_batches = modes[name]
                trainer.model.load_state_dict(weights)
                trainer.optimizer.load_state_dict(optim)
                for ro in kept:
                    ro.old_logp = ro.ref_logp = None
                t0 = time.perf_counter()
                trainer._update(kept, rl_trainer.StepLog())
                dt = time.perf_counter() - t0
                times[name].append(dt)
                if s == 0 and r == 0:
                    after[name] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
                resp, prompt, n = padded(modes[name](kept, size))
                print(f"{s + 1:4d} {name:28} {resp:11d} {prompt:13d} {n:5d}  {dt:7.2f}   (real response tokens {real})")
    rl_trainer.micro_batches = micro_batches
    a, b = (after[m] for m in modes)
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    med = {m: statistics.median(v) for m, v in times.items()}
    for m, v in med.items():
        print(f"median update {m:28} {v:6.2f} s over {len(times[m])}")
    former, today = med.values()
    print(f"ratio former / today: {former / today:.2f}x; largest weight difference after step 1's update: {worst:.1e}")
    trainer.scorer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
