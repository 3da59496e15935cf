"""``onethinker train rl --engine verl``: an onethinker RLConfig -> verl's command line, and running it.

:func:`build_command` turns the config (the paper's hyper-parameters: spec/rl-algorithm.md) into
``python -m verl.trainer.main_ppo`` with Hydra overrides of verl 0.9.1's ``ppo_trainer.yaml``, plus the
environment it needs; :func:`launch` checks the data, the model path and the plugin, writes the resolved
config and the command next to the run's outputs and runs it (or prints it, with ``dry_run``).

Mapping (RLConfig -> verl):

- data: ``data.train_files`` must be verl parquets (``onethinker data convert FILE --to verl --out X.parquet``);
  they also serve as verl's (unused) validation files; ``rollout.prompts_per_step`` -> ``data.train_batch_size``;
  ``rollout.max_new_tokens`` -> ``data.max_response_length``; prompts up to :data:`MAX_PROMPT_LENGTH` tokens;
- rollout (vLLM): ``n``, ``temperature``, ``top_p``, ``top_k`` (0 -> -1);
- actor (FSDP): ``optim.lr``, ``weight_decay``, ``betas``, ``grad_clip``, ``warmup_steps``, ``lr_schedule`` and
  ``min_lr_ratio`` (-> ``lr_scheduler_type``, ``min_lr_ratio``), ``ppo_epochs``, ``mini_batch_prompts`` ->
  ``ppo_mini_batch_size`` (verl multiplies it by n); token-budget micro-batches (``use_dynamic_bsz``);
  ``loss.clip_low/clip_high/dual_clip`` -> ``clip_ratio_low/high/c``; token-mean; ``loss.kl_coef`` > 0 -> ``use_kl_loss`` with ``low_var_kl``; ``model.freeze_vision_tower``,
  ``model.gradient_checkpointing``;
- algorithm: ``ema_grpo`` (this plugin) / ``grpo`` / ``dr_grpo`` (verl's grpo without the std division);
  ``filter_groups`` -> verl's dynamic sampling with ``metric=accuracy`` and OneThinker's rule
  (``algorithm.onethinker.*`` carries decay, min_std, guard, eps, the filter bounds and the tries);
- reward: :mod:`onethinker.integrations.verl.reward` with ``format_weight``, ``item_timeout_s``, ``workers``;
- trainer: the v1 trainer in mode ``onethinker``; ``run.max_steps``, ``save_every``, ``keep_checkpoints`` (``average_last``
  > 1 is refused: average merged checkpoints with ``onethinker model average``);
  checkpoints in ``OUTPUT/checkpoints``; verl's output in ``OUTPUT/verl.log``; TensorBoard in ``OUTPUT/tensorboard``;
  ``resume``: None -> ``resume_mode=disable``, ``latest`` -> ``auto``, a ``global_step_N`` folder -> ``resume_path``.

Nodes: one node starts its own Ray instance. Several nodes join one Ray cluster first (``ray start --head``
on one, ``ray start --address=HEAD:6379`` on the others, see :func:`ray_instructions`); the launcher then
runs on the head with ``RAY_ADDRESS`` (``auto`` when unset). Extra Hydra overrides can be appended through
the environment variable ``ONETHINKER_VERL_OVERRIDES`` (shell-quoted, applied last).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ...rl.config import RLConfig
from . import ESTIMATOR, PLUGIN_MODULE, REWARD_MODULE, TRAINER_MODE, VERL_VERSION

#: prompts up to this many tokens (the paper's "max prompt 16384"; RLConfig has no such field)
MAX_PROMPT_LENGTH = 16384
#: Qwen3-VL's vision patch (verl's data.image_patch_size defaults to Qwen2.5-VL's 14)
IMAGE_PATCH_SIZE = 16
OVERRIDES_ENV = "ONETHINKER_VERL_OVERRIDES"
PYTHON_ENV = "ONETHINKER_VERL_PYTHON"
REQUIRED_COLUMNS = ("prompt", "reward_model", "extra_info")
VIDEO_READER_ENV = "FORCE_QWENVL_VIDEO_READER"


class LaunchError(ValueError):
    """A config or environment that cannot run on verl; the message says what to change."""


@dataclass
class VerlCommand:
    argv: list[str]  # python -m verl.trainer.main_ppo OVERRIDES...
    env: dict[str, str]  # variables to set on top of the caller's environment
    notes: list[str] = field(default_factory=list)  # printed before the command
    output_dir: Path = Path(".")

    def shell(self) -> str:
        """The command as one copy-pasteable shell command (environment first, one override per line)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        head = " ".join(shlex.quote(a) for a in self.argv[:3])
        lines = [f"{env} \\", f"  {head} \\"] if env else [f"{head} \\"]
        body = [f"    {shlex.quote(a)}" for a in self.argv[3:]]
        return "\n".join(lines) + "\n" + " \\\n".join(body)


# -------------------------------------------------------------------------------------------------
# Hydra values
# -------------------------------------------------------------------------------------------------
_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+@:")


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (strings quoted when they need it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value)
    if text and set(text) <= _PLAIN and text not in ("null", "true", "false") and not _looks_numeric(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------------------------
# building the command
# -------------------------------------------------------------------------------------------------
def _abs(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


def _model_path(path: str) -> str:
    if not path:
        raise LaunchError("model.path is empty: set it to the SFT checkpoint (a folder, or a Hugging Face model id)")
    p = Path(path).expanduser()
    local = path.startswith((".", "/", "~")) or p.exists()
    return str(p.resolve()) if local else path


def resume_overrides(resume: str | None) -> list[str]:
    if resume is None:
        return ["trainer.resume_mode=disable"]
    if resume == "latest":
        return ["trainer.resume_mode=auto"]
    folder = _abs(resume)
    if "global_step_" not in Path(folder).name:
        raise LaunchError(f"--resume {resume}: verl resumes from a checkpoint folder named global_step_<N> "
                          "(in OUTPUT/checkpoints), or use --resume alone for the latest")
    return ["trainer.resume_mode=resume_path", f"trainer.resume_from_path={hydra_value(folder)}"]


def _check_config(cfg: RLConfig) -> None:
    if cfg.algorithm.estimator not in ("ema_grpo", "grpo", "dr_grpo"):
        raise LaunchError(f"algorithm.estimator {cfg.algorithm.estimator!r}: expected ema_grpo, grpo or dr_grpo")
    if cfg.data.tasks:
        raise LaunchError("data.tasks is not supported with verl: convert only the records of those tasks to the "
                          "verl parquet instead")
    if cfg.data.task_weights:
        raise LaunchError("data.task_weights is not supported with verl: repeat those tasks' records in the verl "
                          "parquet instead")
    if cfg.model.freeze_projector:
        raise LaunchError("model.freeze_projector is not supported by verl (it can freeze the vision tower only)")
    if cfg.reward.judge.backend != "rouge":
        raise LaunchError("reward.judge.backend polar is not supported with verl: the judge normalises the rollouts "
                          "of one prompt together, and verl scores rollouts one at a time")
    if not cfg.data.train_files:
        raise LaunchError("data.train_files is empty: list the verl parquet files "
                          "(onethinker data convert FILE --to verl --out OUT.parquet)")
    if cfg.rollout.prompts_per_step % cfg.optim.mini_batch_prompts:
        raise LaunchError(f"rollout.prompts_per_step {cfg.rollout.prompts_per_step} is not a multiple of "
                          f"optim.mini_batch_prompts {cfg.optim.mini_batch_prompts}")
    if cfg.run.average_last > 1:
        raise LaunchError(f"run.average_last {cfg.run.average_last} is not supported with verl (its checkpoints are FSDP "
                          "shards): merge the last checkpoints to Hugging Face folders (verl's model_merger), then "
                          "`onethinker model average A B ... --out FINAL`")


def build_command(cfg: RLConfig, *, nnodes: int = 1, gpus_per_node: int = 8, resume: str | None = None,
                  python: str = "python", extra_overrides: Sequence[str] = ()) -> VerlCommand:
    """The verl command for ``cfg`` (no files are read or written)."""
    if nnodes < 1 or gpus_per_node < 1:
        raise LaunchError(f"--nnodes {nnodes} and --gpus-per-node {gpus_per_node} must be at least 1")
    _check_config(cfg)
    out = Path(_abs(cfg.run.output_dir))
    files = [_abs(f) for f in cfg.data.train_files]
    r, a, o, loss = cfg.rollout, cfg.algorithm, cfg.optim, cfg.loss
    max_tokens = MAX_PROMPT_LENGTH + r.max_new_tokens
    tp = 1 if gpus_per_node == 1 else 2
    # qwen-vl-utils (verl's media loader) would pick torchcodec whenever it is installed (verl-core installs it;
    # it needs system FFmpeg and a torch it was built for) and fall back to torchvision.io; decord is in the
    # `verl` extra and self-contained
    video_reader = os.environ.get(VIDEO_READER_ENV) or "decord"

    ov: list[str] = [
        # data: the verl parquet of `onethinker data convert --to verl`
        f"data.train_files={hydra_value(files)}",
        f"data.val_files={hydra_value(files)}",
        "data.val_max_samples=8",
        f"data.train_max_samples={cfg.data.max_records if cfg.data.max_records else -1}",
        "data.prompt_key=prompt",
        "data.image_key=images",
        "data.video_key=videos",
        f"data.image_patch_size={IMAGE_PATCH_SIZE}",
        "data.filter_overlong_prompts=false",
        f"data.max_prompt_length={MAX_PROMPT_LENGTH}",
        f"data.max_response_length={r.max_new_tokens}",
        f"data.train_batch_size={r.prompts_per_step}",
        f"data.seed={cfg.run.seed}",
        # model and actor (FSDP)
        f"actor_rollout_ref.model.path={hydra_value(_model_path(cfg.model.path))}",
        f"actor_rollout_ref.model.enable_gradient_checkpointing={hydra_value(cfg.model.gradient_checkpointing)}",
        f"actor_rollout_ref.actor.freeze_vision_tower={hydra_value(cfg.model.freeze_vision_tower)}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={o.mini_batch_prompts}",
        "actor_rollout_ref.actor.use_dynamic_bsz=true",
        f"actor_rollout_ref.actor.ppo_max_token_len_per_gpu={max_tokens}",
        f"actor_rollout_ref.actor.ppo_epochs={o.ppo_epochs}",
        f"actor_rollout_ref.actor.optim.lr={hydra_value(o.lr)}",
        f"actor_rollout_ref.actor.optim.weight_decay={hydra_value(o.weight_decay)}",
        f"actor_rollout_ref.actor.optim.betas={hydra_value([float(b) for b in o.betas])}",
        f"actor_rollout_ref.actor.optim.clip_grad={hydra_value(o.grad_clip)}",
        f"actor_rollout_ref.actor.grad_clip={hydra_value(o.grad_clip)}",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps={o.warmup_steps}",
        f"actor_rollout_ref.actor.optim.lr_scheduler_type={o.lr_schedule}",
        f"actor_rollout_ref.actor.optim.min_lr_ratio={hydra_value(float(o.min_lr_ratio))}",
        # policy loss (spec/rl-algorithm.md): token-mean clipped surrogate, dual clip for A < 0
        f"actor_rollout_ref.actor.clip_ratio_low={hydra_value(loss.clip_low)}",
        f"actor_rollout_ref.actor.clip_ratio_high={hydra_value(loss.clip_high)}",
        # verl asserts clip_ratio_c > 1; dual_clip 0 (off) becomes a bound that never binds
        f"actor_rollout_ref.actor.clip_ratio_c={hydra_value(loss.dual_clip if loss.dual_clip > 1 else 1e9)}",
        "actor_rollout_ref.actor.loss_agg_mode=token-mean",
        "actor_rollout_ref.actor.entropy_coeff=0",
        f"actor_rollout_ref.actor.use_kl_loss={hydra_value(loss.kl_coef > 0)}",
        f"actor_rollout_ref.actor.kl_loss_coef={hydra_value(loss.kl_coef)}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        # rollout (vLLM)
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={r.n}",
        f"actor_rollout_ref.rollout.temperature={hydra_value(r.temperature)}",
        f"actor_rollout_ref.rollout.top_p={hydra_value(r.top_p)}",
        f"actor_rollout_ref.rollout.top_k={r.top_k if r.top_k > 0 else -1}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp}",
        f"actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu={max_tokens}",
        f"actor_rollout_ref.ref.log_prob_max_token_len_per_gpu={max_tokens}",
        # advantages and dynamic sampling
        f"algorithm.adv_estimator={'grpo' if a.estimator == 'dr_grpo' else a.estimator}",
        f"algorithm.norm_adv_by_std_in_grpo={hydra_value(a.estimator != 'dr_grpo')}",
        "algorithm.use_kl_in_reward=false",
        f"algorithm.filter_groups.enable={hydra_value(a.filter_groups)}",
        "algorithm.filter_groups.metric=accuracy",
        f"+algorithm.onethinker.ema_decay={hydra_value(a.ema_decay)}",
        f"+algorithm.onethinker.min_std={hydra_value(a.min_std)}",
        f"+algorithm.onethinker.guard={hydra_value(a.guard)}",
        f"+algorithm.onethinker.eps={hydra_value(a.eps)}",
        f"+algorithm.onethinker.filter_low={hydra_value(a.filter_low)}",
        f"+algorithm.onethinker.filter_high={hydra_value(a.filter_high)}",
        f"+algorithm.onethinker.drop_equal_scores={hydra_value(a.drop_equal_scores)}",
        f"+algorithm.onethinker.max_sampling_tries={a.max_sampling_tries}",
        # reward: onethinker.rewards through verl's custom reward function
        f"reward.custom_reward_function.path=pkg://{REWARD_MODULE}",
        "reward.custom_reward_function.name=compute_score",
        f"+reward.custom_reward_function.reward_kwargs.format_weight={hydra_value(cfg.reward.format_weight)}",
        f"+reward.custom_reward_function.reward_kwargs.item_timeout_s={hydra_value(cfg.reward.item_timeout_s)}",
        "reward.reward_manager.name=naive",
    ]
    if cfg.reward.workers >= 0:
        ov.append(f"+reward.custom_reward_function.reward_kwargs.workers={cfg.reward.workers}")
    ov += [
        # trainer: verl's v1 sync trainer with onethinker's hooks
        "trainer.use_v1=true",
        f"trainer.v1.trainer_mode={TRAINER_MODE}",
        f"trainer.nnodes={nnodes}",
        f"trainer.n_gpus_per_node={gpus_per_node}",
        f"trainer.total_training_steps={cfg.run.max_steps}",
        "trainer.total_epochs=1000000",
        f"trainer.save_freq={cfg.run.save_every}",
        f"trainer.max_actor_ckpt_to_keep={cfg.run.keep_checkpoints}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.critic_warmup=0",
        f"trainer.default_local_dir={hydra_value(str(out / 'checkpoints'))}",
        f"trainer.logger={hydra_value(['console', 'tensorboard'] if cfg.run.tensorboard else ['console'])}",
        "trainer.project_name=onethinker",
        f"trainer.experiment_name={hydra_value(out.name or 'rl')}",
        *resume_overrides(resume),
        # every Ray worker, on every node, imports the plugin too (the entry point alone fails silently) and
        # logs TensorBoard into the run folder (the trainer actor may run on any node)
        f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES={PLUGIN_MODULE}",
        f"+ray_kwargs.ray_init.runtime_env.env_vars.TENSORBOARD_DIR={hydra_value(str(out / 'tensorboard'))}",
        f"+ray_kwargs.ray_init.runtime_env.env_vars.FORCE_QWENVL_VIDEO_READER={hydra_value(video_reader)}",
        f"hydra.run.dir={hydra_value(str(out / 'hydra'))}",
    ]
    ov += list(extra_overrides)

    env = {"VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE, "TENSORBOARD_DIR": str(out / "tensorboard"),
           VIDEO_READER_ENV: video_reader}
    notes: list[str] = []
    if nnodes > 1 or os.environ.get("RAY_ADDRESS"):
        env["RAY_ADDRESS"] = os.environ.get("RAY_ADDRESS") or "auto"
    if nnodes > 1:
        notes += ray_instructions(nnodes, gpus_per_node)
    return VerlCommand([python, "-m", "verl.trainer.main_ppo", *ov], env, notes, out)


def ray_instructions(nnodes: int, gpus_per_node: int) -> list[str]:
    return [
        f"{nnodes} nodes: start one Ray cluster first, with the same .venv-verl (onethinker installed) on every node and",
        "the data, model and output folders on storage all nodes see at the same paths:",
        f"  head node:        VERL_USE_EXTERNAL_MODULES={PLUGIN_MODULE} ray start --head --port=6379",
        f"  each other node:  VERL_USE_EXTERNAL_MODULES={PLUGIN_MODULE} ray start --address=HEAD_IP:6379",
        f"  check:            ray status   (expect {nnodes * gpus_per_node} GPUs)",
        "then run this command on the head node (RAY_ADDRESS=auto joins the cluster running there; set RAY_ADDRESS",
        "to HEAD_IP:6379 to launch from elsewhere). `ray stop` on every node ends the cluster.",
    ]


# -------------------------------------------------------------------------------------------------
# checks
# -------------------------------------------------------------------------------------------------
def check_data(files: Sequence[str]) -> None:
    """Every file exists and is a verl parquet of `onethinker data convert --to verl`."""
    import pyarrow.parquet as pq

    for f in files:
        p = Path(f)
        convert = f"onethinker data convert {p} --to verl --out {p.with_suffix('.parquet')}"
        if p.suffix.lower() in (".json", ".jsonl"):
            raise LaunchError(f"data.train_files: {p} is a record file; verl reads the converted parquet: {convert}")
        if not p.is_file():
            raise LaunchError(f"data.train_files: {p} does not exist (convert the RL-train records with "
                              "`onethinker data convert FILE --to verl --out OUT.parquet`)")
        try:
            names = set(pq.read_schema(p).names)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise LaunchError(f"data.train_files: {p} is not a readable parquet file ({e})") from e
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise LaunchError(f"data.train_files: {p} lacks the verl columns {missing} (has {sorted(names)}); "
                              f"convert the records with: {convert}")


def check_model(path: str) -> None:
    p = Path(path)
    if p.is_absolute() and not p.exists():
        raise LaunchError(f"model.path {path} does not exist")


def find_python() -> str | None:
    """The interpreter that has verl: $ONETHINKER_VERL_PYTHON, this one, or the repository's .venv-verl."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        return explicit
    if importlib.util.find_spec("verl") is not None:
        return sys.executable
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = root / ".venv-verl" / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return None


def plugin_check(python: str, env: dict[str, str]) -> str:
    """'' when verl imports and resolves ``ema_grpo`` and the onethinker trainer in ``python``, else why not."""
    proc = subprocess.run([python, "-m", PLUGIN_MODULE, "--check"], env={**os.environ, **env},
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return ""
    lines = [line for line in (proc.stderr + proc.stdout).splitlines()
             if "onethinker verl plugin" in line or "Error" in line]
    return "\n".join(lines[-10:]) or f"{python} -m {PLUGIN_MODULE} --check exited with {proc.returncode}"


# -------------------------------------------------------------------------------------------------
# the CLI entry
# -------------------------------------------------------------------------------------------------
def launch(cfg: RLConfig, config_path: str | None = None, *, nnodes: int = 1, gpus_per_node: int = 8,
           dry_run: bool = False, resume: str | None = None) -> int:
    """Run (or with ``dry_run`` print) verl for ``cfg``; returns the exit status."""
    from ...config import save_config

    def say(text: str) -> None:  # plain text: the command must stay copy-pasteable (no wrapping, no markup)
        print(text, flush=True)

    def error(text: str) -> None:
        print(f"error: {text}", file=sys.stderr, flush=True)

    python = find_python()
    extra = shlex.split(os.environ.get(OVERRIDES_ENV, ""))
    try:
        cmd = build_command(cfg, nnodes=nnodes, gpus_per_node=gpus_per_node, resume=resume,
                            python=python or "python", extra_overrides=extra)
        if not dry_run:
            check_data(cfg.data.train_files)
            check_model(_model_path(cfg.model.path))
            if python is None:
                raise LaunchError(f"verl is not importable here: run `make verl-env`, then use .venv-verl/bin/onethinker "
                                  f"(or set {PYTHON_ENV} to a Python with verl {VERL_VERSION})")
    except LaunchError as e:
        error(str(e))
        return 2

    if dry_run:
        for note in cmd.notes:
            say(f"# {note}")
        if python is None:
            say("# verl is not importable here: run `make verl-env` and launch with .venv-verl/bin/onethinker")
        say(cmd.shell())
        return 0

    problem = plugin_check(python, cmd.env)
    if problem:
        error(f"the onethinker verl plugin is not usable in {python}:\n{problem}")
        return 1
    ckpt = cmd.output_dir / "checkpoints"
    if resume is None and (ckpt / "latest_checkpointed_iteration.txt").exists():
        say(f"note: {ckpt} has checkpoints; this run starts from step 0 (use --resume to continue)")
    for note in cmd.notes:
        say(note)
    cmd.output_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cmd.output_dir / "config.yaml")
    script = cmd.output_dir / "verl_command.sh"
    script.write_text("#!/usr/bin/env bash\n# written by onethinker train rl --engine verl"
                      + (f" --config {config_path}" if config_path else "") + "\n" + cmd.shell() + "\n", encoding="utf-8")
    say(f"verl {VERL_VERSION}: {ESTIMATOR if cfg.algorithm.estimator == 'ema_grpo' else cfg.algorithm.estimator}, "
        f"{nnodes} node(s) x {gpus_per_node} GPU(s); command in {script}")
    log_path = cmd.output_dir / "verl.log"
    say(f"logs: {log_path} (all verl prints, its Ray workers' included), {cmd.env['TENSORBOARD_DIR']} (TensorBoard); "
        f"checkpoints: {ckpt}")
    return run_logged(cmd.argv, {**os.environ, **cmd.env}, log_path)


def run_logged(argv: Sequence[str], env: dict[str, str], log_path: Path) -> int:
    """Run ``argv``, copying its output (stdout and stderr) to this terminal and to ``log_path`` (appended);
    returns its exit status. verl's trainer runs in a Ray actor whose prints reach only the driver's output,
    not Hydra's log file, so this copy is the run's log."""
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n==== {' '.join(shlex.quote(a) for a in argv[:3])} ... ({len(argv) - 3} overrides)\n")
        proc = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
            return proc.wait()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached verl too; let it stop
            return proc.wait()
