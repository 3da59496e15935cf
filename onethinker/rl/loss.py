"""The policy loss (spec/rl-algorithm.md): token-level clipped surrogate with asymmetric clipping and a
dual clip for negative advantages, averaged over all response tokens of the mini-batch ("token-mean"),
and an optional low-variance KL penalty to a frozen reference policy."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossConfig:
    clip_low: float = 0.2  # eps_low
    clip_high: float = 0.3  # eps_high (paper run)
    dual_clip: float = 3.0  # c; 0 disables
    kl_coef: float = 0.0  # low_var_kl coefficient; the paper's final run uses none

    def __post_init__(self) -> None:
        if not 0 <= self.clip_low < 1:
            raise ValueError(f"loss.clip_low must be in [0, 1), got {self.clip_low}")
        if self.clip_high < 0:
            raise ValueError(f"loss.clip_high must be >= 0, got {self.clip_high}")
        if self.dual_clip != 0 and self.dual_clip <= 1:
            raise ValueError(f"loss.dual_clip must be > 1 (or 0: off), got {self.dual_clip}")
        if self.kl_coef < 0:
            raise ValueError(f"loss.kl_coef must be >= 0, got {self.kl_coef}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def low_var_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 estimator: exp(ref - logp) - (ref - logp) - 1, clamped to [-10, 10]."""
    d = (ref_logp - logp).clamp(-20, 20)
    return (torch.exp(d) - d - 1).clamp(-10, 10)


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: LossConfig,
    ref_logp: torch.Tensor | None = None,
    token_count: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``logp``, ``old_logp``, ``mask``: (B, T) per response token; ``advantages``: (B,) or (B, T).

    ratio = exp(logp - old_logp); loss = -min(ratio A, clip(ratio, 1 - eps_low, 1 + eps_high) A);
    where A < 0 the loss is capped at -c A (dual clip). Returns the token-mean loss and metrics.
    ``token_count``: the number of response tokens of the whole mini-batch when this call sees one
    micro-batch of it, so that the micro-batch losses add up to the mini-batch's token-mean.
    """
    mask = mask.to(logp.dtype)
    adv = advantages if advantages.dim() == 2 else advantages[:, None].expand_as(logp)
    log_ratio = (logp - old_logp).clamp(-20, 20)
    ratio = torch.exp(log_ratio)
    loss1 = -adv * ratio
    loss2 = -adv * ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high)
    clipped = torch.maximum(loss1, loss2)
    per_token = clipped
    dual = torch.zeros_like(per_token, dtype=torch.bool)
    if cfg.dual_clip > 0:
        cap = -cfg.dual_clip * adv
        dual = (adv < 0) & (clipped > cap)
        per_token = torch.where(adv < 0, torch.minimum(clipped, cap), clipped)
    denom = mask.sum().clamp(min=1) if token_count is None else max(float(token_count), 1.0)
    loss = (per_token * mask).sum() / denom
    metrics = {
        "pg_loss": float(loss.detach()),
        "clip_frac": float(masked_mean((loss2 > loss1).to(logp.dtype), mask).detach()),
        "dual_clip_frac": float(masked_mean(dual.to(logp.dtype), mask).detach()),
        "approx_kl_old": float(masked_mean(0.5 * log_ratio.pow(2), mask).detach()),
        "ratio_mean": float(masked_mean(ratio, mask).detach()),
    }
    if ref_logp is not None and cfg.kl_coef > 0:
        kl_sum = (low_var_kl(logp, ref_logp) * mask).sum() / denom
        loss = loss + cfg.kl_coef * kl_sum
        metrics["kl"] = float(masked_mean(low_var_kl(logp, ref_logp), mask).detach())
    elif ref_logp is not None:
        metrics["kl"] = float(masked_mean(low_var_kl(logp, ref_logp), mask).detach())
    return loss, metrics
