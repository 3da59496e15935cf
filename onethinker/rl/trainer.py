"""The native single-machine RL trainer: rollouts -> rewards -> online filtering -> advantages ->
clipped policy updates, with checkpoints that resume to the same weights and EMA state.

One step:
1. draw ``prompts_per_step`` RL-train prompts (a seeded permutation per epoch; the position is part of
   the checkpoint) and sample ``n`` responses each at temperature 1.0 (transformers ``generate``);
2. score every rollout with ``onethinker.rewards`` (batch scorer);
3. drop groups without signal (mean accuracy <= 0.01 or >= 0.99) and draw more prompts until the step
   is full, up to ``max_sampling_tries`` draws;
4. advantages with the configured estimator (``onethinker.rl.advantages``; EMA-GRPO by default);
5. log-probabilities of the sampled tokens under the policy before the update (``old``), then
   ``ppo_epochs`` passes of mini-batch updates with the token-mean clipped surrogate
   (``onethinker.rl.loss``), gradient clipping and AdamW with warm-up.
Every step appends a JSON line to ``OUTPUT/log.jsonl`` (and TensorBoard when installed). The records are
checked before the model is loaded (``onethinker.rl.data``); ``OUTPUT/data.json`` counts those read, used
and skipped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..checkpoints import RL_LAYOUT, trim_log
from ..checkpoints import resolve_resume as resolve_checkpoint
from ..config import save_config
from ..data.chat import record_messages
from ..models.freezing import freeze_vision
from ..models.sampling import SamplingEngine
from ..reward import RewardScorer
from ..schedules import warmup_cosine
from ..tasks import task_key
from ..tasks.means import task_means
from .advantages import EMAStats, compute_advantages
from .config import RLConfig
from .data import load_rl_records
from .filtering import keep_groups
from .loss import policy_loss
from .shared_prompt import micro_batches, pad_responses, shared_logprobs, token_logprobs

log = logging.getLogger(__name__)
_PAD_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


# ---------------------------------------------------------------------------------------------
# prompts and batches
# ---------------------------------------------------------------------------------------------
@dataclass
class Prompt:
    record: dict
    messages: list[dict]
    task: str  # task key (EMA statistics and logs are per task key)
    features: dict[str, torch.Tensor] | None = None  # processor output for this prompt alone


@dataclass
class Rollout:
    prompt: Prompt
    group: str
    response: list[int]  # sampled token ids, up to and including the stop token
    text: str
    reward: Any = None
    advantage: float = 0.0
    old_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None


def lr_factor(optim: Any, max_steps: int, step: int) -> float:
    """The learning rate's multiplier for RL step ``step`` (0-based): a linear warm-up over
    ``optim.warmup_steps``, then constant, or a cosine from 1 to ``optim.min_lr_ratio`` at ``max_steps``."""
    if optim.lr_schedule == "cosine":
        return warmup_cosine(step, optim.warmup_steps, max_steps, optim.min_lr_ratio)
    return min(1.0, (step + 1) / optim.warmup_steps) if optim.warmup_steps else 1.0


def collate_prompts(features: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad the token rows of single-prompt features and concatenate their media tensors."""
    length = max(f["input_ids"].shape[1] for f in features)
    out: dict[str, Any] = {}
    for key in _PAD_KEYS:
        if key not in features[0]:
            continue
        fill = pad_id if key == "input_ids" else 0
        rows = []
        for f in features:
            row = f[key]
            pad = length - row.shape[1]
            rows.append(torch.cat([torch.full((1, pad), fill, dtype=row.dtype), row], dim=1) if pad else row)
        out[key] = torch.cat(rows, dim=0)
    for key in features[0]:
        if key in _PAD_KEYS:
            continue
        parts = [f[key] for f in features if key in f]
        if isinstance(parts[0], torch.Tensor):
            out[key] = torch.cat(parts, dim=0)
        else:
            out[key] = [x for p in parts for x in p]
    # media of prompts that lack a kind some other prompt has are simply absent from the concatenation
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        present = [f for f in features if key in f]
        if present and len(present) != len(features):
            out[key] = torch.cat([f[key] for f in present], dim=0)
    return out


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class PromptStream:
    """Prompts in a seeded order, epoch after epoch; ``state`` is (epoch, position)."""

    def __init__(self, records: list[dict], seed: int) -> None:
        if not records:
            raise ValueError("no RL-train records to sample prompts from")
        self.records, self.seed = records, seed
        self.epoch, self.pos = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> list[int]:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.records)).tolist()

    def take(self, k: int) -> list[dict]:
        out = []
        while len(out) < k:
            if self.pos >= len(self._order):
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._permutation()
            out.append(self.records[self._order[self.pos]])
            self.pos += 1
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._permutation()


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
@dataclass
class StepLog:
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: Any) -> None:
        self.values[key] = float(value) if isinstance(value, (int, float, np.floating, np.integer)) else value


class RLTrainer:
    def __init__(self, cfg: RLConfig, *, resume: str | bool | None = None,
                 progress: Callable[[int, int, dict], None] | None = None) -> None:
        cfg = cfg.resolved()
        self.cfg = cfg
        self.out = Path(cfg.run.output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        if cfg.model.threads:
            torch.set_num_threads(cfg.model.threads)
        ckpt = self._find_checkpoint(resume) if resume else None
        self.records = self._load_records()  # checked before anything heavy is loaded
        self._load_model(str(ckpt) if ckpt else cfg.model.path)
        # "fast" | "generate" (onethinker.models.sampling); "stream" samples with the fast sampler's engine
        self.engine.sampler = "fast" if cfg.rollout.sampler == "stream" else cfg.rollout.sampler
        self.stream = PromptStream(self.records, cfg.run.seed)
        self.stats = EMAStats(decay=cfg.algorithm.ema_decay, min_std=cfg.algorithm.min_std,
                              guard=cfg.algorithm.guard, eps=cfg.algorithm.eps)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                                           betas=tuple(cfg.optim.betas))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, partial(lr_factor, cfg.optim, cfg.run.max_steps))
        self.step = 0
        self.scorer = RewardScorer(cfg.reward)
        self.ref_model = None
        if cfg.loss.kl_coef > 0:
            from ..models import load

            self.ref_model, _ = load(cfg.model.path, dtype=cfg.model.dtype, device=cfg.model.device)
            self.ref_model.requires_grad_(False).eval()
        if ckpt:
            self._restore(ckpt)
        # the log agrees with where this run starts: a fresh run starts a new log, a resumed one drops the steps
        # after its checkpoint (they run again and are logged again)
        trim_log(self.out / "log.jsonl", self.step)
        save_config(cfg, self.out / "config.yaml")
        (self.out / "data.json").write_text(json.dumps(self.data_report, indent=1, default=str) + "\n", encoding="utf-8")
        self._tb = None
        if cfg.run.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            except ImportError:  # optional
                self._tb = None

    # -- set-up ---------------------------------------------------------------------------------
    def _load_model(self, path: str) -> None:
        from ..models import load

        self.model, self.processor = load(path, dtype=self.cfg.model.dtype, device=self.cfg.model.device)
        freeze_vision(self.model, vision_tower=self.cfg.model.freeze_vision_tower,
                      projector=self.cfg.model.freeze_projector, strict=False, unfreeze=False)
        if self.cfg.model.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.eval()  # no dropout: old and new log-probabilities come from the same function
        tok = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer = tok
        # the sampling engine owns the stop and pad tokens; vision placeholders are never sampled and are
        # removed, identically, from the log-probabilities of the update
        self.engine = SamplingEngine.for_model(self.model, self.processor, from_generation_config=False,
                                               suppress_vision=True)
        self.pad_id, self.stop_ids, self.suppress_ids = self.engine.pad_id, self.engine.stop_ids, self.engine.suppress_ids
        self.device = next(self.model.parameters()).device

    def _load_records(self) -> list[dict]:
        """The usable RL-train records (:func:`onethinker.rl.data.load_rl_records`): a bad record is an
        RLDataError naming file, record and field, or a counted skip with ``data.skip_bad_records``."""
        loaded = load_rl_records(self.cfg.data)
        self.media_root = loaded.media_root
        self.data_report = {"files": list(self.cfg.data.train_files), "read": loaded.read, "used": len(loaded.records),
                            "other_tasks": loaded.other_tasks, "skipped_bad": len(loaded.skipped),
                            "skipped": loaded.skipped}
        if loaded.skipped:
            log.warning("RL data: %d bad records skipped, e.g. %s", len(loaded.skipped), loaded.skipped[0])
        return loaded.records

    def _input_options(self) -> dict[str, Any]:
        r = self.cfg.rollout
        return {"video_fps": r.video_fps, "max_frames": r.max_frames, "image_max_pixels": r.image_max_pixels,
                "video_max_pixels": r.video_max_pixels}

    def _prompt(self, record: dict) -> Prompt:
        from ..models.inputs import build_inputs

        msgs = record_messages(record, self.media_root)
        p = Prompt(record, msgs, task_key(record["problem_type"], record["data_type"]))
        feats = build_inputs(self.processor, [msgs], add_generation_prompt=True, padding_side="left", **self._input_options())
        p.features = {k: v for k, v in feats.items()}
        return p

    # -- rollouts -------------------------------------------------------------------------------
    @torch.no_grad()
    def _generate(self, prompts: list[Prompt], seed: int, sampler_logprobs: list | None = None, offset: int = 0
                  ) -> list[tuple[int, list[int], str]]:
        """(index of the prompt, sampled token ids, decoded text) for n samples of every prompt.

        ``sampler_logprobs``: a list that receives, per sample, the log-probabilities of its tokens under the
        distribution the sampler drew them from (for tests, which compare them with the update's; off in
        training). ``offset``: where ``prompts`` start in their draw (a refill samples a draw in chunks; the
        seed of a generation batch depends on its place in the draw only)."""
        r = self.cfg.rollout
        out = []
        keep = sampler_logprobs is not None
        for start in range(0, len(prompts), r.generation_batch_size):
            chunk = prompts[start : start + r.generation_batch_size]
            batch = _to(collate_prompts([p.features for p in chunk], self.pad_id), self.device)
            gen = self.engine.sample(batch, n=r.n, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                                     top_p=r.top_p, top_k=r.top_k, seed=seed * 1000 + offset + start,
                                     keep_logprobs=keep)
            for j, ids in enumerate(gen.sequences.tolist()):
                resp = self.engine.cut(ids)
                if keep:
                    sampler_logprobs.append(gen.logprobs[j, : len(resp)].clone())
                text = self.engine.decode(resp)
                out.append((start + j // r.n, resp, text))
        return out

    def _sample_groups(self, step_log: StepLog) -> list[Rollout]:
        """Draw prompts, roll out, score, filter; repeat until the step has its prompts (or tries run out).

        A draw (try) takes up to ``prompts_per_step`` prompts from the stream, one generation batch at a time,
        each at most the number of groups still missing, and stops as soon as the step is full: a refill
        generates only for the missing groups, and the stream's position counts the prompts sampled."""
        cfg = self.cfg
        if cfg.rollout.sampler == "stream":
            return self._stream_groups(step_log)
        want = cfg.rollout.prompts_per_step
        kept: list[Rollout] = []
        all_rollouts: list[Rollout] = []
        tally = {"rollout_s": 0.0, "reward_s": 0.0, "dropped": 0}
        tries = 0
        full = False
        while tries < max(1, cfg.algorithm.max_sampling_tries) and not full:
            tries += 1
            drawn = 0  # prompts of this draw sampled so far
            while drawn < want and not full:
                size = min(cfg.rollout.generation_batch_size, want - drawn, want - len({ro.group for ro in kept}))
                full = self._sample_chunk(size, tries, drawn, kept, all_rollouts, tally)
                drawn += size
            if not cfg.algorithm.filter_groups:
                break
        sampled_groups = len({ro.group for ro in all_rollouts})
        step_log.add("time/rollout_s", tally["rollout_s"])
        step_log.add("time/reward_s", tally["reward_s"])
        step_log.add("sampling/tries", tries)
        step_log.add("sampling/groups", sampled_groups)
        step_log.add("sampling/filtered_frac", tally["dropped"] / max(1, sampled_groups))
        step_log.add("sampling/kept_groups", len({ro.group for ro in kept}))
        self._log_rewards(all_rollouts, step_log)
        return kept

    def _stream_groups(self, step_log: StepLog) -> list[Rollout]:
        """:meth:`_sample_groups` with ``rollout.sampler: stream``: one decode batch per step
        (:meth:`SamplingEngine.stream`) that prompts join while others run. A group is scored and filtered as soon
        as its ``n`` samples stop, and a prompt joins whenever the kept groups and the groups still running are
        fewer than ``prompts_per_step`` (at most ``generation_batch_size`` running, at most ``max_sampling_tries``
        x ``prompts_per_step`` prompts a step), so a filtered group's refill starts at once instead of after the
        sampling call it was in. The prompts come from the stream in the same order; ``sampling/tries`` logs the
        prompts drawn in units of ``prompts_per_step``, rounded up."""
        cfg = self.cfg
        r = cfg.rollout
        want = r.prompts_per_step
        limit = want * max(1, cfg.algorithm.max_sampling_tries) if cfg.algorithm.filter_groups else want
        kept: list[Rollout] = []
        all_rollouts: list[Rollout] = []
        running: dict[int, Prompt] = {}
        kept_groups = dropped = drawn = 0
        reward_s = 0.0

        def admit() -> tuple[list[int], dict[str, torch.Tensor]] | None:
            nonlocal drawn
            size = min(r.generation_batch_size - len(running), want - kept_groups - len(running), limit - drawn)
            if size <= 0:
                return None
            prompts = [self._prompt(rec) for rec in self.stream.take(size)]
            keys = list(range(drawn, drawn + size))
            drawn += size
            running.update(zip(keys, prompts))
            return keys, _to(collate_prompts([p.features for p in prompts], self.pad_id), self.device)

        t_start = time.perf_counter()
        seed = cfg.run.seed * 100003 + self.step * 101
        for key, seqs, _ in self.engine.stream(admit, n=r.n, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                                               top_p=r.top_p, top_k=r.top_k, seed=seed):
            t0 = time.perf_counter()
            prompt = running.pop(key)
            group = f"{self.step}:{key}"
            rollouts = []
            for ids in seqs.tolist():
                resp = self.engine.cut(ids)
                rollouts.append(Rollout(prompt, group, resp, self.engine.decode(resp)))
            self._score(rollouts)
            all_rollouts += rollouts
            if self._keep(rollouts):  # admit() keeps kept + running <= want: a kept group always has room
                kept += rollouts
                kept_groups += 1
            else:
                dropped += 1
            reward_s += time.perf_counter() - t0
        step_log.add("time/rollout_s", time.perf_counter() - t_start - reward_s)
        step_log.add("time/reward_s", reward_s)
        step_log.add("sampling/tries", -(-drawn // want))
        step_log.add("sampling/groups", drawn)
        step_log.add("sampling/filtered_frac", dropped / max(1, drawn))
        step_log.add("sampling/kept_groups", kept_groups)
        self._log_rewards(all_rollouts, step_log)
        return kept

    def _score(self, rollouts: list[Rollout]) -> None:
        """Each rollout's reward (``ro.reward``), scored in one batch."""
        items = [{"response": ro.text, "ground_truth": ro.prompt.record["answer"],
                  "problem_type": ro.prompt.record["problem_type"], "data_type": ro.prompt.record["data_type"],
                  "problem_id": ro.group, "problem": ro.prompt.record.get("problem_reserved_text") or ""}
                 for ro in rollouts]
        for ro, res in zip(rollouts, self.scorer.score_batch(items)):
            ro.reward = res

    def _keep(self, rollouts: list[Rollout]) -> set[str]:
        """The groups of ``rollouts`` the filter keeps (every group with ``algorithm.filter_groups`` off)."""
        groups = [ro.group for ro in rollouts]
        a = self.cfg.algorithm
        if not a.filter_groups:
            return set(groups)
        return keep_groups(groups, [ro.reward.accuracy for ro in rollouts], [ro.reward.overall for ro in rollouts],
                           low=a.filter_low, high=a.filter_high, drop_equal_scores=a.drop_equal_scores)

    def _sample_chunk(self, size: int, tries: int, drawn: int, kept: list[Rollout], all_rollouts: list[Rollout],
                      tally: dict) -> bool:
        """Part of :meth:`_sample_groups`: take ``size`` prompts (at place ``drawn`` of draw ``tries``), roll
        out, score, filter, add the kept groups to ``kept``; True when the step is full."""
        cfg = self.cfg
        want = cfg.rollout.prompts_per_step
        t0 = time.perf_counter()
        prompts = [self._prompt(rec) for rec in self.stream.take(size)]
        gen = self._generate(prompts, seed=cfg.run.seed * 100003 + self.step * 101 + tries, offset=drawn)
        tally["rollout_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        rollouts = [Rollout(prompts[k], f"{self.step}:{tries}:{drawn + k}", resp, text) for k, resp, text in gen]
        self._score(rollouts)
        tally["reward_s"] += time.perf_counter() - t0
        all_rollouts += rollouts
        groups = [ro.group for ro in rollouts]
        keep = self._keep(rollouts)
        tally["dropped"] += len(set(groups)) - len(keep)
        room = want - len({ro.group for ro in kept})
        for g in [g for g in dict.fromkeys(groups) if g in keep][:room]:
            kept += [ro for ro in rollouts if ro.group == g]
        return len({ro.group for ro in kept}) >= want

    # -- log-probabilities ------------------------------------------------------------------------
    def _logprobs(self, model: Any, rollouts: list[Rollout]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probabilities of the responses (B, R) and their mask. With ``optim.shared_prompt``
        each distinct prompt of ``rollouts`` runs once for its rollouts (``onethinker.rl.shared_prompt``);
        otherwise every rollout runs as prompt + response."""
        if self.cfg.optim.shared_prompt:
            return shared_logprobs(model, rollouts, pad_id=self.pad_id, device=self.device,
                                   temperature=self.cfg.rollout.temperature, suppress_ids=self.suppress_ids,
                                   collate=collate_prompts)
        prompts = collate_prompts([ro.prompt.features for ro in rollouts], self.pad_id)
        resp, mask = pad_responses(rollouts, self.pad_id)
        rlen = resp.shape[1]
        batch = dict(prompts)
        batch["input_ids"] = torch.cat([prompts["input_ids"], resp], dim=1)
        batch["attention_mask"] = torch.cat([prompts["attention_mask"], mask.long()], dim=1)
        if "mm_token_type_ids" in prompts:
            batch["mm_token_type_ids"] = torch.cat(
                [prompts["mm_token_type_ids"], torch.zeros_like(resp, dtype=prompts["mm_token_type_ids"].dtype)], dim=1)
        batch = _to(batch, self.device)
        out = model(**batch, use_cache=False, logits_to_keep=rlen + 1)
        logp = token_logprobs(out.logits[:, :-1, :], resp.to(self.device), temperature=self.cfg.rollout.temperature,
                              suppress_ids=self.suppress_ids)
        return logp, mask.to(self.device)

    # -- update ---------------------------------------------------------------------------------
    def _update(self, rollouts: list[Rollout], step_log: StepLog) -> None:
        cfg = self.cfg
        mb = max(1, cfg.optim.micro_batch_size)
        shared = cfg.optim.shared_prompt  # micro-batches: length buckets of whole groups (shared_prompt.py)
        groups = list(dict.fromkeys(ro.group for ro in rollouts))
        per_mini = max(1, cfg.optim.mini_batch_prompts)
        rng = random.Random(cfg.run.seed * 7919 + self.step)
        epochs = []  # the mini-batches of every epoch, drawn up front
        for _ in range(max(1, cfg.optim.ppo_epochs)):
            order = groups[:]
            rng.shuffle(order)
            epochs.append([set(order[g0 : g0 + per_mini]) for g0 in range(0, len(order), per_mini)])
        # The first mini-batch is updated with the weights that sampled it: its old log-probabilities are
        # the current ones, detached (as in verl's on-policy path). Only the others need a separate pass;
        # with one mini-batch and one epoch (the demo), none do.
        first = epochs[0][0]
        for ro in rollouts:
            ro.old_logp = None
        need_old = [ro for ro in rollouts if ro.group not in first]
        with torch.no_grad():
            if need_old:
                for part in micro_batches(need_old, mb, shared=shared):
                    logp, _ = self._logprobs(self.model, part)
                    for j, ro in enumerate(part):
                        ro.old_logp = logp[j, : len(ro.response)].detach().cpu()
            if self.ref_model is not None:
                for part in micro_batches(rollouts, mb, shared=shared):
                    ref = self._logprobs(self.ref_model, part)[0]
                    for j, ro in enumerate(part):
                        ro.ref_logp = ref[j, : len(ro.response)].detach().cpu()
        metrics: dict[str, list[float]] = defaultdict(list)
        for minis in epochs:
            for chosen in minis:
                mini = [ro for ro in rollouts if ro.group in chosen]
                tokens = float(sum(len(ro.response) for ro in mini))
                self.optimizer.zero_grad(set_to_none=True)
                for part in micro_batches(mini, mb, shared=shared):
                    logp, mask = self._logprobs(self.model, part)
                    old = logp.detach().clone()
                    ref = torch.zeros_like(logp) if self.ref_model is not None else None
                    for j, ro in enumerate(part):
                        n = len(ro.response)
                        if ro.old_logp is None:  # first mini-batch, first epoch: on-policy
                            ro.old_logp = logp[j, :n].detach().cpu()
                        else:
                            old[j, :n] = ro.old_logp.to(logp.device)
                        if ref is not None:
                            ref[j, :n] = ro.ref_logp.to(logp.device)
                    adv = torch.tensor([ro.advantage for ro in part], dtype=logp.dtype, device=logp.device)
                    loss, m = policy_loss(logp, old, adv, mask, cfg.loss, ref_logp=ref, token_count=tokens)
                    loss.backward()
                    for k, v in m.items():
                        metrics[k].append(v)
                params = [p for p in self.model.parameters() if p.requires_grad]
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
                metrics["grad_norm"].append(float(norm))
                self.optimizer.step()
        lr = self.scheduler.get_last_lr()[0]  # the rate this step's updates used
        self.scheduler.step()
        for k, v in metrics.items():
            step_log.add(f"actor/{k}", float(np.mean(v)))
        step_log.add("actor/lr", lr)

    # -- logging --------------------------------------------------------------------------------
    def _log_rewards(self, rollouts: list[Rollout], step_log: StepLog) -> None:
        # per task key in first-seen order, then all; numpy's mean (pairwise sums), as the log always had
        means = task_means(rollouts, {"reward": lambda r: r.reward.overall, "accuracy": lambda r: r.reward.accuracy,
                                      "format": lambda r: r.reward.format, "structure": lambda r: r.reward.structure},
                           key=lambda r: r.prompt.task, count=None,
                           overall="all", sort=False, average=np.mean)
        for t, block in means.items():
            for name, value in block.items():
                step_log.add(f"{name}/{t}", value)
        step_log.add("response/length_mean", np.mean([len(r.response) for r in rollouts]))
        step_log.add("response/truncated_frac", np.mean([not r.response or r.response[-1] not in self.stop_ids for r in rollouts]))

    def _write_log(self, step_log: StepLog) -> None:
        row = {"step": self.step, **step_log.values}
        with (self.out / "log.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in step_log.values.items():
                if isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(k, v, self.step)

    # -- one step -------------------------------------------------------------------------------
    def train_step(self) -> dict[str, Any]:
        cfg = self.cfg
        step_log = StepLog()
        t_start = time.perf_counter()
        kept = self._sample_groups(step_log)
        if kept:
            scores = torch.tensor([ro.reward.overall for ro in kept], dtype=torch.float32)
            adv = compute_advantages(cfg.algorithm.estimator, scores, [ro.group for ro in kept],
                                     [ro.prompt.task for ro in kept], self.stats)
            for ro, a in zip(kept, adv.tolist()):
                ro.advantage = a
            step_log.add("adv/mean", float(adv.mean()))
            step_log.add("adv/std", float(adv.std()) if len(adv) > 1 else 0.0)
            step_log.add("adv/abs_max", float(adv.abs().max()))
            if cfg.algorithm.estimator == "ema_grpo":
                for t, v in self.stats.last.items():
                    step_log.add(f"ema/m1/{t}", v["m1"])
                    step_log.add(f"ema/std/{t}", v["ema_std"])
                    step_log.add(f"ema/batch_mean/{t}", v["batch_mean"])
                    step_log.add(f"ema/guarded/{t}", v["guarded"])
            t0 = time.perf_counter()
            self._update(kept, step_log)
            step_log.add("time/update_s", time.perf_counter() - t0)
        else:
            step_log.add("skipped_update", 1)
        self.step += 1
        step_log.add("time/step_s", time.perf_counter() - t_start)
        if cfg.run.log_every and self.step % cfg.run.log_every == 0:
            self._write_log(step_log)
        if cfg.run.save_every and self.step % cfg.run.save_every == 0:
            self.save_checkpoint()
        return step_log.values

    def train(self) -> dict[str, Any]:
        last: dict[str, Any] = {}
        while self.step < self.cfg.run.max_steps:
            last = self.train_step()
            if self.progress:
                self.progress(self.step, self.cfg.run.max_steps, last)
        if not (self.cfg.run.save_every and self.step % self.cfg.run.save_every == 0):
            self.save_checkpoint()
        final = self.out / "final"
        if self.cfg.run.average_last > 1:  # tail averaging: the mean of the last N checkpoints' weights
            from ..models.averaging import average_checkpoints

            last_n = RL_LAYOUT.list(self.out)[-self.cfg.run.average_last :]
            if len(last_n) < self.cfg.run.average_last or last_n[-1].name != f"{RL_LAYOUT.prefix}{self.step:06d}":
                raise RuntimeError(f"run.average_last={self.cfg.run.average_last}: {RL_LAYOUT.root(self.out)} holds "
                                   f"{[p.name for p in last_n]}, not the last {self.cfg.run.average_last} checkpoints "
                                   f"up to step {self.step}")
            average_checkpoints(last_n, final)
            log.info("final model: the mean of %s", ", ".join(p.name for p in last_n))
        else:
            self._save_model(final)
        self.scorer.close()
        if self._tb is not None:
            self._tb.close()
        return last

    # -- checkpoints ----------------------------------------------------------------------------
    def _save_model(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.processor.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)

    def save_checkpoint(self) -> Path:
        root = RL_LAYOUT.root(self.out)
        folder = root / f"{RL_LAYOUT.prefix}{self.step:06d}"
        tmp = root / f".{RL_LAYOUT.prefix}{self.step:06d}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.processor.save_pretrained(tmp)
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}, tmp / "optim.pt")
        state = {
            "step": self.step,
            "data": self.stream.state_dict(),
            "ema": self.stats.state_dict(),
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
        }
        torch.save(state, tmp / "trainer_state.pt")
        (tmp / "trainer_state.json").write_text(json.dumps({"step": self.step, "data": state["data"], "ema": state["ema"]}, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        done = RL_LAYOUT.list(self.out, complete_only=False)
        for old in done[: max(0, len(done) - max(1, self.cfg.run.keep_checkpoints))]:
            shutil.rmtree(old)
        return folder

    def _find_checkpoint(self, resume: str | bool) -> Path | None:
        # "latest"/True without a checkpoint starts from scratch (a warning); "auto" is not a keyword here
        return resolve_checkpoint(RL_LAYOUT, self.out, resume, missing="warn", allow_auto=False)

    def _restore(self, folder: Path) -> None:
        state = torch.load(folder / "trainer_state.pt", weights_only=False)
        optim = torch.load(folder / "optim.pt", weights_only=False)
        self.optimizer.load_state_dict(optim["optimizer"])
        self.scheduler.load_state_dict(optim["scheduler"])
        self.step = int(state["step"])
        self.stream.load_state_dict(state["data"])
        self.stats.load_state_dict(state["ema"])
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])
        log.info("resumed from %s at step %d", folder, self.step)


def train_rl(cfg: RLConfig, resume: str | bool | None = None,
             progress: Callable[[int, int, dict], None] | None = None) -> dict[str, Any]:
    trainer = RLTrainer(cfg, resume=resume, progress=progress)
    return trainer.train()
