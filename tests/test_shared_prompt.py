"""The prompt-shared update (``optim.shared_prompt``, onethinker/rl/shared_prompt.py) against the per-rollout
path on the tiny model: a mixed image + video batch of several groups, responses of different lengths,
trainable vision tower; the per-token log-probabilities (policy and reference), the loss and every
parameter's gradient agree to 1e-5 in float32, with and without the KL term; and a whole ``_update``
(two mini-batches, so the separate pass for old log-probabilities runs too) takes the same gradients."""

import random

import pytest
import torch

from onethinker.data.records import read_records
from onethinker.rl.config import RLConfig
from onethinker.rl.loss import policy_loss
from onethinker.rl.shared_prompt import micro_batches
from onethinker.rl.trainer import RLTrainer, Rollout, StepLog

TOL = 1e-5


@pytest.fixture(scope="module")
def trainer(corpus, tiny_model_dir, tmp_path_factory):
    cfg = RLConfig()
    cfg.model.path = str(tiny_model_dir)
    cfg.model.dtype = "float32"
    cfg.model.freeze_vision_tower = False  # gradients must reach the tower through the shared prompt
    cfg.data.train_files = [str(corpus / "onethinker_rl_train.json")]
    cfg.rollout.temperature = 0.7
    cfg.loss.kl_coef = 0.1  # loads the frozen reference
    cfg.optim.mini_batch_prompts, cfg.optim.micro_batch_size, cfg.optim.grad_clip = 2, 5, 1e9
    cfg.run.output_dir, cfg.run.tensorboard = str(tmp_path_factory.mktemp("shared_prompt")), False
    cfg.reward.workers = 0
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    t = RLTrainer(cfg)
    mp.undo()
    with torch.no_grad():  # make the reference differ from the policy, so the KL term has a gradient
        for p in t.ref_model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return t


@pytest.fixture(scope="module")
def rollouts(trainer, corpus):
    """4 groups (2 image, 2 video prompts of different lengths) x 3 rollouts of lengths 1 to 17."""
    recs = list(read_records(corpus / "onethinker_rl_train.json"))
    images = [r for r in recs if r.get("images")][:2]
    videos = [r for r in recs if r.get("videos")][:2]
    prompts = [trainer._prompt(r) for r in (images[0], videos[0], images[1], videos[1])]
    assert len({p.features["input_ids"].shape[1] for p in prompts}) > 1
    vocab = len(trainer.tokenizer)
    banned = set(trainer.suppress_ids) | {trainer.pad_id}
    allowed = [i for i in range(vocab) if i not in banned]
    rng = random.Random(3)
    lengths = [1, 7, 17, 12, 4, 9, 16, 2, 11, 5, 13, 8]
    out = []
    for k, p in enumerate(prompts):
        for j in range(3):
            n = lengths[3 * k + j]
            resp = [rng.choice(allowed) for _ in range(n)]
            if j == 0:
                resp[-1] = trainer.stop_ids[0]
            ro = Rollout(p, f"g{k}", resp, "")
            ro.advantage = (1.0, -0.7, 0.3)[j] * (1 if k % 2 == 0 else -1)
            out.append(ro)
    return out


def _set(trainer, shared):
    trainer.cfg.optim.shared_prompt = shared


def _grads(model):
    return {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for n, p in model.named_parameters() if p.requires_grad}


def _compare_grads(a, b):
    assert a.keys() == b.keys()
    worst, name = 0.0, None
    for k in a:
        d = float((a[k] - b[k]).abs().max()) if a[k].numel() else 0.0
        if d > worst:
            worst, name = d, k
    return worst, name


def test_micro_batches_keep_groups_together_and_bucket_by_length(rollouts):
    parts = micro_batches(rollouts, 5)
    assert sorted(id(r) for p in parts for r in p) == sorted(id(r) for r in rollouts)
    assert all(len(p) <= 5 for p in parts)
    assert all(len({r.group for r in p}) * 3 == len(p) for p in parts)  # groups of 3 are never split
    flat = [r for p in parts for r in p]
    # groups contiguous, ordered by their longest response
    seen = list(dict.fromkeys(r.group for r in flat))
    assert [r.group for r in flat] == [g for g in seen for _ in range(3)]
    longest = [max(len(r.response) for r in rollouts if r.group == g) for g in seen]
    assert longest == sorted(longest, reverse=True)
    assert micro_batches(rollouts, 5, shared=False) == [rollouts[0:5], rollouts[5:10], rollouts[10:12]]


class _Ro:
    def __init__(self, group, length, prompt=100):
        self.group, self.response = group, [0] * length
        self.prompt = type("P", (), {"features": {"input_ids": torch.zeros(1, prompt, dtype=torch.long)}})()


def _padded(parts):
    return sum(len(p) * max(len(r.response) for r in p) + len({r.group for r in p}) * 100 for p in parts)


def test_micro_batches_cut_where_padding_is_least():
    # one long group (250-token answers) and three short ones: a fixed cut of 8 rollouts pads the short
    # groups' answers to 250; the least-padding cut runs the long group alone
    ros = [_Ro("track", 250 - k) for k in range(4)] + [_Ro(f"count{g}", 20 + k) for g in range(3) for k in range(4)]
    parts = micro_batches(ros, 8)
    assert [sorted({r.group for r in p}) for p in parts] == [["track"], ["count0", "count1"], ["count2"]]
    fixed = [ros[0:8], ros[8:16]]
    assert _padded(parts) < _padded(fixed)
    # a group larger than the micro-batch is cut in chunks of the size, longest answers first
    big = [_Ro("big", 10 + k) for k in range(7)]
    parts = micro_batches(big, 3)
    assert [[len(r.response) for r in p] for p in parts] == [[16, 15, 14], [13, 12, 11], [10]]
    # deterministic, and every rollout exactly once
    again = micro_batches(ros, 8)
    assert [[id(r) for r in p] for p in again] == [[id(r) for r in p] for p in micro_batches(ros, 8)]
    assert sorted(id(r) for p in again for r in p) == sorted(id(r) for r in ros)


def test_log_probabilities_equal_the_per_rollout_path(trainer, rollouts):
    for model in (trainer.model, trainer.ref_model):
        with torch.no_grad():
            _set(trainer, False)
            full, mask_full = trainer._logprobs(model, rollouts)
            _set(trainer, True)
            shared, mask_shared = trainer._logprobs(model, rollouts)
        assert torch.equal(mask_full, mask_shared)
        m = mask_full.bool()
        assert torch.isfinite(shared[m]).all()
        worst = float((full[m] - shared[m]).abs().max())
        print(f"log-prob difference {worst:.2e}")
        assert worst < TOL, worst


@pytest.mark.parametrize("kl", [False, True])
def test_loss_and_every_gradient_equal_the_per_rollout_path(trainer, rollouts, kl):
    cfg = trainer.cfg.loss
    tokens = float(sum(len(r.response) for r in rollouts))
    with torch.no_grad():
        _set(trainer, False)
        base, mask = trainer._logprobs(trainer.model, rollouts)
        ref = trainer._logprobs(trainer.ref_model, rollouts)[0] if kl else None
    noise = 0.3 * torch.randn(base.shape, generator=torch.Generator().manual_seed(1))
    old = (base + noise).masked_fill(~mask.bool(), 0.0)  # ratios away from 1: both clips are active
    adv = torch.tensor([r.advantage for r in rollouts])
    kl_coef = cfg.kl_coef
    cfg.kl_coef = 0.1 if kl else 0.0
    try:
        results = {}
        for shared in (False, True):
            _set(trainer, shared)
            trainer.model.zero_grad(set_to_none=True)
            total = 0.0
            for part in micro_batches(rollouts, 5, shared=shared):
                rows = [rollouts.index(r) for r in part]
                logp, m = trainer._logprobs(trainer.model, part)
                w = logp.shape[1]
                loss, metrics = policy_loss(logp, old[rows, :w], adv[rows], m, cfg,
                                            ref_logp=ref[rows, :w] if kl else None, token_count=tokens)
                loss.backward()
                total += float(loss.detach())
            results[shared] = (total, _grads(trainer.model))
    finally:
        cfg.kl_coef = kl_coef
        trainer.model.zero_grad(set_to_none=True)
    (loss_full, g_full), (loss_shared, g_shared) = results[False], results[True]
    print(f"loss {loss_full:.6f} vs {loss_shared:.6f}")
    assert abs(loss_full - loss_shared) < TOL
    vision = [k for k in g_full if "visual" in k]
    assert vision and any(float(g_full[k].abs().max()) > 0 for k in vision), "no gradient reached the vision tower"
    worst, name = _compare_grads(g_full, g_shared)
    print(f"largest gradient difference {worst:.2e} ({name}); largest gradient "
          f"{max(float(g.abs().max()) for g in g_full.values()):.2e}")
    assert worst < TOL, (worst, name)


@pytest.mark.parametrize("kl", [False, True])
def test_update_takes_the_same_gradients(trainer, rollouts, kl, monkeypatch):
    """``_update`` end to end (old log-probabilities pass, reference pass, micro-batches, token-mean) in both
    modes, the optimizer step replaced by a recorder so both start from the same weights."""
    if not kl:
        monkeypatch.setattr(trainer, "ref_model", None)
        monkeypatch.setattr(trainer.cfg.loss, "kl_coef", 0.0)
    runs = {}
    for shared in (False, True):
        _set(trainer, shared)
        taken = []
        monkeypatch.setattr(trainer.optimizer, "step", lambda *a, **k: taken.append(_grads(trainer.model)))
        log = StepLog()
        trainer._update(rollouts, log)
        runs[shared] = (taken, [r.old_logp.clone() for r in rollouts],
                        [r.ref_logp.clone() for r in rollouts] if kl else None, log.values)
    trainer.model.zero_grad(set_to_none=True)
    (t0, old0, ref0, log0), (t1, old1, ref1, log1) = runs[False], runs[True]
    assert len(t0) == len(t1) == 2  # two mini-batches of 2 groups
    for a, b in zip(t0, t1):
        worst, name = _compare_grads(a, b)
        assert worst < TOL, (worst, name)
    assert max(float((a - b).abs().max()) for a, b in zip(old0, old1)) < TOL
    if kl:
        assert max(float((a - b).abs().max()) for a, b in zip(ref0, ref1)) < TOL
    assert abs(log0["actor/pg_loss"] - log1["actor/pg_loss"]) < TOL
    assert abs(log0["actor/grad_norm"] - log1["actor/grad_norm"]) < 1e-4
