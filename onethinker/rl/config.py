"""Configuration of the native RL trainer (YAML via onethinker.config; every run writes its resolved copy)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..reward import RewardConfig
from .advantages import ESTIMATORS
from .loss import LossConfig


@dataclass
class RLModelConfig:
    path: str = ""  # the policy to start from (the SFT checkpoint)
    dtype: str = "auto"
    device: str = "cpu"
    gradient_checkpointing: bool = False
    freeze_vision_tower: bool = True  # as in the SFT cold start: only the language model learns
    freeze_projector: bool = False
    threads: int = 0  # torch CPU threads; 0: torch's default

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"model.threads must be >= 0, got {self.threads}")


@dataclass
class RLDataConfig:
    train_files: list[str] = field(default_factory=list)  # RL-train record files
    media_root: str | None = None  # default: the folder of the first file
    max_records: int | None = None
    tasks: list[str] = field(default_factory=list)  # task keys to keep; empty: all
    # task key -> how many times each of its records enters the prompt stream (default 1): more RL prompts for a
    # key the pool holds few of, e.g. {"tracking": 5}. A data type ("image", "video") weighs every record of that
    # type whose task key has no weight of its own, e.g. {"video": 3} for the video questions of every key
    task_weights: dict[str, int] = field(default_factory=dict)
    # a record the trainer cannot use (onethinker.rl.data) is skipped and counted instead of stopping the run
    skip_bad_records: bool = False

    def __post_init__(self) -> None:
        if self.max_records is not None and self.max_records < 1:
            raise ValueError(f"data.max_records must be >= 1 or null, got {self.max_records}")
        from ..tasks import TASKS, TRAIN_DATA_TYPES

        self.task_weights = dict(self.task_weights or {})
        for key, w in self.task_weights.items():
            if key not in TASKS and key not in TRAIN_DATA_TYPES:
                raise ValueError(f"data.task_weights: unknown task key {key!r}; known: {', '.join(TASKS)}, or a "
                                 f"data type ({', '.join(TRAIN_DATA_TYPES)})")
            if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                raise ValueError(f"data.task_weights[{key!r}] must be an integer >= 1, got {w!r}")


@dataclass
class RolloutConfig:
    prompts_per_step: int = 128  # rollout batch, in prompts (paper: 128)
    n: int = 8  # rollouts per prompt (paper: 8)
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 4096
    generation_batch_size: int = 16  # prompts per sampling call
    # "fast": each prompt prefilled once for its n samples, finished rows leave the batch; "stream": the same
    # engine in one decode batch per step that the filter's refills join as groups finish (continuous batching);
    # "generate": transformers generate (the former path; same distributions, other random draws); see
    # onethinker.models.sampling
    sampler: str = "fast"
    video_fps: float = 2.0
    max_frames: int = 128
    image_max_pixels: int | None = None
    video_max_pixels: int | None = None

    def __post_init__(self) -> None:
        for name in ("prompts_per_step", "n", "max_new_tokens", "generation_batch_size", "max_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"rollout.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("image_max_pixels", "video_max_pixels"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"rollout.{name} must be >= 1 or null, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"rollout.temperature must be >= 0 (0: greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"rollout.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"rollout.top_k must be >= 0 (0: off), got {self.top_k}")
        if self.video_fps <= 0:
            raise ValueError(f"rollout.video_fps must be > 0, got {self.video_fps}")
        if self.sampler not in ("stream", "fast", "generate"):
            raise ValueError(f"rollout.sampler must be 'stream', 'fast' or 'generate', got {self.sampler!r}")


@dataclass
class AlgorithmConfig:
    estimator: str = "ema_grpo"  # grpo | dr_grpo | ema_grpo
    ema_decay: float = 0.99
    min_std: float = 1e-3
    guard: float = 5.0
    eps: float = 1e-6
    filter_groups: bool = True  # drop groups whose mean accuracy is <= low or >= high
    filter_low: float = 0.01
    filter_high: float = 0.99
    drop_equal_scores: bool = False
    max_sampling_tries: int = 20  # dynamic sampling: draws of prompts per step at most

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"algorithm.estimator {self.estimator!r} is not one of {', '.join(ESTIMATORS)}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"algorithm.ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("min_std", "guard"):
            if getattr(self, name) <= 0:
                raise ValueError(f"algorithm.{name} must be > 0, got {getattr(self, name)}")
        if self.eps < 0:
            raise ValueError(f"algorithm.eps must be >= 0, got {self.eps}")
        # a negative filter_low (down to -1) drops no group for low accuracy: groups whose samples all score 0
        # are kept where their rewards still differ (with drop_equal_scores), so such a key keeps a gradient
        if not -1 <= self.filter_low < self.filter_high <= 1:
            raise ValueError(f"algorithm: need -1 <= filter_low < filter_high <= 1, got {self.filter_low}, "
                             f"{self.filter_high}")
        if self.max_sampling_tries < 1:
            raise ValueError(f"algorithm.max_sampling_tries must be >= 1, got {self.max_sampling_tries}")


@dataclass
class OptimConfig:
    lr: float = 2e-6
    weight_decay: float = 1e-2
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    # after the warm-up: "constant" (the paper's) or "cosine", which falls to min_lr_ratio x lr at
    # run.max_steps (as verl's actor.optim.lr_scheduler_type / min_lr_ratio)
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    mini_batch_prompts: int = 32  # prompts per policy update (paper: global batch 32)
    micro_batch_size: int = 8  # rollouts per forward/backward (gradient accumulation)
    ppo_epochs: int = 1  # passes over the rollout batch
    # a group's prompt (pictures, video) runs forward/backward once per micro-batch and its rollouts'
    # responses run on its cache (onethinker.rl.shared_prompt); false: every rollout carries its prompt
    shared_prompt: bool = True

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {self.betas}")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"optim.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_clip <= 0:
            raise ValueError(f"optim.grad_clip must be > 0, got {self.grad_clip}")
        for name in ("mini_batch_prompts", "micro_batch_size", "ppo_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"optim.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class RLRunConfig:
    output_dir: str = "runs/rl"
    max_steps: int = 200
    seed: int = 0
    save_every: int = 50
    keep_checkpoints: int = 2
    #: the final model is the element-wise mean of the weights of the last N checkpoints (the one of the last
    #: step and the N-1 periodic ones before it, ``save_every`` apart): tail averaging. 1: the last step's weights
    average_last: int = 1
    log_every: int = 1
    tensorboard: bool = True  # when the tensorboard package is installed

    def __post_init__(self) -> None:
        # save_every / log_every 0: no periodic checkpoints (the last step is still saved) / no log lines
        for name in ("max_steps", "save_every", "log_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"run.{name} must be >= 0, got {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"run.keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.average_last < 1:
            raise ValueError(f"run.average_last must be >= 1, got {self.average_last}")
        if self.average_last > 1:
            saved = -(-self.max_steps // self.save_every) if self.save_every else 1  # checkpoints a run leaves
            if self.average_last > min(saved, self.keep_checkpoints):
                raise ValueError(
                    f"run.average_last={self.average_last} averages that many checkpoints, but the run keeps "
                    f"{min(saved, self.keep_checkpoints)} (max_steps={self.max_steps}, save_every={self.save_every}, "
                    f"keep_checkpoints={self.keep_checkpoints}): raise keep_checkpoints or lower average_last")


@dataclass
class RLConfig:
    """``root``: relative paths (model, data files, media root, output folder) are under it ("" = the
    current directory), so one recipe serves any run folder (the demo sets it to its own)."""

    root: str = ""
    model: RLModelConfig = field(default_factory=RLModelConfig)
    data: RLDataConfig = field(default_factory=RLDataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    run: RLRunConfig = field(default_factory=RLRunConfig)

    def resolved(self) -> "RLConfig":
        """A copy with every relative path joined to ``root`` (absolute paths and hub ids stay)."""
        import copy
        from pathlib import Path

        cfg = copy.deepcopy(self)
        base = Path(cfg.root) if cfg.root else None
        if base is None:
            return cfg

        def under(p: str | None) -> str | None:
            if not p or Path(p).is_absolute():
                return p
            return str(base / p)

        local = under(cfg.model.path)
        if local and Path(local).exists():  # a hub id like org/name stays as it is
            cfg.model.path = local
        cfg.data.train_files = [under(f) or f for f in cfg.data.train_files]
        cfg.data.media_root = under(cfg.data.media_root)
        cfg.run.output_dir = under(cfg.run.output_dir) or cfg.run.output_dir
        return cfg
