"""Rollout sampling time: the sampling engine's fast sampler against transformers ``generate``.

    python benchmarks/sampler.py [--prompts 16] [--n 8] [--max-new-tokens 128] [--temperature 1.0]
                                 [--rounds 3] [--threads 1] [--seed 0] [--model DIR] [--work-dir DIR]

``SamplingEngine.sample`` (``onethinker.models.sampling``) with ``sampler="generate"`` (transformers
``generate(num_return_sequences=n)``: every prompt prefilled ``n`` times, finished rows computed until the
longest stops) and with ``sampler="fast"`` (each prompt prefilled once, the cache repeated for its ``n``
samples, rows leaving the batch at their stop token), in this process, on the CPU in float32, on the demo's
tiny Qwen3-VL base (the shipped ``onethinker/assets/demo-base``, pretrained on the synthetic tasks, so its
answers end at their own lengths; else a random ``onethinker.models.build_tiny``, ``--model`` for another)
and the first ``--prompts`` prompts the RL trainer draws
from a small corpus built like the demo's (``onethinker.recipes.stages.DemoCorpus``: its task mix, its
share of videos), as one left-padded batch, with the RL trainer's engine (its stop tokens, vision
placeholders never sampled).

One untimed warm-up call each, then ``--rounds`` rounds alternating which sampler goes first (this
machine's speed drifts); every round uses its own seed, the same for both. Printed: median seconds per
call, the tokens sampled (each row up to its stop token) and the ratio generate / fast; then the same for
greedy decoding of the prompts (``n`` = 1, evaluation's case). The gain has two parts: the shared prefill
(n times fewer prompt tokens, pictures and videos encoded once) and the rows that leave the batch (a random
model rarely draws a stop token, so with it most rows run to ``--max-new-tokens`` and only the first part
shows).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=16, help="prompts in the batch (one sampling call)")
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3, help="timed calls per sampler, alternating which goes first")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (on a shared machine more threads than free cores scatter the times)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-greedy", action="store_true", help="time sampling only")
    ap.add_argument("--model", default=None,
                    help="model folder (default: the shipped demo base, else a random tiny model)")
    ap.add_argument("--work-dir", default=None, help="corpus and model folders (default: a temporary folder)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from rl_step import OtherLoad, busy_warning, demo_corpus, demo_model, quiet, work_folder  # shared

    quiet()

    from onethinker.data.chat import record_messages
    from onethinker.data.records import read_records
    from onethinker.models import load
    from onethinker.models.inputs import build_inputs
    from onethinker.models.sampling import SamplingEngine
    from onethinker.rl.trainer import PromptStream

    with work_folder(args.work_dir, "sampler_") as work:
        corpus = demo_corpus(work, 64, args.seed, sft=80, folder="corpus")
        model_dir = demo_model(work, corpus, args.seed, args.model)
        # the prompts of the RL trainer's first draw (its seeded order over the RL-train records)
        records = PromptStream(list(read_records(corpus / "onethinker_rl_train.json")), args.seed).take(args.prompts)
        model, processor = load(str(model_dir), dtype="float32", device="cpu")
        msgs = [record_messages(r, corpus) for r in records]
        batch = dict(build_inputs(processor, msgs, add_generation_prompt=True, padding_side="left"))
        lengths = batch["attention_mask"].sum(1).tolist()
        videos = sum(1 for r in records if r.get("videos"))
        print(f"{len(records)} prompts ({videos} with video), {min(lengths)}-{max(lengths)} tokens; "
              f"model {model_dir}; torch threads {args.threads}")
        engine = SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)

        def run(label: str, n: int, temperature: float) -> None:
            kw = dict(n=n, max_new_tokens=args.max_new_tokens, temperature=temperature)
            for sampler in ("generate", "fast"):  # warm-up
                engine.sample(batch, sampler=sampler, seed=args.seed, **dict(kw, max_new_tokens=4))
            times: dict[str, list[float]] = {"generate": [], "fast": []}
            tokens: dict[str, list[int]] = {"generate": [], "fast": []}
            longest: dict[str, list[int]] = {"generate": [], "fast": []}
            watch = OtherLoad().start()
            for k in range(args.rounds):
                order = ("generate", "fast") if k % 2 == 0 else ("fast", "generate")
                for sampler in order:
                    t0 = time.perf_counter()
                    out = engine.sample(batch, sampler=sampler, seed=args.seed + k, **kw)
                    times[sampler].append(time.perf_counter() - t0)
                    lengths = [len(engine.cut(r)) for r in out.sequences.tolist()]
                    tokens[sampler].append(sum(lengths))
                    longest[sampler].append(max(lengths))
            cores = watch.cores()
            old, new = statistics.median(times["generate"]), statistics.median(times["fast"])
            print(f"\n{label}: {args.prompts} prompts x {n} samples, up to {args.max_new_tokens} new tokens, "
                  f"median of {args.rounds}")
            for sampler, t in (("generate", old), ("fast", new)):
                tok = statistics.median(tokens[sampler])
                print(f"  {sampler:<9} {t:7.2f} s  ({min(times[sampler]):.2f}-{max(times[sampler]):.2f})  "
                      f"{tok:7.0f} tokens (mean {tok / (args.prompts * n):.1f}, longest row "
                      f"{statistics.median(longest[sampler]):.0f})  {tok / t:7.0f} tokens/s")
            print(f"  ratio generate / fast: {old / new:.2f}x")
            if busy_warning([cores], args.threads):
                print("  " + busy_warning([cores], args.threads))

        run(f"sampling at temperature {args.temperature}", args.n, args.temperature)
        if not args.skip_greedy:
            run("greedy (evaluation)", 1, 0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
