"""spec/rl-algorithm.md: advantage estimators, EMA-GRPO state, filtering and the policy loss."""

import math

import numpy as np
import pytest
import torch

from onethinker.rl.advantages import AdvantageError, EMAStats, compute_advantages, dr_grpo, ema_grpo, grpo
from onethinker.rl.filtering import keep_groups, mask_for
from onethinker.rl.loss import LossConfig, low_var_kl, policy_loss

T = lambda *v: torch.tensor(v, dtype=torch.float32)  # noqa: E731


def test_grpo_and_dr_grpo_by_hand():
    r = T(1.0, 0.0, 0.5, 0.5, 0.2, 0.8)
    g = ["a", "a", "b", "b", "c", "c"]
    # group a: mean 0.5, unbiased std sqrt(((.5)^2 + (.5)^2) / 1) = 0.7071
    a = grpo(r, g)
    assert a[0].item() == pytest.approx(0.5 / (math.sqrt(0.5) + 1e-6), rel=1e-6)
    assert a[2].item() == 0.0 and a[3].item() == 0.0  # b: equal scores
    assert a[4].item() == pytest.approx(-0.3 / (math.sqrt(0.18) + 1e-6), rel=1e-6)
    assert torch.allclose(dr_grpo(r, g), T(0.5, -0.5, 0.0, 0.0, -0.3, 0.3))


def test_ema_grpo_first_batches_by_hand():
    stats = EMAStats()
    r = T(1.0, 0.0, 1.0, 0.0)
    a = ema_grpo(r, ["p", "p", "q", "q"], ["math"] * 4, stats)
    # first sight: m1 = 0.5, m2 = 0.5, std = sqrt(0.5 - 0.25) = 0.5; A = +-0.5 / 0.5
    assert stats.m1["math"] == 0.5 and stats.m2["math"] == 0.5
    assert torch.allclose(a, T(1, -1, 1, -1), atol=1e-5)
    # second batch: b1 = 0.75, b2 = 0.625; m1 = .99*.5 + .01*.75 = 0.5025; m2 = .99*.5 + .01*.625 = 0.50125
    a = ema_grpo(T(1.0, 0.5, 1.0, 0.5), ["r", "r", "s", "s"], ["math"] * 4, stats)
    assert stats.m1["math"] == pytest.approx(0.5025) and stats.m2["math"] == pytest.approx(0.50125)
    s = math.sqrt(0.50125 - 0.5025**2)
    assert a[0].item() == pytest.approx(0.25 / (s + 1e-6), rel=1e-5)
    assert stats.last["math"]["ema_std"] == pytest.approx(s) and stats.last["math"]["batch_mean"] == 0.75


def test_ema_grpo_keeps_tasks_apart_and_guards_outliers():
    stats = EMAStats()
    # a sparse task (0/1) and a dense one (tiny spread): same centred values scale differently
    r = T(1.0, 0.0, 0.50, 0.51)
    a = ema_grpo(r, ["x", "x", "y", "y"], ["OCR", "OCR", "regression", "regression"], stats)
    assert set(stats.m1) == {"OCR", "regression"}
    assert a[0].item() == pytest.approx(1.0, abs=1e-4)  # 0.5 / std 0.5
    # regression: std = max(0.005, 1e-3) = 0.005 -> |A| = 0.005 / 0.005 = 1 (no guard)
    assert a[3].item() == pytest.approx(1.0, rel=1e-3)
    # a group far from the task's running spread trips the guard: population std instead
    stats2 = EMAStats(guard=5.0)
    ema_grpo(T(0.5, 0.5, 0.5, 0.5), ["a", "a", "b", "b"], ["t"] * 4, stats2)  # std floors at min_std
    a = ema_grpo(T(0.0, 1.0, 0.5, 0.5), ["c", "c", "d", "d"], ["t"] * 4, stats2)
    assert torch.allclose(a[:2], T(-1.0, 1.0), atol=1e-5)  # (r - 0.5) / population std 0.5
    assert stats2.last["t"]["guarded"] == 0.5


def test_ema_state_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.random(8), dtype=torch.float32), [f"g{i // 2}" for i in range(8)],
                ["a" if i < 4 else "b" for i in range(8)]) for _ in range(6)]
    straight = EMAStats()
    outs = [ema_grpo(r, g, t, straight) for r, g, t in batches]
    first = EMAStats()
    for r, g, t in batches[:3]:
        ema_grpo(r, g, t, first)
    resumed = EMAStats(decay=0.5)  # wrong settings, overwritten by the state
    resumed.load_state_dict(first.state_dict())
    later = [ema_grpo(r, g, t, resumed) for r, g, t in batches[3:]]
    assert all(torch.equal(a, b) for a, b in zip(outs[3:], later))
    assert resumed.state_dict() == straight.state_dict()


def test_estimator_errors():
    with pytest.raises(AdvantageError, match="at least 2 rollouts"):
        grpo(T(1.0, 0.0, 1.0), ["a", "a", "b"])
    with pytest.raises(AdvantageError, match="mixes task keys"):
        ema_grpo(T(1.0, 0.0), ["a", "a"], ["math", "OCR"], EMAStats())
    with pytest.raises(AdvantageError, match="finite"):
        dr_grpo(T(float("nan"), 0.0), ["a", "a"])
    with pytest.raises(AdvantageError, match="unknown estimator"):
        compute_advantages("ppo", T(1.0, 0.0), ["a", "a"], ["t", "t"])
    assert compute_advantages("ema_grpo", T(1.0, 0.0), ["a", "a"], ["t", "t"], EMAStats()).shape == (2,)


def test_filtering():
    g = ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3
    acc = [1, 1, 1, 0, 0, 0, 1, 0, 0, 0.5, 0.5, 0.5]
    scores = [1.5] * 3 + [0.6] * 3 + [1.5, 0.6, 0.6] + [1.0] * 3
    assert keep_groups(g, acc) == {"c", "d"}  # a (mean 1) and b (mean 0) carry no signal
    assert keep_groups(g, acc, scores, drop_equal_scores=True) == {"c"}  # d: all scores equal
    assert mask_for(g, {"c"}).tolist() == [False] * 6 + [True] * 3 + [False] * 3
    # a negative low bound drops no group for low accuracy: an all-wrong group whose rewards differ (format,
    # structure) is kept, an all-wrong group whose rewards agree is still dropped with drop_equal_scores
    g2 = g + ["e"] * 3
    acc2, scores2 = acc + [0, 0, 0], scores + [0.5, 0.25, 0.5]
    assert keep_groups(g2, acc2, scores2, low=-1, drop_equal_scores=True) == {"c", "e"}
    assert keep_groups(g2, acc2, scores2, low=0.0, drop_equal_scores=True) == {"c"}
    from onethinker.rl.config import AlgorithmConfig
    assert AlgorithmConfig(filter_low=-1).filter_low == -1


def test_policy_loss_by_hand():
    cfg = LossConfig(clip_low=0.2, clip_high=0.3, dual_clip=3.0)
    old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 5.0]]))  # ratios 1.5, 0.5, 1.1, 5.0
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    loss, m = policy_loss(logp, old, adv, mask, cfg)
    # token 1: A>0, ratio 1.5 clipped to 1.3 -> -1.3; token 2: ratio 0.5 -> -min(0.5, 0.8) = -0.5
    # token 3: A<0, ratio 1.1 -> max(1.1, 1.1) = 1.1; token 4: ratio 5 -> max(5, 1.3) = 5, dual cap 3 -> 3
    assert loss.item() == pytest.approx((-1.3 - 0.5 + 1.1 + 3.0) / 4)
    assert m["dual_clip_frac"] == 0.25
    # the mask drops tokens from the mean
    loss2, _ = policy_loss(logp, old, adv, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), cfg)
    assert loss2.item() == pytest.approx((-1.3 - 0.5) / 2)


def test_kl_penalty():
    logp, ref = torch.tensor([[0.0, -1.0]]), torch.tensor([[-0.5, -1.0]])
    k = low_var_kl(logp, ref)
    assert k[0, 0].item() == pytest.approx(math.exp(-0.5) + 0.5 - 1) and k[0, 1].item() == 0.0
    cfg = LossConfig(kl_coef=0.01)
    loss, m = policy_loss(logp, logp.detach(), torch.zeros(1), torch.ones(1, 2), cfg, ref_logp=ref)
    assert loss.item() == pytest.approx(0.01 * k.mean().item()) and m["kl"] == pytest.approx(k.mean().item())
