"""The verl integration (onethinker.integrations.verl, docs/verl.md).

Two ways to run this file:
- in the main environment (`make test`): the launcher (dry-run command line), the group uids, the EMA state
  files and the reward function run; everything that goes through verl's own code is skipped, saying why;
- with verl (`make verl-env`, then `.venv-verl/bin/python -m pytest tests/test_verl.py`): all of it, the
  estimator through verl's advantage code, the reward through verl's reward managers, the trainer hooks on
  verl's trainer and replay buffer, and the command line composed against verl's own Hydra config.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from onethinker.integrations.verl import ESTIMATOR, PLUGIN_MODULE, TRAINER_MODE, launcher, reward, state, uid
from onethinker.integrations.verl.launcher import LaunchError, build_command, hydra_value, launch
from onethinker.rewards import RewardConfig, RewardScorer
from onethinker.rl.advantages import AdvantageError, EMAStats, ema_grpo
from onethinker.rl.config import RLConfig
from onethinker.rl.filtering import keep_groups


def _verl_status() -> str:
    """'' when verl imports in this interpreter, else why not."""
    if importlib.util.find_spec("verl") is None:
        return "not installed"
    try:
        importlib.import_module("verl")
    except Exception as e:  # noqa: BLE001
        return f"import failed: {type(e).__name__}: {e}"
    return ""


VERL_STATUS = _verl_status()
needs_verl = pytest.mark.skipif(
    bool(VERL_STATUS),
    reason=f"verl is not importable in {sys.executable} ({VERL_STATUS}); run `make verl-env`, then "
    "`.venv-verl/bin/python -m pytest tests/test_verl.py`",
)
RL_FILE = "onethinker_rl_train.json"


def rl_config(tmp_path: Path, files: list[str] | None = None) -> RLConfig:
    cfg = RLConfig()
    cfg.model.path = str(tmp_path / "sft-model")
    cfg.data.train_files = files if files is not None else [str(tmp_path / "train.parquet")]
    cfg.run.output_dir = str(tmp_path / "run")
    return cfg


def overrides(cmd) -> dict[str, str]:
    out = {}
    for arg in cmd.argv[3:]:
        key, _, value = arg.partition("=")
        out[key] = value
    return out


# =================================================================================================
# launcher (no verl needed)
# =================================================================================================
def test_command_carries_the_paper_hyper_parameters(tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_QWENVL_VIDEO_READER", raising=False)
    cmd = build_command(rl_config(tmp_path), nnodes=1, gpus_per_node=8, python="/venv/bin/python")
    assert cmd.argv[:3] == ["/venv/bin/python", "-m", "verl.trainer.main_ppo"]
    o = overrides(cmd)
    expected = {
        "data.train_batch_size": "128", "actor_rollout_ref.rollout.n": "8",
        "actor_rollout_ref.actor.ppo_mini_batch_size": "32", "actor_rollout_ref.actor.optim.lr": "2e-06",
        "actor_rollout_ref.actor.optim.weight_decay": "0.01", "actor_rollout_ref.actor.optim.clip_grad": "1.0",
        "actor_rollout_ref.actor.clip_ratio_low": "0.2", "actor_rollout_ref.actor.clip_ratio_high": "0.3",
        "actor_rollout_ref.actor.clip_ratio_c": "3.0", "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
        "actor_rollout_ref.actor.use_kl_loss": "false", "algorithm.use_kl_in_reward": "false",
        "data.max_prompt_length": "16384", "data.max_response_length": "4096",
        "actor_rollout_ref.rollout.temperature": "1.0", "actor_rollout_ref.rollout.top_p": "1.0",
        "actor_rollout_ref.rollout.name": "vllm", "trainer.n_gpus_per_node": "8", "trainer.nnodes": "1",
        "algorithm.adv_estimator": "ema_grpo", "algorithm.filter_groups.enable": "true",
        "algorithm.filter_groups.metric": "accuracy", "+algorithm.onethinker.filter_low": "0.01",
        "+algorithm.onethinker.filter_high": "0.99", "+algorithm.onethinker.ema_decay": "0.99",
        "reward.custom_reward_function.path": "pkg://onethinker.integrations.verl.reward",
        "reward.custom_reward_function.name": "compute_score", "trainer.use_v1": "true",
        "trainer.v1.trainer_mode": TRAINER_MODE, "trainer.total_training_steps": "200",
        "trainer.save_freq": "50", "trainer.resume_mode": "disable",
        "+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE,
    }
    assert {k: o.get(k) for k in expected} == expected
    assert o["data.train_files"] == f"[{tmp_path / 'train.parquet'}]"
    assert o["trainer.default_local_dir"] == str(tmp_path / "run" / "checkpoints")
    assert o["actor_rollout_ref.model.path"] == str(tmp_path / "sft-model")
    assert cmd.env["VERL_USE_EXTERNAL_MODULES"] == PLUGIN_MODULE
    assert cmd.env["FORCE_QWENVL_VIDEO_READER"] == "decord" == o["+ray_kwargs.ray_init.runtime_env.env_vars.FORCE_QWENVL_VIDEO_READER"]
    assert cmd.env["TENSORBOARD_DIR"] == str(tmp_path / "run" / "tensorboard")
    assert o["+ray_kwargs.ray_init.runtime_env.env_vars.TENSORBOARD_DIR"] == str(tmp_path / "run" / "tensorboard")
    assert "RAY_ADDRESS" not in cmd.env or os.environ.get("RAY_ADDRESS")


def test_command_variants(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = rl_config(tmp_path)
    cfg.algorithm.estimator = "dr_grpo"
    cfg.loss.kl_coef = 0.01
    cfg.loss.dual_clip = 0.0
    cmd = build_command(cfg, nnodes=4, gpus_per_node=8, resume="latest")
    o = overrides(cmd)
    assert o["algorithm.adv_estimator"] == "grpo" and o["algorithm.norm_adv_by_std_in_grpo"] == "false"
    assert o["actor_rollout_ref.actor.use_kl_loss"] == "true" and o["actor_rollout_ref.actor.kl_loss_coef"] == "0.01"
    assert o["actor_rollout_ref.actor.kl_loss_type"] == "low_var_kl"
    assert float(o["actor_rollout_ref.actor.clip_ratio_c"]) > 1e6  # dual clip off (verl asserts c > 1)
    assert o["trainer.nnodes"] == "4" and o["trainer.resume_mode"] == "auto"
    assert o["actor_rollout_ref.actor.optim.lr_scheduler_type"] == "constant"
    cfg.optim.lr_schedule, cfg.optim.min_lr_ratio = "cosine", 0.1
    o = overrides(build_command(cfg))
    assert o["actor_rollout_ref.actor.optim.lr_scheduler_type"] == "cosine"
    assert o["actor_rollout_ref.actor.optim.min_lr_ratio"] == "0.1"
    assert cmd.env["RAY_ADDRESS"] == "auto" and any("ray start --head" in n for n in cmd.notes)
    step = tmp_path / "run" / "checkpoints" / "global_step_40"
    o = overrides(build_command(cfg, resume=str(step)))
    assert o["trainer.resume_mode"] == "resume_path" and o["trainer.resume_from_path"] == str(step)
    with pytest.raises(LaunchError, match="global_step_"):
        build_command(cfg, resume=str(tmp_path))
    o = overrides(build_command(cfg, gpus_per_node=1, extra_overrides=["actor_rollout_ref.rollout.n=4"]))
    assert o["actor_rollout_ref.rollout.tensor_model_parallel_size"] == "1"
    assert build_command(cfg, extra_overrides=["actor_rollout_ref.rollout.n=4"]).argv[-1] == "actor_rollout_ref.rollout.n=4"


@pytest.mark.parametrize("change, words", [
    (lambda c: setattr(c.data, "tasks", ["ocr"]), "data.tasks"),
    (lambda c: setattr(c.data, "task_weights", {"tracking": 5}), "data.task_weights"),
    (lambda c: setattr(c.reward.judge, "backend", "polar"), "polar"),
    (lambda c: setattr(c.model, "freeze_projector", True), "freeze_projector"),
    (lambda c: setattr(c.data, "train_files", []), "train_files is empty"),
    (lambda c: setattr(c.model, "path", ""), "model.path"),
    (lambda c: setattr(c.optim, "mini_batch_prompts", 48), "multiple"),
    (lambda c: setattr(c.run, "average_last", 2), "model average"),
])
def test_command_refuses_what_verl_cannot_do(tmp_path, change, words):
    cfg = rl_config(tmp_path)
    change(cfg)
    with pytest.raises(LaunchError, match=words):
        build_command(cfg)


def test_printed_command_is_the_command(tmp_path):
    import shlex

    cfg = rl_config(tmp_path, [str(tmp_path / "a b.parquet"), str(tmp_path / "it's.parquet")])
    cmd = build_command(cfg, nnodes=2, python="/venv/bin/python", extra_overrides=["+x.y='q r'"])
    words = shlex.split(cmd.shell().replace("\\\n", " "))
    assert words == [f"{k}={v}" for k, v in cmd.env.items()] + cmd.argv


def test_run_logged_copies_the_output(tmp_path, capsys):
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    assert launcher.run_logged([sys.executable, "-c", code], dict(os.environ), tmp_path / "verl.log") == 3
    log = (tmp_path / "verl.log").read_text()
    assert "to stdout" in log and "to stderr" in log and "to stdout" in capsys.readouterr().out


def test_hydra_values():
    assert hydra_value("/a/b.parquet") == "/a/b.parquet"
    assert hydra_value("/a b/c.parquet") == "'/a b/c.parquet'"
    assert hydra_value("it's") == "'it\\'s'"
    assert hydra_value(["x", "y z"]) == "[x,'y z']"
    assert hydra_value(True) == "true" and hydra_value(None) == "null" and hydra_value(2e-6) == "2e-06"
    assert hydra_value("1e3") == "'1e3'" and hydra_value("null") == "'null'"


def test_dry_run_prints_the_command_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("ONETHINKER_VERL_OVERRIDES", "actor_rollout_ref.rollout.gpu_memory_utilization=0.4")
    config = tmp_path / "rl.yaml"
    config.write_text(f"model: {{path: {tmp_path / 'sft'}}}\ndata: {{train_files: [{tmp_path / 'missing.parquet'}]}}\n"
                      f"run: {{output_dir: {tmp_path / 'out'}}}\n")
    from onethinker.cli import main

    assert main(["train", "rl", "--engine", "verl", "--config", str(config), "--dry-run", "--nnodes", "2",
                 "--gpus-per-node", "4"]) == 0
    text = capsys.readouterr().out
    assert "VERL_USE_EXTERNAL_MODULES=onethinker.integrations.verl.plugin" in text
    assert "-m verl.trainer.main_ppo" in text and "trainer.nnodes=2" in text and "trainer.n_gpus_per_node=4" in text
    assert "algorithm.adv_estimator=ema_grpo" in text and "ray start --head" in text
    assert text.rstrip().endswith("actor_rollout_ref.rollout.gpu_memory_utilization=0.4")
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_launch_checks_the_data_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launcher, "find_python", lambda: sys.executable)
    ran = []
    monkeypatch.setattr(launcher.subprocess, "run", lambda *a, **k: ran.append(a))
    cfg = rl_config(tmp_path, [str(tmp_path / "missing.parquet")])
    assert launch(cfg, None, dry_run=False) == 2
    assert "does not exist" in capsys.readouterr().err
    records = tmp_path / "train.json"
    records.write_text("[]")
    assert launch(rl_config(tmp_path, [str(records)]), None) == 2
    assert "onethinker data convert" in capsys.readouterr().err
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": ["x"]}), tmp_path / "other.parquet")
    assert launch(rl_config(tmp_path, [str(tmp_path / "other.parquet")]), None) == 2
    assert "lacks the verl columns" in capsys.readouterr().err
    assert ran == []


def test_launch_runs_verl_after_its_checks(tmp_path, capsys, monkeypatch, corpus):
    from onethinker.data.convert import convert_file

    parquet = tmp_path / "train.parquet"
    convert_file(corpus / RL_FILE, "verl", parquet, media_root=corpus)
    (tmp_path / "sft-model").mkdir()
    cfg = rl_config(tmp_path, [str(parquet)])
    calls = []

    class Done:
        returncode = 0
        stdout = stderr = ""

    def fake_run(argv, **kw):
        calls.append((argv, kw.get("env", {})))
        return Done()

    monkeypatch.setattr(launcher, "find_python", lambda: "/venv-verl/bin/python")
    monkeypatch.setattr(launcher.subprocess, "run", fake_run)
    monkeypatch.setattr(launcher, "run_logged", lambda argv, env, log: fake_run(argv, env=env).returncode)
    assert launch(cfg, "rl.yaml", nnodes=1, gpus_per_node=8) == 0
    (check, check_env), (run, run_env) = calls
    assert check[:3] == ["/venv-verl/bin/python", "-m", PLUGIN_MODULE] and check[3] == "--check"
    assert run[:3] == ["/venv-verl/bin/python", "-m", "verl.trainer.main_ppo"]
    assert run_env["VERL_USE_EXTERNAL_MODULES"] == PLUGIN_MODULE
    out = tmp_path / "run"
    assert (out / "config.yaml").is_file() and "main_ppo" in (out / "verl_command.sh").read_text()
    assert "logs:" in capsys.readouterr().out


# =================================================================================================
# group uids, EMA state files, the reward function (no verl needed)
# =================================================================================================
@pytest.mark.parametrize("task", ["math", "segmentation/image", "spatial-temporal grounding", "open_ended.x", "ü ~%"])
def test_uids_carry_the_task_key(task):
    u = uid.make_uid(task)
    assert uid.task_of(u) == task
    assert "_" not in u and u.count(".") == 1  # verl splits TransferQueue keys at "_"
    assert set(u.split(".")[0]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-~")
    assert uid.make_uid(task) != u


def test_uids_without_task_key_are_refused():
    assert uid.make_uid("segmentation/image", "u1") == "segmentation~2Fimage.u1"
    for bad in ["3f2c9b1e-1111-4222-8333-944445555666", "pad0123abcd", "", "a~Zq.u1", "é.u1"]:
        with pytest.raises(uid.UidError):
            uid.task_of(bad)


def test_ema_state_file_round_trip(tmp_path):
    stats = EMAStats(decay=0.9)
    ema_grpo(torch.tensor([1.0, 0.0, 0.3, 0.4]), ["a", "a", "b", "b"], ["ocr", "ocr", "math", "math"], stats)
    path = state.save(stats, tmp_path / "global_step_7", 7)
    assert path.name == state.FILE and json.loads(path.read_text())["global_step"] == 7
    back = EMAStats()
    state.load(back, tmp_path / "global_step_7")
    assert back.state_dict() == stats.state_dict()
    with pytest.raises(state.StateError, match="no EMA-GRPO state"):
        state.load(EMAStats(), tmp_path)
    (tmp_path / state.FILE).write_text("{not json")
    with pytest.raises(state.StateError, match="cannot read"):
        state.load(EMAStats(), tmp_path)


def test_state_from_the_algorithm_config():
    state.unbind()
    try:
        s = state.current({"onethinker": {"ema_decay": 0.5, "min_std": 0.01, "guard": 3.0, "eps": 1e-5}})
        assert (s.decay, s.min_std, s.guard, s.eps) == (0.5, 0.01, 3.0, 1e-5)
        assert state.current() is s
        mine = state.bind(EMAStats())
        assert state.current({"onethinker": {"ema_decay": 0.1}}) is mine
    finally:
        state.unbind()


MC = {"problem_type": "multiple choice", "data_type": "image", "problem_id": 1, "problem": "Which?"}
BOX = {"problem_type": "spatial grounding", "data_type": "image", "problem_id": 2, "problem": "Where?"}


def test_reward_function_returns_score_and_parts():
    out = reward.compute_score("onethinker", "<think>it is B</think><answer>B</answer>", "<answer>B</answer>", MC,
                               workers=0)
    assert out == {"score": 1.5, "accuracy": 1.0, "format": 1.0, "structure": 0.5}  # 0.9 * 1 + 0.1 * 1 + 0.5
    resp = ['<think>x</think><answer>{"boxes": [0, 0, 10, 10]}</answer>', "no format", "<answer>A</answer>"]
    truths = ['<answer>{"boxes": [0, 0, 10, 20]}</answer>', '<answer>{"boxes": [0, 0, 10, 20]}</answer>', "<answer>B</answer>"]
    infos = [BOX, BOX, MC]
    batch = reward.compute_score_batch(["onethinker"] * 3, resp, truths, infos, workers=0, format_weight=0.2)
    items = [{"response": r, "ground_truth": t, **i} for r, t, i in zip(resp, truths, infos)]
    with RewardScorer(RewardConfig(workers=0, format_weight=0.2)) as scorer:
        direct = [{"score": x.overall, "accuracy": x.accuracy, "format": x.format, "structure": x.structure}
                  for x in scorer.score_batch(items)]
    assert batch == direct
    assert batch[0]["accuracy"] == pytest.approx(0.5)


def test_reward_function_refuses_rows_without_task_fields():
    with pytest.raises(reward.RewardInputError, match="extra_info.problem_type"):
        reward.compute_score("onethinker", "x", "<answer>B</answer>", {"index": 3}, workers=0)
    with pytest.raises(reward.RewardInputError, match="unknown reward_kwargs"):
        reward.compute_score("onethinker", "x", "<answer>B</answer>", MC, workers=0, formt_weight=0.1)
    # what verl's managers add for a reward-model router is accepted and ignored
    reward.compute_score("onethinker", "x", "<answer>B</answer>", MC, workers=0, reward_router_address=None)


# =================================================================================================
# through verl (needs .venv-verl)
# =================================================================================================
def verl_config(tmp_path: Path, cfg: RLConfig | None = None, extra: list[str] = ()):
    """verl's own ppo_trainer.yaml composed with the launcher's overrides (what main_ppo would run with)."""
    import verl
    from hydra import compose, initialize_config_dir

    cfg = cfg or rl_config(tmp_path)
    cmd = build_command(cfg, nnodes=1, gpus_per_node=2, extra_overrides=list(extra))
    ov = [o for o in cmd.argv[3:] if not o.startswith("hydra.")]
    folder = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=folder, version_base=None):
        return compose(config_name="ppo_trainer", overrides=ov)


@needs_verl
def test_command_line_is_valid_for_the_pinned_verl(tmp_path):
    import verl
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    assert verl.__version__ == "0.9.1"
    c = verl_config(tmp_path)
    validate_config(config=c, use_reference_policy=need_reference_policy(c), use_critic=need_critic(c))
    assert not need_critic(c) and not need_reference_policy(c)  # GRPO-style, KL off: actor + rollout only
    assert c.algorithm.adv_estimator == ESTIMATOR and c.algorithm.onethinker.ema_decay == 0.99
    assert c.reward.custom_reward_function.reward_kwargs.format_weight == 0.1
    assert c.actor_rollout_ref.rollout.n == 8 and c.actor_rollout_ref.actor.clip_ratio_high == 0.3


@needs_verl
def test_plugin_is_registered_by_both_of_verls_mechanisms():
    from importlib.metadata import entry_points

    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.v1.trainer_base import get_trainer_cls

    from onethinker.integrations.verl import plugin
    from onethinker.integrations.verl.estimator import compute_ema_grpo_advantage
    from onethinker.integrations.verl.trainer import OneThinkerTrainer

    assert [ep.value for ep in entry_points(group="verl.plugins") if ep.name == "onethinker"] == [PLUGIN_MODULE]
    assert get_adv_estimator_fn(ESTIMATOR) is compute_ema_grpo_advantage
    assert get_trainer_cls(TRAINER_MODE) is OneThinkerTrainer
    assert plugin.check() == [] and plugin.ERRORS == {}
    # a fresh interpreter: entry points alone, then VERL_USE_EXTERNAL_MODULES alone
    import subprocess

    probe = ("from verl.trainer.ppo.core_algos import get_adv_estimator_fn as g;"
             "from verl.trainer.ppo.v1.trainer_base import get_trainer_cls as t;"
             f"print(g('{ESTIMATOR}').__module__, t('{TRAINER_MODE}').__name__)")
    for env in ({"VERL_USE_EXTERNAL_MODULES": ""}, {"VERL_USE_EXTERNAL_PLUGINS": "none",
                                                    "VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE}):
        out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[-2:] == ["onethinker.integrations.verl.estimator", "OneThinkerTrainer"]
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "none",
                                                            "VERL_USE_EXTERNAL_MODULES": ""},
                         capture_output=True, text=True)
    assert out.returncode != 0 and "Unknown advantage estimator" in out.stderr  # neither: not registered


def multi_task_batch(rng: np.random.Generator, width: int = 6, pad: int = 1):
    """A verl DataProto of several tasks and group sizes (outcome reward on the last response token), plus a
    synthetic padding row like verl's; returns (data, scores, uids, tasks, real rows)."""
    from verl import DataProto

    plan = [("multiple choice", 8, "binary"), ("ocr", 8, "one-hit")] + [("ocr", 8, "zeros")] * 4 + [
        ("segmentation/image", 4, "cont"), ("segmentation/video", 4, "cont"),
        ("spatial-temporal grounding", 8, "cont"), ("regression", 4, "tight")]
    scores, uids, tasks = [], [], []
    for task, n, kind in plan:
        u = uid.make_uid(task)
        if kind == "binary":
            s = rng.integers(0, 2, n).astype(float)
        elif kind == "zeros":
            s = np.zeros(n)
        elif kind == "one-hit":  # trips the guard rail: the task's spread is small, this group's outlier large
            s = np.zeros(n)
            s[0] = 1.0
        elif kind == "tight":
            s = 0.5 + rng.normal(0, 0.002, n)
        else:
            s = rng.uniform(0, 1.2, n)
        scores += list(s)
        uids += [u] * n
        tasks += [task] * n
    order = rng.permutation(len(scores))  # verl balances batches by length: groups are not contiguous
    scores = [scores[i] for i in order]
    uids = [uids[i] for i in order]
    tasks = [tasks[i] for i in order]
    n_real = len(scores)
    lengths = rng.integers(1, width + 1, n_real)
    mask = torch.zeros(n_real + pad, width)
    rewards = torch.zeros(n_real + pad, width)
    for i, (s, L) in enumerate(zip(scores, lengths)):
        mask[i, :L] = 1
        rewards[i, L - 1] = float(s)
    all_uids = uids + ["pad" + "ab12" * 8] * pad
    data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": np.array(all_uids, dtype=object)})
    return data, torch.tensor(scores, dtype=torch.float32), uids, tasks, n_real


@needs_verl
def test_estimator_through_verls_advantage_code_matches_onethinker(tmp_path):
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.trainer.ppo.v1.utils import compute_advantage_for_multi_trajectories

    cfg = rl_config(tmp_path)
    cfg.algorithm.ema_decay = 0.9  # not the default: the config must reach the state
    algorithm = verl_config(tmp_path, cfg).algorithm
    native = EMAStats(decay=0.9)
    rng = np.random.default_rng(3)
    state.unbind()
    try:
        guarded = 0.0
        for step in range(4):
            data, scores, uids, tasks, n = multi_task_batch(rng)
            if step < 2:
                out = compute_advantage(data, adv_estimator=algorithm.adv_estimator, num_repeat=8, config=algorithm)
            else:  # the v1 trainer's entry (keys {uid}_{session}_{index})
                keys = [f"{u}_{i}_0" for i, u in enumerate(data.non_tensor_batch["uid"])]
                out = compute_advantage_for_multi_trajectories(data, batch_keys=keys, adv_estimator=algorithm.adv_estimator,
                                                               num_repeat=8, config=algorithm)
            expected = ema_grpo(scores, uids, tasks, native)
            adv, mask = out.batch["advantages"], out.batch["response_mask"]
            assert torch.equal(adv[:n], expected[:, None] * mask[:n])
            assert torch.equal(out.batch["returns"], adv)
            assert torch.all(adv[n:] == 0)  # verl's padding row: no advantage, not in the statistics
            bound = state.current()
            assert bound.state_dict() == native.state_dict() and bound.decay == 0.9
            guarded = max(guarded, bound.last["ocr"]["guarded"])
        assert guarded > 0  # the guard rail was exercised
        fn = get_adv_estimator_fn(ESTIMATOR)
        data, *_ = multi_task_batch(rng)
        data.non_tensor_batch["uid"][0] = "5b1c3a52-8f6e-4d1a-9d7e-2f0b9e0c1a11"  # a bare verl uid
        with pytest.raises(AdvantageError, match="carries no task key"):
            fn(token_level_rewards=data.batch["token_level_rewards"], response_mask=data.batch["response_mask"],
               index=data.non_tensor_batch["uid"], config=algorithm)
    finally:
        state.unbind()


@pytest.fixture(scope="module")
def tiny_tokenizer_dir(tmp_path_factory, corpus):
    from onethinker.models.tiny import corpus_texts, train_tokenizer

    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(corpus_texts(corpus), vocab_size=2048).save_pretrained(out)
    return out


def reward_batch(tokenizer, rows):
    """A DataProto as verl's reward path sees it: prompts, right-padded responses, attention mask."""
    from verl import DataProto

    prompt = tokenizer("<|im_start|>user\nWhich one?<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    resp = [tokenizer(r)["input_ids"] for r, _, _ in rows]
    width = max(map(len, resp)) + 2
    pad = tokenizer.pad_token_id
    responses = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), len(prompt) + width), dtype=torch.long)
    attention[:, : len(prompt)] = 1
    for i, ids in enumerate(resp):
        responses[i, : len(ids)] = torch.tensor(ids)
        attention[i, len(prompt): len(prompt) + len(ids)] = 1
    prompts = torch.tensor([prompt] * len(rows))
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": attention,
                 "input_ids": torch.cat([prompts, responses], dim=1)},
        non_tensors={"data_source": np.array(["onethinker"] * len(rows), dtype=object),
                     "reward_model": np.array([{"style": "rule", "ground_truth": t} for _, t, _ in rows], dtype=object),
                     "extra_info": np.array([dict(i) for _, _, i in rows], dtype=object)},
    )


REWARD_ROWS = [
    ("<think>it is B</think><answer>B</answer>", "<answer>B</answer>", MC),
    ('<think>left</think><answer>{"boxes": [0, 0, 10, 10]}</answer>', '<answer>{"boxes": [0, 0, 10, 20]}</answer>', BOX),
    ("B", "<answer>B</answer>", MC),
]


@needs_verl
def test_reward_through_verls_reward_loop(tmp_path, tiny_tokenizer_dir):
    from transformers import AutoTokenizer
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    c = verl_config(tmp_path, extra=[f"actor_rollout_ref.model.path={tiny_tokenizer_dir}",
                                     "+reward.custom_reward_function.reward_kwargs.workers=0"])
    worker = RewardLoopWorker(c)  # verl's reward-loop worker (a Ray actor in a run), built in-process
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    data = reward_batch(tok, REWARD_ROWS)
    outs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    with RewardScorer(RewardConfig(workers=0)) as scorer:
        direct = scorer.score_batch([{"response": r, "ground_truth": t, **i} for r, t, i in REWARD_ROWS])
    for out, d in zip(outs, direct):
        extra = out["reward_extra_info"]
        assert out["reward_score"] == pytest.approx(d.overall)
        assert {k: extra[k] for k in ("score", "accuracy", "format", "structure")} == pytest.approx(
            {"score": d.overall, "accuracy": d.accuracy, "format": d.format, "structure": d.structure})
    assert outs[0]["reward_extra_info"]["accuracy"] == 1.0 and outs[1]["reward_extra_info"]["accuracy"] == pytest.approx(0.5)
    assert outs[2]["reward_extra_info"]["format"] == 0.0


@needs_verl
def test_reward_batch_form_through_verls_batch_manager(tiny_tokenizer_dir):
    from transformers import AutoTokenizer
    from verl.workers.reward_manager.batch import BatchRewardManager

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    manager = BatchRewardManager(tok, num_examine=0, compute_score=reward.compute_score_batch, workers=0)
    data = reward_batch(tok, REWARD_ROWS)
    out = manager(data, return_dict=True)
    info = out["reward_extra_info"]
    assert info["accuracy"] == pytest.approx([1.0, 0.5, 1.0]) and info["format"] == [1.0, 1.0, 0.0]
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[1]:].sum(-1)
    for i, L in enumerate(lengths.tolist()):
        assert out["reward_tensor"][i, L - 1].item() == pytest.approx(info["score"][i])


@needs_verl
def test_trainer_hooks_on_verls_trainer(tmp_path, corpus, monkeypatch):
    """The onethinker trainer built from the composed config (no Ray, no GPU): mode, state, buffer, uids,
    checkpoint hooks and OneThinker's group filter inside verl's replay buffer."""
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer
    from verl.utils.dataset.rl_dataset import collate_fn

    from onethinker.data.convert import convert_file
    from onethinker.integrations.verl import trainer as ot
    from onethinker.tasks import task_key

    parquet = tmp_path / "train.parquet"
    convert_file(corpus / RL_FILE, "verl", parquet, media_root=corpus)
    cfg = rl_config(tmp_path, [str(parquet)])
    cfg.algorithm.ema_decay = 0.95
    cfg.algorithm.filter_low, cfg.algorithm.filter_high = 0.2, 0.8
    c = verl_config(tmp_path, cfg)
    state.unbind()
    try:
        t = ot.OneThinkerTrainer(c)
        assert c.trainer.v1.trainer_mode == "sync" and t.trainer_mode == "sync"
        assert state.current() is t.ema_stats and t.ema_stats.decay == 0.95
        buf = t.replay_buffer
        assert type(buf) is ot.OneThinkerReplayBuffer and buf.filter_groups_metric == "accuracy"
        assert (buf.filter_low, buf.filter_high, buf.max_sampling_tries) == (0.2, 0.8, 20)
        assert buf.gen_batch_size == 1  # verl's own dynamic-sampling set-up is kept

        # uids: verl's dataset and collate on the converted corpus, then the trainer's fetch. The dataset only
        # builds the raw chat here (the rollout applies the processor), so a stand-in processor will do.
        from types import SimpleNamespace

        processor = SimpleNamespace(image_processor=SimpleNamespace(patch_size=16))
        ds = create_rl_dataset([str(parquet)], c.data, tokenizer=None, processor=processor, is_train=True)
        rows = [ds[i] for i in range(0, len(ds), 5)]
        t.train_dataloader, t.train_dataloader_it = [collate_fn(rows)], None
        td = t._fetch_one_gen_batch()
        got = [uid.task_of(u) for u in td["uid"]]
        assert got == [task_key(r["extra_info"]["problem_type"], r["extra_info"]["data_type"]) for r in rows]
        assert len(set(got)) >= 5 and {r["extra_info"]["data_type"] for r in rows} == {"image", "video"}

        # checkpoints: ema_state.json is written before verl's save and read after verl's load
        seen = {}
        monkeypatch.setattr(PPOTrainer, "_save_checkpoint",
                            lambda self: seen.setdefault("at_save", sorted(os.listdir(self._step_dir(self.global_steps)))))
        ema_grpo(torch.tensor([1.0, 0.0, 0.2, 0.4]), ["a", "a", "b", "b"], ["ocr", "ocr", "math", "math"], t.ema_stats)
        t.global_steps = 5
        t._save_checkpoint()
        assert seen["at_save"] == [state.FILE]
        saved = t.ema_stats.state_dict()
        t.ema_stats.load_state_dict(EMAStats(decay=0.95).state_dict())

        def fake_load(self):
            self.global_steps = 5

        monkeypatch.setattr(PPOTrainer, "_load_checkpoint", fake_load)
        t._load_checkpoint()
        assert t.ema_stats.state_dict() == saved
        c.trainer.resume_mode, c.trainer.resume_from_path = "resume_path", str(tmp_path / "run" / "checkpoints" / "nowhere")
        with pytest.raises(state.StateError):
            t._load_checkpoint()

        # OneThinker's filter in verl's replay buffer, on TransferQueue-shaped trajectories
        groups = {uid.make_uid("ocr"): [(0.0, 0.0)] * 4, uid.make_uid("ocr"): [(1.0, 1.1), (0.0, 0.1)] * 2,
                  uid.make_uid("math"): [(0.1, 0.2)] * 4, uid.make_uid("math"): [(0.9, 1.0)] * 3 + [(0.85, 0.9)]}
        store = {f"{u}_{s}_0": {"reward_extra_info": {"accuracy": a, "score": sc, "format": 1.0}}
                 for u, vals in groups.items() for s, (a, sc) in enumerate(vals)}
        buf.finished_keys["train"] = set(groups)
        buf.partitions["train"] = {k: {} for k in store}

        class FakeTQ:
            @staticmethod
            def kv_batch_get(keys, partition_id, select_fields):
                return {"extra_fields": [store[k] for k in keys]}

        monkeypatch.setattr(ot, "tq", FakeTQ)
        buf._step_batch_size, buf._filtered_this_step = 4, 0
        dropped, counts = buf._dapo_filtered_keys("train")
        g = list(groups)
        accs = [a for u in g for a, _ in groups[u]]
        keep = keep_groups([u for u in g for _ in groups[u]], accs, low=0.2, high=0.8)
        assert dropped == set(g) - keep == {g[0], g[2], g[3]}
        assert sum(counts.values()) == 3
        # per-task metrics from the same trajectories (padding rows left out) and the EMA statistics
        keys = list(store) + ["pad0_0_0"]
        batch = SimpleNamespace(keys=keys, tags=[{}] * len(store) + [{"is_padding": True}], partition_id="train")
        ema_grpo(torch.tensor([1.0, 0.0, 0.2, 0.4]), ["a", "a", "b", "b"], ["ocr", "ocr", "math", "math"], t.ema_stats)
        m = t._onethinker_metrics(batch)
        ocr = [v for k, v in store.items() if uid.task_of(k.split("_")[0]) == "ocr"]
        assert m["onethinker/reward/ocr/accuracy"] == pytest.approx(np.mean([v["reward_extra_info"]["accuracy"] for v in ocr]))
        assert m["onethinker/reward/all/format"] == 1.0
        assert m["onethinker/ema/ocr/m1"] == t.ema_stats.m1["ocr"] and "onethinker/ema/math/guarded" in m

        buf.max_sampling_tries, buf._filtered_this_step = 1, 0
        buf._dapo_classification_cache["train"].clear()
        with pytest.raises(RuntimeError, match="dynamic sampling filtered"):
            buf._step_batch_size = 3
            buf._dapo_filtered_keys("train")
    finally:
        state.unbind()
