"""What the README says about the native RL trainer, checked on the tiny model with a mixed image + video
batch and n > 1: the update's log-probabilities equal the sampler's; an update raises the log-probability
of positive-advantage responses and lowers that of negative ones; dynamic sampling re-draws; the KL path
to a frozen reference; the TensorBoard logging path."""

import json
import sys
import types

import pytest
import torch

from onethinker.data.records import read_records
from onethinker.rewards import RewardResult
from onethinker.rl.config import RLConfig
from onethinker.rl.trainer import RLTrainer, Rollout, StepLog


@pytest.fixture(scope="module")
def tiny(corpus, tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny_rl_claims")
    build_tiny(out, corpus_dir=corpus, size="tiny", seed=0)
    return out


def config(tiny, corpus, out, **over):
    cfg = RLConfig()
    cfg.model.path = str(tiny)
    cfg.data.train_files = [str(corpus / "onethinker_rl_train.json")]
    cfg.rollout.prompts_per_step, cfg.rollout.n, cfg.rollout.max_new_tokens = 2, 3, 10
    cfg.rollout.temperature = 0.7
    cfg.optim.lr, cfg.optim.mini_batch_prompts, cfg.optim.micro_batch_size = 1e-3, 2, 3
    cfg.run.output_dir, cfg.run.max_steps, cfg.run.save_every = str(out), 1, 100
    cfg.run.tensorboard = False
    cfg.reward.workers = 0
    for key, value in over.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    return cfg


def mixed_prompts(trainer, corpus):
    recs = list(read_records(corpus / "onethinker_rl_train.json"))
    image = next(r for r in recs if r.get("images") and r["problem_type"] == "multiple choice")
    video = next(r for r in recs if r.get("videos") and r["problem_type"] == "temporal grounding")
    return [trainer._prompt(image), trainer._prompt(video)]


def rollouts_of(trainer, prompts, seed=5):
    sampler: list = []
    gen = trainer._generate(prompts, seed=seed, sampler_logprobs=sampler)
    rollouts = [Rollout(prompts[k], f"g{k}", resp, text) for k, resp, text in gen]
    return rollouts, sampler


@pytest.mark.parametrize("sampler", ["fast", "generate"])
def test_update_log_probabilities_equal_the_samplers(tiny, corpus, tmp_path, monkeypatch, sampler):
    """The batched, padded forward pass of the update (image and video prompts of different lengths,
    3 samples each) gives the log-probabilities the sampler drew the tokens with, to 5e-6, with either
    sampler (rollout.sampler)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainer = RLTrainer(config(tiny, corpus, tmp_path, rollout__sampler=sampler))
    assert trainer.engine.sampler == sampler
    prompts = mixed_prompts(trainer, corpus)
    assert {"pixel_values", "pixel_values_videos"} <= set(prompts[0].features) | set(prompts[1].features)
    rollouts, sampler = rollouts_of(trainer, prompts)
    assert len(rollouts) == 6 and all(len(ro.response) > 0 for ro in rollouts)
    with torch.no_grad():
        logp, mask = trainer._logprobs(trainer.model, rollouts)
    worst = 0.0
    for i, ro in enumerate(rollouts):
        n = len(ro.response)
        assert mask[i, :n].sum() == n
        worst = max(worst, float((logp[i, :n].cpu() - sampler[i]).abs().max()))
    print(f"largest difference {worst:.2e}")
    assert worst < 5e-6, worst


def test_an_update_moves_log_probabilities_the_way_of_the_advantage(tiny, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainer = RLTrainer(config(tiny, corpus, tmp_path, optim__lr=1e-4))
    prompts = mixed_prompts(trainer, corpus)
    rollouts, _ = rollouts_of(trainer, prompts, seed=11)
    for i, ro in enumerate(rollouts):  # within each group: one positive, one negative, one zero
        ro.advantage = (1.0, -1.0, 0.0)[i % 3]
    with torch.no_grad():
        before, mask = trainer._logprobs(trainer.model, rollouts)
    trainer._update(rollouts, StepLog())
    with torch.no_grad():
        after, _ = trainer._logprobs(trainer.model, rollouts)
    change = ((after - before) * mask).sum(1) / mask.sum(1)  # mean change per response token
    for i, ro in enumerate(rollouts):
        if ro.advantage > 0:
            assert change[i] > 0, (i, float(change[i]))
        elif ro.advantage < 0:
            assert change[i] < 0, (i, float(change[i]))


def _fake_scores(trainer, accuracies_per_try):
    """Replace the reward: try k gives every rollout of its batch the accuracies in accuracies_per_try[k],
    group by group (so whole groups can be made to carry no signal)."""
    calls = []

    def score_batch(items):
        accs = accuracies_per_try[len(calls)]
        calls.append(len(items))
        groups = list(dict.fromkeys(it["problem_id"] for it in items))
        out = []
        for it in items:
            g = groups.index(it["problem_id"])
            k = sum(1 for x in items[: items.index(it)] if x["problem_id"] == it["problem_id"])
            a = accs[g][k]
            out.append(RewardResult(overall=a, format=1.0, accuracy=a, structure=0.0))
        return out

    trainer.scorer.score_batch = score_batch
    return calls


def test_dynamic_sampling_draws_again_until_the_step_is_full(tiny, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainer = RLTrainer(config(tiny, corpus, tmp_path, algorithm__max_sampling_tries=4))
    # try 1: both groups all wrong (dropped); try 2: one group mixed (kept), one all right (dropped);
    # try 3: one group is missing, so one prompt only is drawn and sampled (mixed: it fills the step)
    calls = _fake_scores(trainer, [[[0, 0, 0], [0, 0, 0]], [[1, 0, 0], [1, 1, 1]], [[0, 1, 1], [1, 0, 1]]])
    log = StepLog()
    kept = trainer._sample_groups(log)
    assert calls == [6, 6, 3]
    assert log.values["sampling/tries"] == 3.0 and log.values["sampling/groups"] == 5.0
    assert log.values["sampling/filtered_frac"] == pytest.approx(3 / 5)
    assert len({ro.group for ro in kept}) == 2 and len(kept) == 6
    assert trainer.stream.state_dict() == {"epoch": 0, "pos": 5}  # the prompts sampled, no more
    # with one try only, the step goes on with what it has
    trainer = RLTrainer(config(tiny, corpus, tmp_path / "one", algorithm__max_sampling_tries=1))
    _fake_scores(trainer, [[[0, 0, 0], [1, 0, 1]]])
    log = StepLog()
    kept = trainer._sample_groups(log)
    assert log.values["sampling/tries"] == 1.0 and len({ro.group for ro in kept}) == 1


def test_streamed_dynamic_sampling_refills_as_groups_finish(tiny, corpus, tmp_path, monkeypatch):
    """``rollout.sampler: stream`` scores each group as its samples stop and starts a prompt whenever the kept
    and running groups are fewer than the step's; at most max_sampling_tries x prompts_per_step prompts."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainer = RLTrainer(config(tiny, corpus, tmp_path, rollout__sampler="stream", algorithm__max_sampling_tries=3))
    # one group per scoring call: all wrong (dropped: a prompt joins), mixed (kept), all right (dropped: another
    # joins), mixed (kept: the step is full)
    calls = _fake_scores(trainer, [[[0, 0, 0]], [[1, 0, 0]], [[1, 1, 1]], [[0, 1, 1]]])
    log = StepLog()
    kept = trainer._sample_groups(log)
    assert calls == [3, 3, 3, 3]
    assert len({ro.group for ro in kept}) == 2 and len(kept) == 6
    assert log.values["sampling/groups"] == 4.0 and log.values["sampling/tries"] == 2.0
    assert log.values["sampling/filtered_frac"] == pytest.approx(2 / 4)
    assert trainer.stream.state_dict() == {"epoch": 0, "pos": 4}  # the prompts sampled, no more
    trainer = RLTrainer(config(tiny, corpus, tmp_path / "one", rollout__sampler="stream", algorithm__max_sampling_tries=1))
    _fake_scores(trainer, [[[0, 0, 0]], [[1, 0, 1]]])
    log = StepLog()
    kept = trainer._sample_groups(log)
    assert log.values["sampling/groups"] == 2.0 and len({ro.group for ro in kept}) == 1
    assert trainer.stream.state_dict() == {"epoch": 0, "pos": 2}


def test_a_draw_sampled_in_generation_batches_equals_one_call(tiny, corpus, tmp_path, monkeypatch):
    """A draw is sampled one generation batch at a time (so that a refill can stop when the step is full);
    each batch keeps the seed of its place in the draw, so the rollouts are those of one call for the draw."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config(tiny, corpus, tmp_path, rollout__prompts_per_step=3, rollout__generation_batch_size=2,
                 algorithm__filter_groups=False)
    trainer = RLTrainer(cfg)
    kept = trainer._sample_groups(StepLog())
    assert trainer.stream.state_dict() == {"epoch": 0, "pos": 3}
    again = RLTrainer(cfg)
    prompts = [again._prompt(rec) for rec in again.stream.take(3)]
    gen = again._generate(prompts, seed=cfg.run.seed * 100003 + 0 * 101 + 1)
    assert [ro.response for ro in kept] == [resp for _, resp, _ in gen]
    assert [ro.group for ro in kept] == [f"0:1:{k}" for k, _, _ in gen]


def test_kl_to_a_frozen_reference(tiny, corpus, tmp_path, monkeypatch):
    """kl_coef > 0 loads a frozen reference; before the first update the policy is the reference, so the
    first step's KL is 0, and the reference does not move with the policy."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainer = RLTrainer(config(tiny, corpus, tmp_path, loss__kl_coef=0.5, algorithm__filter_groups=False,
                               optim__mini_batch_prompts=2))
    assert trainer.ref_model is not None
    assert not any(p.requires_grad for p in trainer.ref_model.parameters())
    ref_before = {k: v.clone() for k, v in trainer.ref_model.state_dict().items()}
    values = trainer.train_step()
    assert values["actor/kl"] == pytest.approx(0.0, abs=1e-6)
    assert all(torch.equal(ref_before[k], v) for k, v in trainer.ref_model.state_dict().items())
    moved = any(not torch.equal(ref_before[k], v) for k, v in trainer.model.state_dict().items() if k in ref_before)
    assert moved  # the policy moved and the reference stayed
    # One small step changes log-probabilities by ~1e-4, whose k3 estimate (~d^2/2) vanishes in float32; a
    # policy sharpened by hand is far from the reference, and the KL says so.
    with torch.no_grad():
        trainer.model.get_output_embeddings().weight.mul_(3.0)
    trainer.step += 1
    assert trainer.train_step()["actor/kl"] > 1e-3


def test_tensorboard_logging_path(tiny, corpus, tmp_path, monkeypatch):
    """With run.tensorboard, every finite scalar of a step goes to the writer under its log name (a stand-in
    writer: the tensorboard package is optional and not installed by `make setup`)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    written, closed = [], []

    class Writer:
        def __init__(self, folder):
            self.folder = folder

        def add_scalar(self, key, value, step):
            written.append((key, value, step))

        def close(self):
            closed.append(True)

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    cfg = config(tiny, corpus, tmp_path, run__tensorboard=True, algorithm__filter_groups=False)
    trainer = RLTrainer(cfg)
    assert trainer._tb.folder == str(tmp_path / "tensorboard")
    trainer.train()
    row = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    expected = {k for k, v in row.items() if k != "step" and isinstance(v, float)}
    assert {k for k, _, _ in written} == expected and all(step == 1 for _, _, step in written)
    assert closed == [True]
