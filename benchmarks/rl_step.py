"""RL step time: the native trainer (``onethinker.rl``) against TRL's ``GRPOTrainer``, same model, same data.

    python benchmarks/rl_step.py [--steps 5] [--rounds 1] [--prompts 4] [--n 4] [--max-new-tokens 64]
                                 [--threads 2] [--lr 5e-5] [--seed 0] [--free-length] [--work-dir DIR]

Both engines train the tiny Qwen3-VL (random weights, ``onethinker.models.build_tiny``) on the image
records of a small synthetic corpus (``onethinker.synthetic.corpus``, no videos), in this process, one after
the other, on the CPU in float32 with ``--threads`` torch threads. One RL step = ``--prompts`` prompts x
``--n`` rollouts at temperature 1.0, rewards, one policy update over all of them (one optimizer step,
one forward/backward pass over the whole batch). Configured alike on both sides:
- the same weights (loaded from the same folder), chat prompts (``onethinker.data.chat``: question,
  reasoning instruction and the task's answer form, image in place) and images (resized as
  ``onethinker.models.build_inputs`` does, so the processor leaves them as they are): the same token
  ids and pixels; the same prompts in every step (TRL reads them, unshuffled, in our trainer's order);
- generation: ``--max-new-tokens``, top-p 1, no top-k, vision tokens never sampled, and (unless
  ``--free-length``) ``min_new_tokens`` = ``--max-new-tokens`` so every rollout is exactly as long on
  both sides (a random model's answers are noise, and their length would otherwise decide the timing);
- reward: onethinker's ``overall`` (``onethinker.rewards``; in-process, no worker pool);
- advantages: group-normalised GRPO, ``(r - mean) / std`` per prompt (ours ``estimator: grpo``, TRL's
  ``scale_rewards="group"``), no group filtering (ours ``filter_groups: false``, one sampling try), so
  every step does the same work;
- loss: token-level clipped surrogate, eps 0.2 / 0.3, dual clip 3 (TRL: ``delta=3``, the same cap on
  negative advantages), averaged over all tokens of the batch (TRL ``loss_type="dapo"``), no KL and
  no reference model (TRL ``beta=0``);
- AdamW, ``--lr`` constant, weight decay 0.01, gradient clipping 1.0; every parameter trained (the
  vision tower too), no gradient checkpointing; no checkpoints, no log files.

Each engine builds a fresh trainer, runs one untimed warm-up step, then ``--steps`` timed steps; with
``--rounds`` > 1 this repeats, alternating which engine goes first (this machine's speed drifts, and
other work on a shared machine slows whichever engine runs meanwhile: the script measures how many
cores other processes used during each run and warns). The table gives medians over the timed steps:
- rollout: prompt building (images, processor) + ``generate`` + decoding;
- reward: scoring every rollout (the reward's one-off set-up is done untimed before either engine);
- update: ours ``time/update_s`` (forward/backward, optimizer step; with one mini-batch and one epoch,
  as here, the log-probabilities before the update are the detached current ones, no extra pass);
  TRL from the end of ``_generate_and_score_completions`` to the end of the optimizer step;
- other: the rest of the step (ours: advantages; TRL: reading the dataset rows, the second processor
  call that builds the model inputs for the update, advantages, logging).
TRL's split comes from timing its ``_generate`` and ``_calculate_rewards`` in a subclass (internal
methods; if they are missing, only TRL's step total is printed); its step total is the wall time
between the ends of consecutive optimizer steps (a ``TrainerCallback``).

Work that differs by design: TRL computes per-token entropies for its logs and runs the processor on
the images a second time to build the update's inputs; both engines use the detached current
log-probabilities as the old ones when a batch gets exactly one optimizer step.

Requires ``trl`` (tested with 1.16); without it only our figures are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PHASES = ("rollout", "reward", "update", "other")


@dataclass
class EngineResult:
    name: str
    steps: list[dict[str, float]] = field(default_factory=list)  # per timed step: phase -> s, "step", "tokens"
    error: str | None = None  # why this engine did not run (printed instead of figures)
    others: list[float] = field(default_factory=list)  # CPU cores other processes used, per run of this engine
    notes: list[str] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        vals = [s[key] for s in self.steps if key in s]
        return statistics.median(vals) if vals else None


# --------------------------------------------------------------------------------------------
# Data and model (built once under --work-dir, reused)
# --------------------------------------------------------------------------------------------
def prepare(work: Path, n_records: int, seed: int) -> tuple[Path, Path]:
    """(corpus folder, model folder): an image-only synthetic corpus and the random tiny model."""
    from onethinker.synthetic.corpus import SynthConfig, synthesize
    from onethinker.models.tiny import build_tiny

    corpus, model = work / "corpus", work / "model"
    if not (corpus / "onethinker_rl_train.json").is_file():
        print(f"building an image-only synthetic corpus ({n_records} records) in {corpus} ...", flush=True)
        synthesize(SynthConfig(n=n_records, seed=seed, workers=1, video_share=0.0), corpus)
    if not (model / "config.json").is_file():
        print(f"building the tiny model in {model} ...", flush=True)
        build_tiny(model, corpus_dir=corpus, size="tiny", seed=seed)
    return corpus, model


def image_records(corpus: Path) -> list[dict]:
    """The RL-train records, in file order (as our trainer reads them); all of them must be image records."""
    from onethinker.data.records import read_records

    records = list(read_records(corpus / "onethinker_rl_train.json"))
    others = sorted({str(r.get("data_type")) for r in records} - {"image"})
    if others:
        raise SystemExit(f"{corpus}: the corpus has {', '.join(others)} records; use a fresh --work-dir")
    return records


class OtherLoad:
    """How many CPU cores other processes kept busy between ``start()`` and ``cores()``: the machine's busy
    time (/proc/stat) less this process's CPU time, over the wall time. None where /proc/stat is missing."""

    def start(self) -> "OtherLoad":
        self.t0, self.stat0, self.own0 = time.perf_counter(), self._busy(), self._own()
        return self

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:8]]
        except (OSError, ValueError):
            return None
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait, in seconds

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def cores(self) -> float | None:
        busy = self._busy()
        if busy is None or self.stat0 is None:
            return None
        wall = time.perf_counter() - self.t0
        return max(0.0, (busy - self.stat0) - (self._own() - self.own0)) / max(wall, 1e-9)


def warm_rewards(records: list[dict]) -> None:
    """Score a right and a wrong answer for every record, untimed: the reward's one-off set-up (imports,
    parsers, ROUGE) happens here, for both engines, instead of in whichever engine scores a task first."""
    from onethinker.rewards import RewardConfig, RewardScorer, score

    items = [{"response": resp, "ground_truth": r["answer"], "problem_type": r["problem_type"],
              "data_type": r["data_type"], "problem_id": str(i), "problem": ""}
             for i, r in enumerate(records) for resp in (f"<think>.</think>{r['answer']}", "noise 12 (3, 4)")]
    for it in items:
        score(it["response"], it["ground_truth"], it["problem_type"], it["data_type"])
    scorer = RewardScorer(RewardConfig(workers=0))
    scorer.score_batch(items)
    scorer.close()


def vision_token_ids(tokenizer) -> list[int]:
    """The ids our trainer keeps out of sampling (a sampled image pad would be read as a media slot)."""
    names = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")
    ids = {tokenizer.convert_tokens_to_ids(t) for t in names}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


# --------------------------------------------------------------------------------------------
# onethinker
# --------------------------------------------------------------------------------------------
def run_onethinker(args, corpus: Path, model_dir: Path, out: Path, res: EngineResult) -> None:
    from onethinker.rl.config import RLConfig
    from onethinker.rl.trainer import RLTrainer

    cfg = RLConfig()
    cfg.model.path, cfg.model.dtype, cfg.model.device = str(model_dir), "float32", "cpu"
    cfg.model.freeze_vision_tower, cfg.model.threads = False, args.threads
    cfg.data.train_files = [str(corpus / "onethinker_rl_train.json")]
    r = cfg.rollout
    r.prompts_per_step, r.n, r.temperature, r.top_p, r.top_k = args.prompts, args.n, 1.0, 1.0, 0
    r.max_new_tokens, r.generation_batch_size = args.max_new_tokens, args.prompts  # one generate() per step
    a = cfg.algorithm
    a.estimator, a.filter_groups, a.max_sampling_tries = "grpo", False, 1
    cfg.loss.clip_low, cfg.loss.clip_high, cfg.loss.dual_clip, cfg.loss.kl_coef = 0.2, 0.3, 3.0, 0.0
    o = cfg.optim
    o.lr, o.weight_decay, o.betas, o.warmup_steps, o.grad_clip = args.lr, 0.01, [0.9, 0.999], 0, 1.0
    o.mini_batch_prompts, o.micro_batch_size, o.ppo_epochs = args.prompts, args.prompts * args.n, 1
    cfg.reward.workers = 0
    cfg.run.output_dir, cfg.run.seed = str(out / "onethinker"), args.seed
    cfg.run.save_every, cfg.run.log_every, cfg.run.tensorboard = 0, 0, False

    trainer = RLTrainer(cfg)
    if not args.free_length:
        # transformers' generate() reads the model's generation config under the trainer's arguments
        trainer.model.generation_config.min_new_tokens = args.max_new_tokens
    for i in range(1 + args.steps):
        values = trainer.train_step()
        if i == 0:
            continue  # warm-up
        row = {"step": values["time/step_s"], "rollout": values["time/rollout_s"], "reward": values["time/reward_s"],
               "update": values.get("time/update_s", 0.0),
               "tokens": values["response/length_mean"] * args.prompts * args.n,
               "length": values["response/length_mean"]}
        row["other"] = row["step"] - row["rollout"] - row["reward"] - row["update"]
        res.steps.append(row)
        print(f"  onethinker step {i}: {row['step']:.2f} s", flush=True)
    trainer.scorer.close()


# --------------------------------------------------------------------------------------------
# TRL
# --------------------------------------------------------------------------------------------
def trl_dataset(records: list[dict], corpus: Path, processor):
    """Rows with the same user turn as ours (image placeholders in place) and the image, already resized,
    in the given order."""
    from datasets import Dataset

    from onethinker.data.chat import record_messages
    from onethinker.data.media import load_image

    ip = processor.image_processor
    factor = int(ip.patch_size * ip.merge_size)
    size = ip.size if isinstance(ip.size, dict) else vars(ip.size)
    lo, hi = size.get("shortest_edge"), size.get("longest_edge")
    rows = []
    for rec in records:
        messages = record_messages(rec, corpus)
        images, prompt = [], []
        for m in messages:
            content = []
            for item in m["content"]:
                if item.get("type") == "image":
                    images.append(load_image(item["image"], min_pixels=lo, max_pixels=hi, factor=factor))
                    content.append({"type": "image"})  # TRL fills it with the row's image
                else:
                    content.append({"type": "text", "text": item["text"]})
            prompt.append({"role": m["role"], "content": content})
        rows.append({"prompt": prompt, "images": images, "answer": rec["answer"],
                     "problem_type": rec["problem_type"], "data_type": rec["data_type"]})
    return Dataset.from_list(rows)


def overall_reward(completions, answer, problem_type, data_type, **_):
    """TRL reward function: onethinker's reward (``overall``) of each completion."""
    from onethinker.rewards import score

    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [score(t, gt, pt, dt).overall for t, gt, pt, dt in zip(texts, answer, problem_type, data_type)]


def run_trl(args, corpus: Path, model_dir: Path, out: Path, records: list[dict], res: EngineResult) -> None:
    try:
        import trl
        from transformers import PrinterCallback, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:
        res.error = f"TRL is not installed ({e}); pip install trl"
        return
    res.name = f"TRL {trl.__version__} GRPOTrainer"

    import torch

    from onethinker.models import load

    model, processor = load(str(model_dir), dtype="float32", device="cpu")
    tokenizer = processor.tokenizer
    # TRL left-pads the prompts it generates from and expects the processor to pad the same way (the
    # processor it loads itself gets padding_side="left"; one passed in must be set so)
    tokenizer.padding_side = "left"
    gen_kwargs: dict = {"suppress_tokens": vision_token_ids(tokenizer)}
    if not args.free_length:
        gen_kwargs["min_new_tokens"] = args.max_new_tokens
    config = GRPOConfig(
        output_dir=str(out / "trl"),
        # one step: `prompts` prompts x `n` completions, generated together, one forward/backward, one optimizer step
        per_device_train_batch_size=args.prompts * args.n,  # in completions
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_iterations=1,
        num_generations=args.n,
        max_completion_length=args.max_new_tokens,
        temperature=1.0, top_p=1.0, top_k=0,
        generation_kwargs=gen_kwargs,
        beta=0.0, loss_type="dapo", epsilon=0.2, epsilon_high=0.3, delta=3.0, scale_rewards="group",
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.01,
        adam_beta1=0.9, adam_beta2=0.999, max_grad_norm=1.0,
        max_steps=1 + args.steps,
        use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
        shuffle_dataset=False, seed=args.seed, data_seed=args.seed,
        report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0, remove_unused_columns=False, log_completions=False,
    )

    # The prompts our trainer draws, in its order: TRL reads them unshuffled, so both engines see the same
    # prompts in the same steps (prompt lengths differ a lot between tasks, and so does the step time).
    from onethinker.rl.trainer import PromptStream

    order = PromptStream(records, args.seed).take((1 + args.steps) * args.prompts)

    clock = {"rollout": 0.0, "reward": 0.0, "tokens": 0, "generated_at": None}
    split = hasattr(GRPOTrainer, "_generate") and hasattr(GRPOTrainer, "_calculate_rewards") \
        and hasattr(GRPOTrainer, "_generate_and_score_completions")

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer with stopwatches around rollout and reward (nothing else changes)."""

        def _generate(self, prompts):
            t0 = time.perf_counter()
            out = super()._generate(prompts)
            clock["rollout"] += time.perf_counter() - t0
            clock["tokens"] += sum(len(ids) for ids in out[1])  # completion ids
            return out

        def _calculate_rewards(self, *a, **kw):
            t0 = time.perf_counter()
            out = super()._calculate_rewards(*a, **kw)
            clock["reward"] += time.perf_counter() - t0
            return out

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            clock["generated_at"] = time.perf_counter()
            return out

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.last = None

        def on_train_begin(self, _args, state, control, **kw):
            self.last = time.perf_counter()

        def on_step_end(self, _args, state, control, **kw):
            now = time.perf_counter()
            row = {"step": now - self.last}
            if split:
                row["tokens"], row["length"] = clock["tokens"], clock["tokens"] / (args.prompts * args.n)
                row["rollout"], row["reward"] = clock["rollout"], clock["reward"]
                row["update"] = now - clock["generated_at"]
                row["other"] = row["step"] - row["rollout"] - row["reward"] - row["update"]
            if state.global_step > 1:  # step 1 is the warm-up
                res.steps.append(row)
                print(f"  TRL step {state.global_step - 1}: {row['step']:.2f} s", flush=True)
            clock.update(rollout=0.0, reward=0.0, tokens=0, generated_at=None)
            self.last = time.perf_counter()

    cls = TimedGRPOTrainer if split else GRPOTrainer
    if not split:
        res.notes.append("this TRL version lacks the methods timed for the split: step totals only")
    try:
        trainer = cls(model=model, processing_class=processor, reward_funcs=[overall_reward], args=config,
                      train_dataset=trl_dataset(order, corpus, processor), callbacks=[StepTimer()])
        trainer.remove_callback(PrinterCallback)  # it would print the end-of-training metrics
        torch.set_num_threads(args.threads)
        trainer.train()
    except Exception as e:  # report, do not fake
        res.error = f"TRL could not run this configuration: {type(e).__name__}: {e}"


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def report(results: list[EngineResult], args) -> None:
    rollouts = args.prompts * args.n
    print()
    print(f"per RL step: {args.prompts} prompts x {args.n} rollouts, max {args.max_new_tokens} new tokens"
          f"{'' if args.free_length else ' (forced)'}, {args.threads} torch threads; medians of {args.steps} steps x "
          f"{args.rounds} round(s) per engine, each round after 1 warm-up step")
    head = f"{'engine':<26} {'s/step':>7} {'(min-max)':>12} " + " ".join(f"{p:>7}" for p in PHASES) + \
        f" {'s/rollout':>9} {'tokens':>6} {'gen tok/s':>9} {'tok/s':>6}"
    print(head)
    print("-" * len(head))
    for r in results:
        if r.error or not r.steps:
            print(f"{r.name:<26} not run: {r.error or 'no timed steps'}")
            continue
        step = r.median("step")
        span = f"({min(x['step'] for x in r.steps):.2f}-{max(x['step'] for x in r.steps):.2f})"
        parts = " ".join(f"{r.median(p):7.3f}" if r.median(p) is not None else f"{'-':>7}" for p in PHASES)
        roll, tokens = r.median("rollout"), r.median("tokens")
        gen = f"{tokens / roll:9.0f}" if roll and tokens else f"{'-':>9}"
        length = f"{r.median('length'):6.1f}" if tokens else f"{'-':>6}"
        per_step = f"{tokens / step:6.0f}" if tokens else f"{'-':>6}"
        print(f"{r.name:<26} {step:7.2f} {span:>12} {parts} {step / rollouts:9.3f} {length} {gen} {per_step}")
    print("(phases in s/step; s/rollout = s/step / rollouts per step; tokens = response length in tokens;\n"
          " gen tok/s = generated tokens / rollout time; tok/s = generated tokens / step time)")
    for r in results:
        for note in r.notes:
            print(f"note ({r.name}): {note}")
    ours, theirs = results[0], results[1] if len(results) > 1 else None
    if theirs is None or theirs.error or not theirs.steps or not ours.steps:
        return
    ratios = [f"step {theirs.median('step') / ours.median('step'):.2f}x"]
    for p in PHASES[:3]:
        if theirs.median(p) is not None and ours.median(p):
            ratios.append(f"{p} {theirs.median(p) / ours.median(p):.2f}x")
    print("ratio TRL / onethinker (time; > 1: onethinker is faster): " + ", ".join(ratios))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per engine and round (after one warm-up step)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of both engines, alternating which goes first (this machine's speed drifts)")
    ap.add_argument("--prompts", type=int, default=4, help="prompts per step")
    ap.add_argument("--n", type=int, default=4, help="rollouts per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--free-length", action="store_true",
                    help="let rollouts stop at the stop token (default: every rollout is --max-new-tokens long)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--records", type=int, default=60, help="size of the synthetic corpus")
    ap.add_argument("--work-dir", default=None, help="corpus, model and run folders (default: a temporary folder)")
    ap.add_argument("--skip-trl", action="store_true", help="time only the native trainer")
    args = ap.parse_args(argv)
    if args.n < 2 or args.prompts < 1 or args.steps < 1 or args.rounds < 1:
        ap.error("need --n >= 2, --prompts >= 1, --steps >= 1, --rounds >= 1")

    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="rl_step_")
        work = Path(tmp.name)
    else:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        corpus, model_dir = prepare(work, args.records, args.seed)
        records = image_records(corpus)
        tasks = sorted({r["problem_type"] for r in records})
        print(f"data: {len(records)} image RL records ({', '.join(tasks)}); model: {model_dir} "
              f"({json.loads((model_dir / 'tiny_model.json').read_text())['parameters'] / 1e6:.1f}M parameters)")
        warm_rewards(records)
        ours, theirs = EngineResult("onethinker"), EngineResult("TRL GRPOTrainer")
        for k in range(args.rounds):
            engines = [("ours", ours)] + ([] if args.skip_trl else [("trl", theirs)])
            for which, res in engines if k % 2 == 0 else engines[::-1]:
                if res.error:
                    continue
                folder = work / "runs" / f"round{k}"
                watch = OtherLoad().start()
                if which == "ours":
                    print(f"round {k + 1}: onethinker (native RL trainer) ...", flush=True)
                    run_onethinker(args, corpus, model_dir, folder, ours)
                else:
                    print(f"round {k + 1}: TRL GRPOTrainer ...", flush=True)
                    run_trl(args, corpus, model_dir, folder, records, theirs)
                cores = watch.cores()
                if cores is not None:
                    res.others.append(cores)
                    print(f"  (other processes kept {cores:.2f} of {os.cpu_count()} CPU cores busy meanwhile)")
        others = ours.others + theirs.others
        if others and max(others) + args.threads > (os.cpu_count() or 1) + 0.25:
            print("warning: other processes were using the CPUs; the figures are slower than on an idle machine"
                  + (", much slower with more torch threads than free cores (try --threads 1)" if args.threads > 1
                     else ""))
        if others and max(others) - min(others) > 0.25:
            print("warning: the engines did not run under the same load (see above); run again, or with --rounds")
        report([ours] + ([] if args.skip_trl else [theirs]), args)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
