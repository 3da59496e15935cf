"""RL step time: the native trainer (``onethinker.rl``), old path and new, against TRL's ``GRPOTrainer``.

    python benchmarks/rl_step.py [--shape bench|demo] [--steps 5] [--rounds 1] [--prompts P] [--n N]
                                 [--max-new-tokens T] [--free-length] [--threads 2] [--lr 5e-5] [--seed 0]
                                 [--engines old,new,trl] [--work-dir DIR]

Three engines, each in its own process (so each has its own peak memory), on the same model and data:
- ``old``: our trainer's former path, ``rollout.sampler: generate`` (transformers ``generate``, every
  prompt prefilled ``n`` times, finished rows kept until the longest stops) and ``optim.shared_prompt:
  false`` (every rollout carries its prompt through the update);
- ``new``: the defaults, ``rollout.sampler: fast`` (each prompt prefilled once, finished rows leave the
  batch; ``onethinker.models.sampling``) and ``optim.shared_prompt: true`` (each group's prompt runs once
  in the update; ``onethinker.rl.shared_prompt``);
- ``trl``: TRL's ``GRPOTrainer``, configured like ours (below).

Shapes (``--shape``; ``--prompts``, ``--n``, ``--max-new-tokens`` and ``--free-length`` override them):
- ``bench`` (default): the tiny Qwen3-VL with random weights (``onethinker.models.build_tiny``) on the image
  records of a small synthetic corpus (``onethinker.synthetic.corpus``, no videos); 4 prompts x 4 rollouts
  of exactly 64 tokens (``min_new_tokens`` = ``--max-new-tokens``: a random model's answers are noise, and
  their length would otherwise decide the timing); one forward/backward over the whole batch;
- ``demo``: the demo's RL step (configs/demo-rl.yaml) on the shipped demo base (``onethinker/assets/demo-base``,
  the perception-pretrained tiny Qwen3-VL, so response lengths are realistic: answers end on their own) and
  the demo's RL prompts (a small corpus made with the demo's plan, ``onethinker.recipes.stages.DemoCorpus``:
  the RL keys' image and video questions); 16 prompts x 8 rollouts, up to 128 new tokens, free length,
  micro-batches of 32 rollouts. TRL does not run here: its ``GRPOTrainer`` (1.16) gives the model image inputs
  only (no video column, no ``pixel_values_videos`` / ``video_grid_thw`` in its update's forward), so it cannot
  train the video prompts; the output says so, and ``--shape bench`` compares it.

One RL step = ``--prompts`` prompts x ``--n`` rollouts at temperature 1.0, rewards, one policy update over all
of them (one optimizer step). Configured alike on all sides:
- the same weights (loaded from the same folder; ours with ``onethinker.models.load``'s defaults, which run the
  vision patch embedding as the matrix product it is, TRL's with transformers' modules as they are), chat prompts (``onethinker.data.chat``: question,
  reasoning instruction and the task's answer form, image in place) and images (resized as
  ``onethinker.models.build_inputs`` does, so the processor leaves them as they are): the same token
  ids and pixels; the same prompts in every step (TRL reads them, unshuffled, in our trainer's order);
- generation: ``--max-new-tokens``, top-p 1, no top-k, vision tokens never sampled; forced length (bench):
  generate (old path, TRL) gets ``min_new_tokens``, the fast sampler, which has no minimum length, gets no
  stop token (the same length; the script checks that every rollout of every engine had the full length);
- reward: onethinker's ``overall`` (``onethinker.rewards``; in-process, no worker pool);
- advantages: group-normalised GRPO, ``(r - mean) / std`` per prompt (ours ``estimator: grpo``, TRL's
  ``scale_rewards="group"``), no group filtering (ours ``filter_groups: false``, one sampling try), so
  every step does the same work;
- loss: token-level clipped surrogate, eps 0.2 / 0.3, dual clip 3 (TRL: ``delta=3``, the same cap on
  negative advantages), averaged over all tokens of the batch (TRL ``loss_type="dapo"``), no KL and
  no reference model (TRL ``beta=0``);
- AdamW, ``--lr`` constant, weight decay 0.01, gradient clipping 1.0; every parameter trained (the
  vision tower too), no gradient checkpointing; no checkpoints, no log files.

Each engine's process builds a fresh trainer, does the reward's one-off set-up untimed, runs one untimed
warm-up step, then ``--steps`` timed steps; with ``--rounds`` > 1 this repeats, alternating the order of the
engines (this machine's speed drifts, and other work on a shared machine slows whichever engine runs
meanwhile: the script measures how many cores other processes used during each run and warns). The table
gives medians over the timed steps:
- rollout: prompt building (images, videos, processor) + sampling + decoding;
- reward: scoring every rollout;
- update: ours ``time/update_s`` (forward/backward, optimizer step; with one mini-batch and one epoch,
  as here, the log-probabilities before the update are the detached current ones, no extra pass);
  TRL from the end of ``_generate_and_score_completions`` to the end of the optimizer step;
- other: the rest of the step (ours: advantages; TRL: reading the dataset rows, the second processor
  call that builds the model inputs for the update, advantages, logging);
- tokens: mean response length; gen tok/s: generated tokens / rollout time; tok/s: generated tokens / step time;
- peak MB: the largest resident memory of the engine's process (``ru_maxrss``: model, optimizer state,
  imports included); setup MB: its resident memory when the first step starts (the peak's part that is
  not the steps').
Then the ratios new / old and new / TRL (times and memory: < 1 means the new path is faster or smaller).
TRL's split comes from timing its ``_generate`` and ``_calculate_rewards`` in a subclass (internal
methods; if they are missing, only TRL's step total is printed); its step total is the wall time
between the ends of consecutive optimizer steps (a ``TrainerCallback``).

Work that differs by design: TRL computes per-token entropies for its logs and runs the processor on
the images a second time to build the update's inputs; all engines use the detached current
log-probabilities as the old ones when a batch gets exactly one optimizer step.

Requires ``trl`` (tested with 1.16; ``pip install -e ".[bench]"``); without it TRL's row says so.
"""

from __future__ import annotations

import argparse
import json
import contextlib
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

PHASES = ("rollout", "reward", "update", "other")
ENGINES = ("old", "new", "trl")
LABELS = {"old": "onethinker old", "new": "onethinker new", "trl": "TRL GRPOTrainer"}
#: rollout.sampler and optim.shared_prompt of our two paths
PATHS = {"old": ("generate", False), "new": ("fast", True)}
#: the defaults of each shape (flags given on the command line win)
SHAPES = {
    "bench": {"prompts": 4, "n": 4, "max_new_tokens": 64, "free_length": False, "records": 60, "micro_batch": 0},
    "demo": {"prompts": 16, "n": 8, "max_new_tokens": 128, "free_length": True, "records": 96, "micro_batch": 32},
}
MARK = "RL_STEP_RESULT "  # the line a child prints its result on


@dataclass
class EngineResult:
    name: str
    steps: list[dict[str, float]] = field(default_factory=list)  # per timed step: phase -> s, "step", "tokens"
    error: str | None = None  # why this engine did not run (printed instead of figures)
    others: list[float] = field(default_factory=list)  # CPU cores other processes used, per run of this engine
    notes: list[str] = field(default_factory=list)
    peak_mb: float | None = None  # largest resident memory of the engine's process (over its runs)
    setup_mb: float | None = None  # resident memory when its first step started

    def median(self, key: str) -> float | None:
        vals = [s[key] for s in self.steps if key in s]
        return statistics.median(vals) if vals else None

    def merge(self, other: "EngineResult") -> None:
        self.name = other.name
        self.steps += other.steps
        self.error = self.error or other.error
        self.notes += [n for n in other.notes if n not in self.notes]
        for key in ("peak_mb", "setup_mb"):
            vals = [v for v in (getattr(self, key), getattr(other, key)) if v is not None]
            setattr(self, key, max(vals) if vals else None)


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def _peak_mb() -> float:
    """This process's largest resident memory so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------------------------
# Data and model (built once under --work-dir, reused)
# --------------------------------------------------------------------------------------------
def demo_corpus(work: Path, rl: int, seed: int, *, sft: int = 8, folder: str = "demo-corpus") -> Path:
    """A corpus made with the demo's plan (its RL keys, images and videos) with ``rl`` RL prompts, built once
    under ``work`` (the benchmarks share it: this one, rl_update.py, sampler.py)."""
    from dataclasses import replace

    from onethinker.recipes.stages import DemoCorpus
    from onethinker.synthetic.corpus import synthesize

    corpus = work / folder
    if not (corpus / "onethinker_rl_train.json").is_file():
        print(f"building a demo-like corpus ({rl} RL prompts, images and videos) in {corpus} ...", flush=True)
        synthesize(replace(DemoCorpus(), sft=sft, rl=rl, heldout=8).synth_config(seed, workers=1), corpus)
    return corpus


def demo_model(work: Path, corpus: Path, seed: int, model: str | None = None) -> Path:
    """``model``, else the shipped demo base, else a random tiny model built on ``corpus`` once under ``work``."""
    from onethinker.models.tiny import build_tiny
    from onethinker.recipes.stages import shipped_base

    if model:
        return Path(model)
    if shipped_base() is not None:
        return shipped_base()
    out = work / "model"
    if not (out / "config.json").is_file():
        print(f"building the tiny model in {out} ...", flush=True)
        build_tiny(out, corpus_dir=corpus, size="tiny", seed=seed)
    return out


def busy_warning(cores: list[float | None], threads: int) -> str | None:
    """A warning when other processes used the CPUs during the timed runs (``OtherLoad.cores()`` of each)."""
    seen = [c for c in cores if c is not None]
    if not seen or max(seen) + threads <= (os.cpu_count() or 1) + 0.25:
        return None
    return (f"warning: other processes kept up to {max(seen):.2f} of {os.cpu_count()} CPU cores busy: the figures are "
            "slower than on an idle machine" + (", and erratic with more torch threads than free cores (try --threads 1)"
                                                if threads > 1 else ""))


def prepare(work: Path, n_records: int, seed: int, shape: str = "bench") -> tuple[Path, Path]:
    """(corpus folder, model folder). bench: an image-only synthetic corpus and the random tiny model;
    demo: a corpus made with the demo's plan (images and videos) and the shipped demo base."""
    from onethinker.synthetic.corpus import SynthConfig, synthesize

    if shape == "demo":
        from onethinker.recipes.stages import shipped_base

        corpus = demo_corpus(work, n_records, seed)
        base = shipped_base()
        if base is None:
            raise SystemExit("the shipped demo base (onethinker/assets/demo-base) is missing: --shape demo needs it")
        return corpus, base

    from onethinker.models.tiny import build_tiny

    corpus, model = work / "corpus", work / "model"
    if not (corpus / "onethinker_rl_train.json").is_file():
        print(f"building an image-only synthetic corpus ({n_records} records) in {corpus} ...", flush=True)
        synthesize(SynthConfig(n=n_records, seed=seed, workers=1, video_share=0.0), corpus)
    if not (model / "config.json").is_file():
        print(f"building the tiny model in {model} ...", flush=True)
        build_tiny(model, corpus_dir=corpus, size="tiny", seed=seed)
    return corpus, model


def shape_tasks(shape: str) -> list[str]:
    """The task keys the shape trains (``data.tasks``; empty: all): the demo's RL keys for the demo."""
    if shape == "demo":
        from onethinker.recipes.stages import DEMO_RL_TASKS

        return list(DEMO_RL_TASKS)
    return []


def rl_records(corpus: Path, shape: str) -> list[dict]:
    """The RL-train records our trainer uses (``load_rl_records``: the shape's task keys), in its order. For
    the bench shape all of them must be image records."""
    from onethinker.rl.config import RLConfig
    from onethinker.rl.data import load_rl_records

    data = RLConfig().data
    data.train_files, data.tasks = [str(corpus / "onethinker_rl_train.json")], shape_tasks(shape)
    records = load_rl_records(data).records
    others = sorted({str(r.get("data_type")) for r in records} - {"image"})
    if shape == "bench" and others:
        raise SystemExit(f"{corpus}: the corpus has {', '.join(others)} records; use a fresh --work-dir")
    return records


def image_records(corpus: Path) -> list[dict]:
    """The bench shape's RL-train records, in file order (as our trainer reads them); all image records."""
    return rl_records(corpus, "bench")


class OtherLoad:
    """How many CPU cores other processes kept busy between ``start()`` and ``cores()``: the machine's busy
    time (/proc/stat) less this process's CPU time (its finished children's included), over the wall time.
    None where /proc/stat is missing."""

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
    parsers, ROUGE) happens here, in every engine's process, instead of in whichever step scores a task first."""
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


def check_length(args, res: EngineResult) -> None:
    """Forced length: every rollout of every step must have had exactly ``--max-new-tokens`` tokens."""
    if args.free_length:
        return
    short = [s["length"] for s in res.steps if "length" in s and abs(s["length"] - args.max_new_tokens) > 1e-6]
    if short:
        res.notes.append(f"forced length not kept: mean response lengths {short} (want {args.max_new_tokens})")


# --------------------------------------------------------------------------------------------
# onethinker (old path: sampler generate, per-rollout update; new path: fast sampler, shared prompt)
# --------------------------------------------------------------------------------------------
def run_onethinker(args, corpus: Path, model_dir: Path, out: Path, res: EngineResult, path: str = "new") -> None:
    from onethinker.rl.config import RLConfig
    from onethinker.rl.trainer import RLTrainer

    sampler, shared = PATHS[path]
    res.name = f"{LABELS[path]} ({sampler}, {'shared' if shared else 'per-rollout'})"
    cfg = RLConfig()
    cfg.model.path, cfg.model.dtype, cfg.model.device = str(model_dir), "float32", "cpu"
    cfg.model.freeze_vision_tower, cfg.model.threads = False, args.threads
    cfg.data.train_files = [str(corpus / "onethinker_rl_train.json")]
    cfg.data.tasks = shape_tasks(args.shape)
    r = cfg.rollout
    r.prompts_per_step, r.n, r.temperature, r.top_p, r.top_k = args.prompts, args.n, 1.0, 1.0, 0
    r.max_new_tokens, r.generation_batch_size = args.max_new_tokens, args.prompts  # one sampling call per step
    r.sampler = sampler
    a = cfg.algorithm
    a.estimator, a.filter_groups, a.max_sampling_tries = "grpo", False, 1
    cfg.loss.clip_low, cfg.loss.clip_high, cfg.loss.dual_clip, cfg.loss.kl_coef = 0.2, 0.3, 3.0, 0.0
    o = cfg.optim
    o.lr, o.weight_decay, o.betas, o.warmup_steps, o.grad_clip = args.lr, 0.01, [0.9, 0.999], 0, 1.0
    o.mini_batch_prompts, o.ppo_epochs = args.prompts, 1
    o.micro_batch_size = args.micro_batch or args.prompts * args.n  # 0: the whole batch in one pass
    o.shared_prompt = shared
    cfg.reward.workers = 0
    cfg.run.output_dir, cfg.run.seed = str(out / f"onethinker-{path}"), args.seed
    cfg.run.save_every, cfg.run.log_every, cfg.run.tensorboard = 0, 0, False

    warm_rewards(rl_records(corpus, args.shape))
    trainer = RLTrainer(cfg)
    if trainer.engine.sampler != sampler or trainer.cfg.optim.shared_prompt != shared:
        raise RuntimeError(f"the trainer did not take sampler={sampler}, shared_prompt={shared}")
    if not args.free_length:
        # generate (the old path) reads the model's generation config under the trainer's arguments, so
        # min_new_tokens keeps the stop tokens out until the last token; the fast sampler has no minimum length,
        # so it gets no stop token (rows never finish): the same length. engine.cut() then cuts nothing either.
        trainer.model.generation_config.min_new_tokens = args.max_new_tokens
        if sampler == "fast":
            trainer.engine.stop_ids = []
    res.setup_mb = _rss_mb()
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
        print(f"  {path} step {i}: {row['step']:.2f} s (mean response {row['length']:.1f} tokens)", flush=True)
    trainer.scorer.close()
    check_length(args, res)


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
                elif item.get("type") == "text":
                    content.append({"type": "text", "text": item["text"]})
                else:
                    raise ValueError(f"TRL rows take images and text only, not {item.get('type')!r}")
            prompt.append({"role": m["role"], "content": content})
        rows.append({"prompt": prompt, "images": images, "answer": rec["answer"],
                     "problem_type": rec["problem_type"], "data_type": rec["data_type"]})
    return Dataset.from_list(rows)


def overall_reward(completions, answer, problem_type, data_type, **_):
    """TRL reward function: onethinker's reward (``overall``) of each completion."""
    from onethinker.rewards import score

    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [score(t, gt, pt, dt).overall for t, gt, pt, dt in zip(texts, answer, problem_type, data_type)]


def trl_video_gap(records: list[dict]) -> str | None:
    """Why TRL cannot train these records (video prompts its update has no inputs for), or None."""
    import inspect

    from trl import GRPOTrainer

    videos = sum(1 for r in records if r.get("data_type") == "video")
    if not videos:
        return None
    fn = getattr(GRPOTrainer, "_get_per_token_logps_and_entropies", None)
    params = inspect.signature(fn).parameters if fn is not None else {}
    if "pixel_values_videos" in params:
        return None
    return (f"the data has {videos} video prompts, and TRL's GRPOTrainer gives the model image inputs only (no "
            "video column; its update's forward takes no pixel_values_videos / video_grid_thw): TRL runs in "
            "--shape bench only")


def run_trl(args, corpus: Path, model_dir: Path, out: Path, records: list[dict], res: EngineResult) -> None:
    try:
        import trl
        from transformers import PrinterCallback, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:
        res.error = f"TRL is not installed ({e}); pip install -e \".[bench]\""
        return
    res.name = f"TRL {trl.__version__} GRPOTrainer"
    gap = trl_video_gap(records)
    if gap:
        res.error = gap
        return
    warm_rewards(records)

    import torch

    from onethinker.models import load

    # transformers' modules as they are, as TRL's users load them (onethinker's load runs the vision patch
    # embedding as a matrix product: its own engines' choice, not TRL's)
    model, processor = load(str(model_dir), dtype="float32", device="cpu", fast_modules=False)
    tokenizer = processor.tokenizer
    # TRL left-pads the prompts it generates from and expects the processor to pad the same way (the
    # processor it loads itself gets padding_side="left"; one passed in must be set so)
    tokenizer.padding_side = "left"
    gen_kwargs: dict = {"suppress_tokens": vision_token_ids(tokenizer)}
    if not args.free_length:
        gen_kwargs["min_new_tokens"] = args.max_new_tokens
    rollouts = args.prompts * args.n
    micro = args.micro_batch or rollouts
    if rollouts % micro:
        res.error = f"--micro-batch {micro} does not divide {rollouts} rollouts"
        return
    config = GRPOConfig(
        output_dir=str(out / "trl"),
        # one step: `prompts` prompts x `n` completions, generated together, one optimizer step; one
        # forward/backward per micro-batch of completions (gradient accumulation over the rest)
        per_device_train_batch_size=micro,  # in completions
        gradient_accumulation_steps=rollouts // micro,
        steps_per_generation=rollouts // micro,
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

    # The prompts our trainer draws, in its order: TRL reads them unshuffled, so all engines see the same
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
            res.setup_mb = _rss_mb()
            self.last = time.perf_counter()

        def on_step_end(self, _args, state, control, **kw):
            now = time.perf_counter()
            row = {"step": now - self.last}
            if split:
                row["tokens"], row["length"] = clock["tokens"], clock["tokens"] / rollouts
                row["rollout"], row["reward"] = clock["rollout"], clock["reward"]
                row["update"] = now - clock["generated_at"]
                row["other"] = row["step"] - row["rollout"] - row["reward"] - row["update"]
            if state.global_step > 1:  # step 1 is the warm-up
                res.steps.append(row)
                print(f"  trl step {state.global_step - 1}: {row['step']:.2f} s", flush=True)
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
        return
    check_length(args, res)


# --------------------------------------------------------------------------------------------
# One engine in its own process
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def work_folder(path: str | None, prefix: str):
    """The benchmark's working folder: ``path`` (created if missing and kept), else a temporary folder that is
    removed afterwards (the benchmarks share it: this one, rl_update.py, sampler.py, heldout_eval.py)."""
    if path is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)
    else:
        work = Path(path)
        work.mkdir(parents=True, exist_ok=True)
        yield work


def quiet() -> None:
    """No hub access, no tokenizer threads, and no transformers logs, progress bars or warnings in the figures."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def child(args) -> None:
    """Run one engine (``--child``) and print its result as one JSON line after MARK."""
    import torch

    torch.set_num_threads(args.threads)
    quiet()
    corpus, model_dir, out = Path(args.corpus), Path(args.model), Path(args.out)
    records = rl_records(corpus, args.shape)
    res = EngineResult(LABELS[args.child])
    try:
        if args.child == "trl":
            run_trl(args, corpus, model_dir, out, records, res)
        else:
            run_onethinker(args, corpus, model_dir, out, res, path=args.child)
    except Exception as e:  # report, do not fake
        res.error = f"{type(e).__name__}: {e}"
    res.peak_mb = _peak_mb()
    print(MARK + json.dumps(asdict(res)), flush=True)


def run_child(args, engine: str, corpus: Path, model_dir: Path, out: Path) -> EngineResult:
    """Run ``engine`` in a fresh process; its progress lines pass through, its result comes back."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--corpus", str(corpus),
           "--model", str(model_dir), "--out", str(out), "--shape", args.shape, "--steps", str(args.steps),
           "--prompts", str(args.prompts), "--n", str(args.n), "--max-new-tokens", str(args.max_new_tokens),
           "--micro-batch", str(args.micro_batch), "--lr", str(args.lr), "--threads", str(args.threads),
           "--seed", str(args.seed)] + (["--free-length"] if args.free_length else [])
    result = None
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(MARK):
                result = EngineResult(**json.loads(line[len(MARK):]))
            else:
                print(line, end="", flush=True)
        rc = proc.wait()
        if result is None:
            err.seek(0)
            tail = err.read().strip().splitlines()[-5:]
            result = EngineResult(LABELS[engine], error=f"its process ended ({rc}) without a result: "
                                                        + " | ".join(tail))
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def _ratio_line(a: EngineResult, b: EngineResult) -> str | None:
    """Times, tok/s and peak memory of ``a`` over ``b`` (one string), or None if either has no figures."""
    if a.error or b.error or not a.steps or not b.steps:
        return None
    parts = []
    for key in ("step",) + PHASES[:3]:
        if a.median(key) is not None and b.median(key):
            r = a.median(key) / b.median(key)
            parts.append(f"{key} {r:.2f}" + (f" ({1 / r:.1f}x faster)" if key == "step" and r > 0 else ""))
    ta, tb = a.median("tokens"), b.median("tokens")
    if ta and tb:
        parts.append(f"tok/s {(ta / a.median('step')) / (tb / b.median('step')):.2f}")
    if a.peak_mb and b.peak_mb:
        parts.append(f"peak memory {a.peak_mb / b.peak_mb:.2f}")
    return ", ".join(parts)


def report(results: dict[str, EngineResult], args) -> None:
    rollouts = args.prompts * args.n
    print()
    micro = args.micro_batch or rollouts
    print(f"shape {args.shape}, per RL step: {args.prompts} prompts x {args.n} rollouts, max {args.max_new_tokens} "
          f"new tokens{' (free length)' if args.free_length else ' (forced length)'}, micro-batches of {micro} "
          f"rollouts, {args.threads} torch thread(s); medians of {args.steps} steps x {args.rounds} round(s) per "
          f"engine, each run after 1 warm-up step, each engine in its own process")
    head = f"{'engine':<40} {'s/step':>7} {'(min-max)':>13} " + " ".join(f"{p:>7}" for p in PHASES) + \
        f" {'s/rollout':>9} {'tokens':>6} {'gen tok/s':>9} {'tok/s':>6} {'peak MB':>7} {'setup MB':>8}"
    print(head)
    print("-" * len(head))
    for r in results.values():
        if r.error or not r.steps:
            print(f"{r.name:<40} not run: {r.error or 'no timed steps'}")
            continue
        step = r.median("step")
        span = f"({min(x['step'] for x in r.steps):.2f}-{max(x['step'] for x in r.steps):.2f})"
        parts = " ".join(f"{r.median(p):7.3f}" if r.median(p) is not None else f"{'-':>7}" for p in PHASES)
        roll, tokens = r.median("rollout"), r.median("tokens")
        gen = f"{tokens / roll:9.0f}" if roll and tokens else f"{'-':>9}"
        length = f"{r.median('length'):6.1f}" if tokens else f"{'-':>6}"
        per_step = f"{tokens / step:6.0f}" if tokens else f"{'-':>6}"
        peak = f"{r.peak_mb:7.0f}" if r.peak_mb else f"{'-':>7}"
        setup = f"{r.setup_mb:8.0f}" if r.setup_mb else f"{'-':>8}"
        print(f"{r.name:<40} {step:7.2f} {span:>13} {parts} {step / rollouts:9.3f} {length} {gen} {per_step} "
              f"{peak} {setup}")
    print("(phases in s/step; s/rollout = s/step / rollouts per step; tokens = mean response length in tokens;\n"
          " gen tok/s = generated tokens / rollout time; tok/s = generated tokens / step time;\n"
          " peak MB = the engine process's largest resident memory; setup MB = its resident memory at the first step)")
    for r in results.values():
        for note in r.notes:
            print(f"note ({r.name}): {note}")
    new = results.get("new")
    for key, what in (("old", "old"), ("trl", "TRL")):
        other = results.get(key)
        line = _ratio_line(new, other) if new is not None and other is not None else None
        if line:
            print(f"ratio new / {what} (time and memory: < 1: the new path is faster / smaller): {line}")


def prompt_mix(records: list[dict], args) -> str:
    """Image and video prompts of every step the engines run (the warm-up first): the same in every run."""
    from onethinker.rl.trainer import PromptStream

    order = PromptStream(records, args.seed).take((1 + args.steps) * args.prompts)
    steps = []
    for k in range(1 + args.steps):
        chunk = order[k * args.prompts: (k + 1) * args.prompts]
        videos = sum(1 for r in chunk if r.get("data_type") == "video")
        steps.append(f"{len(chunk) - videos}+{videos}")
    return "image+video prompts per step (warm-up first): " + ", ".join(steps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="bench",
                    help="bench: random tiny model, image prompts, 4 x 4 rollouts of exactly 64 tokens; demo: the "
                         "shipped demo base, the demo's image and video prompts, 16 x 8 rollouts, free length up to "
                         "128")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per engine and round (after one warm-up step)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of all engines, alternating their order (this machine's speed drifts)")
    ap.add_argument("--prompts", type=int, default=None, help="prompts per step (default: the shape's)")
    ap.add_argument("--n", type=int, default=None, help="rollouts per prompt (default: the shape's)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default: the shape's")
    ap.add_argument("--free-length", action="store_true",
                    help="let rollouts stop at the stop token (bench default: every rollout is --max-new-tokens long;"
                         " the demo shape is always free length)")
    ap.add_argument("--micro-batch", type=int, default=None,
                    help="rollouts per forward/backward of the update (0: all of them; default: the shape's)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--records", type=int, default=None,
                    help="RL prompts in the synthetic corpus (default: the shape's)")
    ap.add_argument("--work-dir", default=None, help="corpus, model and run folders (default: a temporary folder)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="which engines to run, of old,new,trl")
    ap.add_argument("--skip-trl", action="store_true", help="time only the native trainer (old and new path)")
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for key, value in SHAPES[args.shape].items():
        if key == "free_length":
            args.free_length = args.free_length or value
        elif getattr(args, key) is None:
            setattr(args, key, value)
    if args.n < 2 or args.prompts < 1 or args.steps < 1 or args.rounds < 1 or args.micro_batch < 0:
        ap.error("need --n >= 2, --prompts >= 1, --steps >= 1, --rounds >= 1, --micro-batch >= 0")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ENGINES for e in engines):
        ap.error(f"--engines: a comma-separated list of {', '.join(ENGINES)}")
    if args.skip_trl:
        engines = [e for e in engines if e != "trl"]
    if args.child:
        child(args)
        return 0

    quiet()
    with work_folder(args.work_dir, "rl_step_") as work:
        corpus, model_dir = prepare(work, args.records, args.seed, args.shape)
        records = rl_records(corpus, args.shape)
        tasks = sorted({r["problem_type"] for r in records})
        kinds = {k: sum(1 for r in records if r.get("data_type") == k) for k in ("image", "video")}
        info = model_dir / "tiny_model.json"
        size = (f"{json.loads(info.read_text())['parameters'] / 1e6:.1f}M parameters" if info.is_file() else
                "the shipped demo base")
        print(f"data: {len(records)} RL records ({kinds['image']} image, {kinds['video']} video; {', '.join(tasks)}); "
              f"model: {model_dir} ({size})")
        print(prompt_mix(records, args))
        print(f"machine: {os.cpu_count()} CPU cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(1, 5, 15 min) before the runs")
        results = {e: EngineResult(LABELS[e]) for e in engines}
        for k in range(args.rounds):
            for which in engines if k % 2 == 0 else engines[::-1]:
                res = results[which]
                if res.error:
                    continue
                print(f"round {k + 1}: {LABELS[which]} ...", flush=True)
                watch = OtherLoad().start()
                got = run_child(args, which, corpus, model_dir, work / "runs" / f"round{k}")
                cores = watch.cores()
                res.merge(got)
                if cores is not None and not got.error:
                    res.others.append(cores)
                    print(f"  (other processes kept {cores:.2f} of {os.cpu_count()} CPU cores busy meanwhile)")
        others = [c for r in results.values() for c in r.others]
        if busy_warning(others, args.threads):
            print(busy_warning(others, args.threads))
        if others and max(others) - min(others) > 0.25:
            print("warning: the engines did not run under the same load (see above); run again, or with --rounds")
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
