"""SFT cold-start settings: one dataclass tree, loaded from YAML with dotted overrides.

>>> from onethinker.config import load_config
>>> cfg = load_config(SFTConfig, "configs/demo-sft.yaml", ["root=runs/demo", "train.max_steps=20"])

Relative paths (data files, media roots, model path, output folder, format-check file) are taken
relative to ``root`` ("" = the current directory), so one recipe serves any run folder. Sections:

- ``model``: what to load and what to train (freezing, LoRA, dtype).
- ``data``: record files, media root, cut-off length, media sampling (pixels, fps, frames), loader workers.
- ``train``: optimiser, schedule, batch, precision, logging and checkpointing: mapped onto transformers'
  ``TrainingArguments`` (``train.training_args`` passes anything else through unchanged).
- ``format_check``: after training, greedy replies on a few held-out records, checked for the
  ``<think>...</think><answer>...</answer>`` format and scored with the rewards (off when ``file`` is "" or null).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.loading import LoraSpec

__all__ = ["FormatCheckConfig", "SFTConfig", "SFTDataConfig", "SFTModelConfig", "SFTTrainConfig"]

#: DeepSpeed configs shipped with the package (``train.deepspeed: zero3``)
SHIPPED_DEEPSPEED = Path(__file__).resolve().parent.parent / "configs" / "deepspeed"

_SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial",
               "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay")


@dataclass
class SFTModelConfig:
    """``path``: a Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint folder or hub id (loaded with
    :func:`onethinker.models.load`). ``dtype``: "auto" (the checkpoint's), "bfloat16", "float16",
    "float32": the dtype of the weights (with DeepSpeed, its fp32 master copy is kept by the optimiser).
    ``freeze_vision_tower``: patch embedding, position embedding and vision blocks (``visual.*`` except
    the mergers) get ``requires_grad=False``. ``freeze_projector``: ``visual.merger`` and, in Qwen3-VL,
    ``visual.deepstack_merger_list``. The language model (and ``lm_head``) is trained in full, unless
    ``lora`` is set: then only the adapter is trained (the freezing flags can only freeze more)."""

    path: str = ""
    dtype: str = "auto"
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    freeze_vision_tower: bool = True
    freeze_projector: bool = True
    lora: LoraSpec | None = None


@dataclass
class SFTDataConfig:
    """``files``: SFT record files (ShareGPT ``messages`` + ``images``/``videos``: .json, .jsonl, .parquet),
    mixed into one shuffled set. ``media_root``: where media paths are relative to ("": each file's
    own folder). ``max_records``: use a seeded random subset of this size (quick runs; None: all).
    ``cutoff_len``: a conversation longer than this many tokens (media tokens included) is dropped, and
    counted, in the collator; nothing is ever cut. Media: ``image_*_pixels`` per image,
    ``video_*_pixels`` per frame (None: the processor's own limits), ``video_fps`` frames per second up
    to ``max_frames``. ``num_workers``: DataLoader processes decoding media (0: in the training
    process). ``group_by_length``: batch conversations of similar length (estimated up front from the
    text and the media headers: less padding, the order is still random across mega-batches of 50
    batches). ``skip_bad_records``: a record that cannot be used (no assistant turn, missing or
    unreadable media) is skipped and counted instead of stopping the run. ``allow_absolute_media``: trust
    absolute media paths and paths leading outside the media root."""

    files: list[str] = field(default_factory=list)
    media_root: str = ""
    max_records: int | None = None
    cutoff_len: int = 16384
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None
    video_min_pixels: int | None = None
    video_max_pixels: int | None = None
    video_fps: float = 2.0
    max_frames: int = 128
    min_frames: int = 2
    num_workers: int = 2
    group_by_length: bool = False
    skip_bad_records: bool = False
    allow_absolute_media: bool = False

    def __post_init__(self) -> None:
        if self.cutoff_len < 1:
            raise ValueError(f"data.cutoff_len must be >= 1, got {self.cutoff_len}")
        if self.max_records is not None and self.max_records < 1:
            raise ValueError(f"data.max_records must be >= 1 or null, got {self.max_records}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.video_fps <= 0:
            raise ValueError(f"data.video_fps must be > 0, got {self.video_fps}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"data: need 1 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")

    def media_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`onethinker.models.build_inputs` / ``generate`` for media."""
        return {"video_fps": self.video_fps, "max_frames": self.max_frames, "min_frames": self.min_frames,
                "image_min_pixels": self.image_min_pixels, "image_max_pixels": self.image_max_pixels,
                "video_min_pixels": self.video_min_pixels, "video_max_pixels": self.video_max_pixels}


@dataclass
class SFTTrainConfig:
    """Optimisation and bookkeeping, mapped onto ``transformers.TrainingArguments``.

    ``epochs`` (may be fractional) unless ``max_steps`` > 0. The global batch is
    ``per_device_batch_size * gradient_accumulation_steps * number of processes``; the loss is the mean
    over all answer tokens of that batch. ``warmup_ratio``: share of the steps with a linear warm-up.
    ``bf16``/``fp16``: mixed precision (turned off, with a note, when there is no GPU).
    ``logging_steps``: a log line (loss, lr, grad norm, dropped items) every N optimiser steps, to the
    console, ``OUTPUT/log.jsonl`` and TensorBoard when it is installed (``report_to``: None = that;
    else a list of transformers integrations, [] for none). ``save_steps``/``save_total_limit``:
    checkpoints (model, optimiser, scheduler, RNG, trainer state, processor). ``deepspeed``: a DeepSpeed
    JSON config, a path or the name of a shipped one (``zero3``; see ``SFTConfig.deepspeed_path``). ``threads``: torch CPU threads (0: leave torch's default).
    ``overwrite``: start over in an output folder that already has checkpoints (they are deleted).
    ``training_args``: any other ``TrainingArguments`` field, passed through."""

    learning_rate: float = 1e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.02
    epochs: float = 1.0
    max_steps: int = -1
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    optim: str = "adamw_torch"
    bf16: bool = False
    fp16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    seed: int = 42
    deepspeed: str | None = None
    report_to: list[str] | None = None
    threads: int = 0
    overwrite: bool = False
    training_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"train.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.lr_scheduler not in _SCHEDULERS:
            raise ValueError(f"train.lr_scheduler {self.lr_scheduler!r} is not one of {', '.join(_SCHEDULERS)}")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("train: set epochs > 0 or max_steps > 0")
        for name in ("per_device_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.bf16 and self.fp16:
            raise ValueError("train: bf16 and fp16 are both set; choose one")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ValueError(f"train.save_total_limit must be >= 1 or null, got {self.save_total_limit}")
        if self.threads < 0:
            raise ValueError(f"train.threads must be >= 0, got {self.threads}")


@dataclass
class FormatCheckConfig:
    """After training (single process only): greedy replies to ``n`` records drawn (seeded) from ``file``
    (evaluation or RL records, e.g. ``eval_synthetic.json``; "" or null = off), media under ``media_root`` ("": the
    file's folder). Reports the share of well-formed replies (``has_valid_format``) and the mean
    reward parts; the replies go to ``OUTPUT/format_check.jsonl``."""

    file: str | None = ""  # null is read as "" (off)
    media_root: str = ""
    n: int = 40
    max_new_tokens: int = 256
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.file is None:
            self.file = ""
        if self.n < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("format_check: n, max_new_tokens and batch_size must be >= 1")


@dataclass
class SFTConfig:
    """A whole SFT run: ``onethinker train sft --config FILE [--set key=value ...] [--resume [CKPT]]``."""

    root: str = ""
    output_dir: str = "runs/sft"
    model: SFTModelConfig = field(default_factory=SFTModelConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    train: SFTTrainConfig = field(default_factory=SFTTrainConfig)
    format_check: FormatCheckConfig = field(default_factory=FormatCheckConfig)

    def path(self, value: str | Path) -> Path:
        """``value`` as a path: absolute (or ``~``) as is, relative ones under ``root``."""
        p = Path(value).expanduser()
        if p.is_absolute():
            return p
        return Path(self.root).expanduser() / p if self.root else p

    def deepspeed_path(self) -> Path | None:
        """The DeepSpeed JSON config of ``train.deepspeed``: a path (absolute, or relative to ``root``) when that
        file exists, else the name of a config shipped in ``onethinker/configs/deepspeed/`` (``zero3``: ZeRO-3
        with "auto" values that transformers fills in from this config). None when ``train.deepspeed`` is
        unset; ValueError when neither exists."""
        value = self.train.deepspeed
        if not value:
            return None
        given = self.path(value)
        if given.is_file():
            return given
        name = Path(value).name
        shipped = SHIPPED_DEEPSPEED / (name if name.endswith(".json") else f"{name}.json")
        if shipped.is_file():
            return shipped
        names = ", ".join(sorted(p.stem for p in SHIPPED_DEEPSPEED.glob("*.json")))
        raise ValueError(f"train.deepspeed {value!r}: no such file ({given}) and no shipped config of that name "
                         f"(shipped: {names})")
