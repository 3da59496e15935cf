"""The native RL trainer on the tiny model: a step runs end to end, logs what it promises, and a run
interrupted and resumed ends with the same weights and EMA state as an uninterrupted one."""

import json

import pytest
import torch
from safetensors.torch import load_file

from onethinker.rl.config import RLConfig
from onethinker.rl.trainer import RLTrainer, lr_factor


@pytest.fixture(scope="module")
def tiny(corpus, tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny_rl")
    build_tiny(out, corpus_dir=corpus, size="tiny", seed=0)
    return out


def config(tiny, corpus, out, steps):
    cfg = RLConfig()
    cfg.model.path = str(tiny)
    cfg.data.train_files = [str(corpus / "onethinker_rl_train.json")]
    cfg.data.tasks = ["open-ended"]  # random text earns some ROUGE: rewards vary, so weights move
    cfg.rollout.prompts_per_step, cfg.rollout.n, cfg.rollout.max_new_tokens = 2, 3, 12
    cfg.algorithm.filter_groups = False
    cfg.optim.lr, cfg.optim.mini_batch_prompts, cfg.optim.micro_batch_size = 1e-3, 1, 4
    cfg.run.output_dir, cfg.run.max_steps, cfg.run.save_every = str(out), steps, 2
    cfg.run.tensorboard = False
    cfg.reward.workers = 0
    return cfg


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("sampler", ["fast", "stream"])
def test_interrupted_and_resumed_equals_uninterrupted(tiny, corpus, tmp_path, monkeypatch, sampler):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def config_(out, steps):
        cfg = config(tiny, corpus, out, steps)
        cfg.rollout.sampler = sampler
        return cfg

    straight = RLTrainer(config_(tmp_path / "a", 4))
    straight.train()
    first = RLTrainer(config_(tmp_path / "b", 2))
    first.train()  # stops after 2 steps, checkpoint step-000002
    with (tmp_path / "b" / "log.jsonl").open("a") as f:  # a stop after step 3 was logged, before it was saved
        f.write(json.dumps({"step": 3, "reward/all": 9.0}) + "\n" + '{"step": 4, "rew')
    resumed = RLTrainer(config_(tmp_path / "b", 4), resume=True)
    assert resumed.step == 2
    resumed.train()
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the steps after the checkpoint are logged once, by the run that did them
    assert all(json.loads(line)["reward/all"] != 9.0 for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines())
    wa, wb = weights(tmp_path / "a" / "final"), weights(tmp_path / "b" / "final")
    assert wa.keys() == wb.keys()
    moved = [k for k in wa if not torch.equal(wa[k], weights(tiny)[k])] if (tiny / "model.safetensors").exists() else list(wa)
    assert moved, "the policy did not change at all: the test would prove nothing"
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert straight.stats.state_dict() == resumed.stats.state_dict()
    assert straight.stream.state_dict() == resumed.stream.state_dict()


def test_final_model_is_the_mean_of_the_last_checkpoints(tiny, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config(tiny, corpus, tmp_path, 4)  # checkpoints at steps 2 and 4
    cfg.run.average_last = 2
    RLTrainer(cfg).train()
    w2, w4 = (weights(tmp_path / "checkpoints" / f"step-00000{s}") for s in (2, 4))
    final = weights(tmp_path / "final")
    moved = [k for k in final if not torch.equal(w2[k], w4[k])]
    assert moved, "steps 2 and 4 have the same weights: the test would prove nothing"
    for k in final:
        assert torch.allclose(final[k], ((w2[k].double() + w4[k].double()) / 2).to(final[k].dtype), atol=0, rtol=0), k
    assert json.loads((tmp_path / "final" / "averaged_from.json").read_text())["folders"][-1].endswith("step-000004")


def test_step_logs(tiny, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config(tiny, corpus, tmp_path, 1)
    cfg.data.tasks = []
    cfg.rollout.prompts_per_step = 3
    RLTrainer(cfg).train()
    row = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    for key in ("reward/all", "accuracy/all", "format/all", "structure/all", "sampling/filtered_frac", "response/length_mean",
                "time/rollout_s", "time/reward_s", "time/step_s"):
        assert key in row, key
    assert 0.0 <= row["structure/all"] <= 0.5  # spec/rewards.md §5: a structure score is 0, 0.25-0.5
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "final" / "model.safetensors").is_file()
    state = json.loads(next((tmp_path / "checkpoints").glob("step-*")).joinpath("trainer_state.json").read_text())
    assert state["step"] == 1 and "m1" in state["ema"] and state["data"]["pos"] == 3


def test_learning_rate_schedules():
    cfg = RLConfig()
    cfg.optim.warmup_steps = 2
    assert [lr_factor(cfg.optim, 10, s) for s in (0, 1, 2, 9, 50)] == [0.5, 1.0, 1.0, 1.0, 1.0]  # constant
    cfg.optim.lr_schedule = "cosine"
    f = [lr_factor(cfg.optim, 10, s) for s in range(12)]
    assert f[:3] == [0.5, 1.0, 1.0] and f[6] == pytest.approx(0.5)  # half-way through the 8 steps after warm-up
    assert all(a > b for a, b in zip(f[2:10], f[3:11])) and f[10] == f[11] == pytest.approx(0.0)
    cfg.optim.min_lr_ratio = 0.1
    assert lr_factor(cfg.optim, 10, 10) == pytest.approx(0.1) and lr_factor(cfg.optim, 10, 6) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="lr_schedule must be"):
        type(cfg.optim)(lr_schedule="linear")


def test_logged_learning_rate_is_the_one_used(tiny, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config(tiny, corpus, tmp_path, 3)
    cfg.optim.lr_schedule, cfg.optim.warmup_steps, cfg.run.save_every = "cosine", 1, 10
    RLTrainer(cfg).train()
    lrs = [json.loads(line)["actor/lr"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4])  # warm-up step, then the cosine over the two left
