"""SFT cold start on transformers' ``Trainer``: ``train_sft(config, resume=None) -> summary``.

What this module adds to ``Trainer`` (everything else, multi-GPU through accelerate/torchrun, DeepSpeed,
checkpoints with optimiser/scheduler/RNG/trainer state, resume, is Trainer's own):

- :func:`freeze_vision` freezes the vision tower and/or the projector of any Qwen-VL by parameter name
  (``visual.merger`` and ``visual.deepstack_merger_list`` are the projector, the rest of ``visual`` the
  tower), through peft wrappers too.
- :class:`SFTTrainer` computes the loss itself: logits only at the answer positions (a boolean
  ``logits_to_keep``: for a 16k-token video conversation with a 300-token answer, 300 rows of
  vocabulary logits instead of 16k), cross-entropy summed in fp32 and divided by the number of answer
  tokens of the whole optimiser step (all micro-batches, all processes), so every answer token weighs
  the same whatever the padding and the accumulation. It also adds to each log line how many items
  were trained on, dropped by the cut-off and skipped as bad, and how many tokens went through.
- Console progress (rich), a JSONL log (``OUTPUT/log.jsonl``), TensorBoard when installed.
- :func:`train_sft`: resolved config written next to the outputs, checks before any work (an output
  folder with checkpoints needs ``--resume`` or ``train.overwrite``), the final model + processor in
  ``OUTPUT/final`` (loadable with :func:`onethinker.models.load`), an optional held-out format check,
  and ``OUTPUT/summary.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from ..checkpoints import SFT_LAYOUT, trim_log
from ..checkpoints import resolve_resume as resolve_checkpoint
from ..config import save_config, to_dict
from ..models.freezing import PROJECTOR_MODULES, FreezeError, count_parts, param_part
from ..models.freezing import freeze_vision as _freeze_vision
from ..ui import console
from .config import SFTConfig
from .data import STATS_KEY, LengthGroupedSampler, SFTCollator, estimate_lengths, load_sft_dataset

__all__ = ["PROJECTOR_MODULES", "SFTError", "SFTTrainer", "format_check", "freeze_vision", "param_part",
           "train_sft"]

#: Children of the vision module (``visual``) that project vision features into the language model.
LOG_FILE = "log.jsonl"
FINAL_DIR = "final"


class SFTError(RuntimeError):
    """An SFT run that cannot start or go on; the message says why and what to do."""


# -------------------------------------------------------------------------------------------------
# Freezing (onethinker.models.freezing, shared with RL)
# -------------------------------------------------------------------------------------------------
def freeze_vision(model: Any, *, vision_tower: bool = True, projector: bool = True) -> dict[str, dict[str, int]]:
    """:func:`onethinker.models.freezing.freeze_vision`, its errors as SFTError."""
    try:
        return _freeze_vision(model, vision_tower=vision_tower, projector=projector)
    except FreezeError as e:
        raise SFTError(str(e)) from e


# -------------------------------------------------------------------------------------------------
# Trainer
# -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _trainer_classes():
    from transformers import Trainer, TrainerCallback

    class SFTTrainer(Trainer):
        """``Trainer`` with the answer-token loss and data counters (see the module docstring)."""

        loss_is_scaled_for_ga = True  # the loss is normalised by the tokens of the whole step

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            import torch

            # kept, dropped_too_long, skipped_bad, tokens, answer_tokens (this process, this session)
            self._counts = torch.zeros(5, dtype=torch.long, device=self.args.device)
            self._count_base: list[int] | None = None

        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = getattr(dataset, "lengths", None)
            if lengths is None:
                return super()._get_train_sampler(train_dataset)
            return LengthGroupedSampler(lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed)

        def get_batch_samples(self, epoch_iterator, num_batches, device):
            batches, n = super().get_batch_samples(epoch_iterator, num_batches, device)
            if n is None and batches and "labels" in batches[0]:
                n = sum((b["labels"][..., 1:] != -100).sum() for b in batches)
                n = n.to(device)
                if self.args.average_tokens_across_devices and self.args.world_size > 1:
                    n = self.accelerator.gather(n).sum()
            return batches, n

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch
            import torch.nn.functional as F

            stats = inputs.pop(STATS_KEY, None)
            labels = inputs.pop("labels")
            targets = labels[:, 1:]
            valid = targets != -100
            n_local = valid.sum()
            if model.training:
                if stats is not None:
                    self._counts[:3] += stats.to(self._counts.device)
                if "attention_mask" in inputs:
                    self._counts[3] += inputs["attention_mask"].sum().to(self._counts.device)
                self._counts[4] += n_local.to(self._counts.device)
            if int(n_local) == 0:  # a filler batch: take part in the step with a zero loss
                outputs = model(**inputs, logits_to_keep=1)
                loss = outputs.logits.sum() * 0.0
                return (loss, outputs) if return_outputs else loss
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = valid
            outputs = model(**inputs, logits_to_keep=keep)
            logits = outputs.logits
            if logits.dim() == 3:  # a model that returned every position
                logits = logits[keep] if logits.shape[1] == labels.shape[1] else logits.reshape(-1, logits.shape[-1])
            if logits.shape[0] != int(n_local):
                raise SFTError(f"{type(model).__name__} returned {logits.shape[0]} logit rows for {int(n_local)} "
                               f"answer tokens (logits_to_keep with a boolean mask is not supported)")
            loss = F.cross_entropy(logits.float(), targets[valid], reduction="sum")
            if num_items_in_batch is None:
                loss = loss / n_local
            else:
                loss = loss / num_items_in_batch
                if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                    loss = loss * self.accelerator.num_processes  # DDP averages the gradients over processes
            return (loss, outputs) if return_outputs else loss

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            counts = self._counts.clone()
            if self.accelerator.num_processes > 1:
                counts = self.accelerator.reduce(counts, reduction="sum")
            if self._count_base is None:  # resumed: go on from the checkpoint's totals
                self._count_base = [0] * 5
                for entry in reversed(self.state.log_history):
                    if "dropped_too_long" in entry:
                        self._count_base = [int(entry.get(k, 0)) for k in _COUNT_KEYS]
                        break
            for key, base, value in zip(_COUNT_KEYS, self._count_base, counts.tolist()):
                logs[key] = base + int(value)
            super().log(logs, start_time)

    class JsonlLogCallback(TrainerCallback):
        """Every log line (one JSON object per line) to ``path``, from the main process."""

        def __init__(self, path: Path):
            self.path = Path(path)
            self.t0 = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                entry = {"step": state.global_step, **{k: _plain(v) for k, v in logs.items()},
                         "time": round(time.perf_counter() - self.t0, 3)}
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    class RichProgressCallback(TrainerCallback):
        """A progress bar (steps, elapsed, ETA) and a line per log on the console (main process)."""

        def __init__(self):
            self.progress = None
            self.task = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                from ..ui import progress

                self.progress = progress()
                self.progress.start()
                self.task = self.progress.add_task("sft", total=state.max_steps, completed=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            if "loss" in logs:
                line = (f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                        f"lr {logs.get('learning_rate', 0):.2e}  grad norm {_plain(logs.get('grad_norm', float('nan'))):.3g}"
                        f"  items {logs.get('items', 0)}  dropped {logs.get('dropped_too_long', 0)}")
            elif "train_runtime" in logs:
                line = (f"done: {state.global_step} steps in {logs['train_runtime']:.1f} s, mean loss "
                        f"{logs.get('train_loss', float('nan')):.4f}")
            else:
                return
            (self.progress.console if self.progress is not None else console).print(line, highlight=False)

        def on_train_end(self, args, state, control, **kwargs):
            self.close()

        def close(self) -> None:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return SFTTrainer, JsonlLogCallback, RichProgressCallback


_COUNT_KEYS = ("items", "dropped_too_long", "skipped_bad", "tokens", "answer_tokens")


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def __getattr__(name: str):  # SFTTrainer is built lazily: importing this module does not import transformers
    if name == "SFTTrainer":
        return _trainer_classes()[0]
    raise AttributeError(name)


# -------------------------------------------------------------------------------------------------
# Format check
# -------------------------------------------------------------------------------------------------


def format_check(model: Any, processor: Any, records: list[dict], media_root: str | Path, *,
                 max_new_tokens: int = 256, batch_size: int = 8, media_kwargs: dict | None = None,
                 out_file: str | Path | None = None) -> dict:
    """Greedy replies to ``records`` (evaluation or RL records) and how well-formed they are.

    Returns ``{"n", "format_rate" (share with has_valid_format), "overall", "format", "accuracy",
    "structure" (mean reward parts), "by_task": {task key: {"n", "format_rate", "accuracy"}}}``; each reply
    with its scores goes to ``out_file`` (JSONL) when given."""
    from ..data.chat import record_messages
    from ..models.inputs import generate
    from ..reward import score
    from ..tasks.means import mean, record_task_key, task_means
    from ..tasks.response import has_valid_format

    rows = []
    for i in range(0, len(records), batch_size):
        chunk = records[i:i + batch_size]
        msgs = [record_messages(r, media_root) for r in chunk]
        replies = generate(model, processor, msgs, max_new_tokens=max_new_tokens, **(media_kwargs or {}))
        for r, (reply,) in zip(chunk, replies):
            truth = r.get("solution", r.get("answer", ""))
            s = score(reply, str(truth), r.get("problem_type", ""), r.get("data_type", ""))
            rows.append({"problem_id": r.get("problem_id"), "problem_type": r.get("problem_type"),
                         "data_type": r.get("data_type"), "valid_format": has_valid_format(reply), "reply": reply,
                         "solution": truth, **{k: getattr(s, k) for k in ("overall", "format", "accuracy",
                                                                          "structure")}})
    if out_file is not None:
        with Path(out_file).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    n = len(rows)
    # grouped by task key (the registry's: segmentation split by data type, problem types in any case)
    by_task = task_means(rows, {"format_rate": lambda x: float(x["valid_format"]),
                                "accuracy": lambda x: float(x["accuracy"])}, key=record_task_key, count="n")
    return {"n": n, "format_rate": mean([float(x["valid_format"]) for x in rows]),
            **{k: mean([float(x[k]) for x in rows]) for k in ("overall", "format", "accuracy", "structure")},
            "by_task": by_task}


# -------------------------------------------------------------------------------------------------
# train_sft
# -------------------------------------------------------------------------------------------------


def _checkpoints(out: Path) -> list[Path]:
    return SFT_LAYOUT.list(out)


def resolve_resume(out: Path, resume: bool | str | os.PathLike | None) -> Path | None:
    """The checkpoint to resume from: None/False: none; True or "latest": the newest ``checkpoint-N`` in
    ``out`` (an error if there is none); "auto": the newest if any; a path: that checkpoint folder
    (``onethinker.checkpoints``)."""
    return resolve_checkpoint(SFT_LAYOUT, out, resume, missing="error", error=SFTError)


def _prepare_output(out: Path, ckpt: Path | None, overwrite: bool, main: bool) -> None:
    existing = _checkpoints(out)
    if ckpt is None and existing:
        if not overwrite:
            raise SFTError(f"{out} already has checkpoints ({', '.join(p.name for p in existing[-3:])}); pass "
                           f"--resume to continue, or --set train.overwrite=true to start over (deletes them)")
        if main:
            for p in existing:
                shutil.rmtree(p)
            shutil.rmtree(out / FINAL_DIR, ignore_errors=True)
            (out / LOG_FILE).unlink(missing_ok=True)
    if ckpt is None and main and not existing:
        (out / LOG_FILE).unlink(missing_ok=True)
    if ckpt is not None and main:
        # keep the log lines up to the checkpoint: the steps after it are run again
        step = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8")).get("global_step", 0)
        trim_log(out / LOG_FILE, int(step), drop_keys=("train_runtime",))


def _config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_changes(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _training_args(cfg: SFTConfig, out: Path, has_gpu: bool):
    from transformers import TrainingArguments
    from transformers.integrations import is_tensorboard_available

    t = cfg.train
    bf16, fp16 = t.bf16, t.fp16
    if (bf16 or fp16) and not has_gpu:
        console.print(f"[yellow]no GPU: train.{'bf16' if bf16 else 'fp16'} turned off (fp32 on the CPU)")
        bf16 = fp16 = False
    report_to = t.report_to
    if report_to is None:
        report_to = ["tensorboard"] if is_tensorboard_available() else []
    kwargs: dict[str, Any] = dict(
        output_dir=str(out),
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay,
        adam_beta1=t.adam_beta1,
        adam_beta2=t.adam_beta2,
        max_grad_norm=t.max_grad_norm,
        optim=t.optim,
        bf16=bf16,
        fp16=fp16,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=t.seed,
        deepspeed=str(ds) if (ds := _deepspeed_config(cfg)) else None,
        report_to=report_to or "none",
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=cfg.data.num_workers,
        dataloader_persistent_workers=cfg.data.num_workers > 0,
        dataloader_pin_memory=has_gpu,
        ddp_find_unused_parameters=False,
    )
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "warmup_ratio" in fields:  # transformers 4
        kwargs["warmup_ratio"] = t.warmup_ratio
    else:  # transformers 5: a float below 1 is a share of the steps
        kwargs["warmup_steps"] = t.warmup_ratio
    if t.gradient_checkpointing:  # transformers 5 renamed gradient_checkpointing to activation_checkpointing
        prefix = "activation" if "activation_checkpointing" in fields else "gradient"
        kwargs[f"{prefix}_checkpointing"] = True
        kwargs[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    unknown = sorted(set(t.training_args) - fields)
    if unknown:
        raise SFTError(f"train.training_args: {', '.join(unknown)} not TrainingArguments field(s)")
    kwargs.update(t.training_args)
    return TrainingArguments(**kwargs)


def _deepspeed_config(cfg: SFTConfig) -> Path | None:
    try:
        return cfg.deepspeed_path()
    except ValueError as e:
        raise SFTError(str(e)) from None


def _model_ref(cfg: SFTConfig) -> str:
    """A local checkpoint under ``root`` (absolute, so saved LoRA adapters find their base), else the
    path or hub id as written."""
    local = cfg.path(cfg.model.path)
    return str(local.resolve()) if local.exists() else cfg.model.path


def train_sft(config: SFTConfig, resume: bool | str | os.PathLike | None = None) -> dict:
    """Run SFT as ``config`` says; ``resume``: None (fresh), True/"latest" (newest checkpoint in the
    output folder), "auto" (newest if any, else fresh) or a checkpoint path. Returns a summary (also
    written to ``OUTPUT/summary.json``): steps, losses, time, data counts, parameter counts, paths and
    the format check."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one progress bar (ours), not one per weight load and checkpoint write
    try:
        return _train_sft(config, resume)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _train_sft(config: SFTConfig, resume: bool | str | os.PathLike | None) -> dict:
    """The body of :func:`train_sft` (with the transformers progress bars off)."""
    import torch
    from transformers import PrinterCallback, ProgressCallback, set_seed

    from ..models.loading import load

    cfg = config
    if not cfg.model.path:
        raise SFTError("model.path is empty: give a checkpoint folder or a hub id")
    if cfg.format_check.file and not cfg.path(cfg.format_check.file).is_file():  # found out now, not after training
        raise SFTError(f"format_check.file: {cfg.path(cfg.format_check.file)}: no such file (give the held-out records "
                       f"to check replies on, or set format_check.file to \"\" or null to skip the check, e.g. "
                       f"--set format_check.file=)")
    t_start = time.perf_counter()
    out = cfg.path(cfg.output_dir)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    rank = int(os.environ.get("RANK", "0"))
    main = rank == 0
    ckpt = resolve_resume(out, resume)
    _prepare_output(out, ckpt, cfg.train.overwrite, main)
    out.mkdir(parents=True, exist_ok=True)

    resolved = dataclasses.replace(cfg, root=str(Path(cfg.root or ".").expanduser().resolve()))
    if ckpt is not None and (out / "config.yaml").is_file():
        import yaml

        old = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")) or {}
        changes = [c for c in _config_changes(old, to_dict(resolved)) if not c.startswith("train.threads")]
        if changes and main:
            console.print(f"[yellow]resuming {ckpt.name} with a changed config: {'; '.join(changes)}")
    if main:
        save_config(resolved, out / "config.yaml")

    # Data: checked before anything heavy is loaded.
    d = cfg.data
    dataset = load_sft_dataset([cfg.path(f) for f in d.files], cfg.path(d.media_root) if d.media_root else None,
                               max_records=d.max_records, seed=cfg.train.seed, skip_bad_records=d.skip_bad_records,
                               allow_absolute_media=d.allow_absolute_media)
    report = dataset.report
    if main:
        files = ", ".join(f"{Path(f).name} ({n})" for f, n in report.files.items())
        console.print(f"data: {len(dataset)} conversations from {files}"
                      + (f"; {len(report.skipped)} bad records skipped" if report.skipped else ""))

    has_gpu = torch.cuda.is_available()
    args = _training_args(cfg, out, has_gpu)  # before the model: DeepSpeed ZeRO-3 must be known to from_pretrained
    set_seed(cfg.train.seed)  # LoRA initialisation
    m = cfg.model
    model, processor = load(_model_ref(cfg), dtype=m.dtype, device="cpu", attn_implementation=m.attn_implementation,
                            lora=m.lora, trust_remote_code=m.trust_remote_code)
    parts = freeze_vision(model, vision_tower=m.freeze_vision_tower, projector=m.freeze_projector)
    if main:
        console.print("parameters: " + ", ".join(f"{k} {v['trainable']:,} trainable / {v['frozen']:,} frozen"
                                                 for k, v in parts.items() if v["trainable"] or v["frozen"]))
    if hasattr(model, "config"):
        model.config.use_cache = False

    collator = SFTCollator(processor, cutoff_len=d.cutoff_len, skip_bad_records=d.skip_bad_records, **d.media_kwargs())
    if d.group_by_length:
        t0 = time.perf_counter()
        lengths = estimate_lengths(dataset, collator)
        if main:
            console.print(f"lengths estimated in {time.perf_counter() - t0:.1f} s: {min(lengths)}-{max(lengths)} tokens, "
                          f"{sum(n > d.cutoff_len for n in lengths)} over the cut-off of {d.cutoff_len}")
    SFTTrainer, JsonlLogCallback, RichProgressCallback = _trainer_classes()
    progress_cb = RichProgressCallback()
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                         processing_class=processor, callbacks=[JsonlLogCallback(out / LOG_FILE), progress_cb])
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)

    if main and ckpt is not None:
        console.print(f"resuming from {ckpt}")
    try:
        result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
    finally:
        progress_cb.close()
    final = out / FINAL_DIR
    trainer.save_model(str(final))  # model (or adapter) + processor; gathers ZeRO-3 shards
    train_seconds = time.perf_counter() - t_start

    history = trainer.state.log_history
    losses = [(e["step"], e["loss"]) for e in history if "loss" in e]
    counts = next((e for e in reversed(history) if "dropped_too_long" in e), {})
    summary: dict[str, Any] = {
        "output_dir": str(out),
        "final_dir": str(final),
        "resumed_from": str(ckpt) if ckpt is not None else None,
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        "train_loss": result.training_loss,
        "first_loss": losses[0][1] if losses else None,
        "last_loss": losses[-1][1] if losses else None,
        "loss_curve": losses,
        "seconds": round(train_seconds, 2),
        "records": len(dataset),
        "bad_records_skipped": len(report.skipped),
        **{k: counts.get(k, 0) for k in _COUNT_KEYS},
        "parameters": parts,
        "world_size": args.world_size,
    }

    fc = cfg.format_check
    summary["format_check"] = None
    if fc.file and main and args.world_size == 1:
        from ..data.records import read_records

        path = cfg.path(fc.file)
        records = list(read_records(path))
        rng = random.Random(cfg.train.seed)
        chosen = rng.sample(records, min(fc.n, len(records)))
        t0 = time.perf_counter()
        with console.status(f"format check: greedy replies to {len(chosen)} records of {path.name}"):
            check = format_check(trainer.accelerator.unwrap_model(trainer.model), processor, chosen,
                                 cfg.path(fc.media_root) if fc.media_root else path.parent,
                                 max_new_tokens=fc.max_new_tokens, batch_size=fc.batch_size,
                                 media_kwargs=d.media_kwargs(), out_file=out / "format_check.jsonl")
        check["seconds"] = round(time.perf_counter() - t0, 2)
        summary["format_check"] = check
        console.print(f"format check: {check['format_rate']:.0%} well-formed replies on {check['n']} held-out "
                      f"records, mean accuracy {check['accuracy']:.3f} ({check['seconds']:.0f} s)")
    elif fc.file and main:
        console.print("[yellow]format check skipped: it runs in single-process runs only")

    if main:
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
        console.print(f"SFT done: {summary['global_step']} steps in {summary['seconds']:.0f} s, loss "
                      f"{summary['first_loss']} -> {summary['last_loss']}; {summary['dropped_too_long']} items over "
                      f"the cut-off dropped; final model in {final}")
    return summary

