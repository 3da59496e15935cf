"""Model judges for open-ended answers (spec/rewards.md section 7).

The paper scores open-ended answers with the reward model POLAR-7B served by vLLM's pooling API.
``PolarJudge`` sends batches of ``prompt + "\\n" + reference + "<|reward|>" + prompt + "\\n" + output
+ "[UNUSED_TOKEN_130]"`` to ``POST {url}/pooling`` and reads ``data[i]["data"][-1][0]``. A batch
that still fails after its retries is scored with ROUGE instead; every such fallback is counted.
Scores of the rollouts of one prompt (same problem_id) are then z-scored and min-max scaled to [0, 1].
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

log = logging.getLogger(__name__)

REWARD_SEPARATOR = "<|reward|>"
REWARD_END = "[UNUSED_TOKEN_130]"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class JudgeConfig:
    """How open-ended answers are judged. ``backend``: "rouge" (default) or "polar"."""

    backend: str = "rouge"
    url: str = "http://127.0.0.1:8000"
    model: str = "internlm/POLAR-7B"
    batch_size: int = 64
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    concurrency: int = 4
    normalize_by_problem_id: bool = True

    def __post_init__(self) -> None:
        if self.backend not in ("rouge", "polar"):
            raise ValueError(f"judge.backend must be 'rouge' or 'polar', got {self.backend!r}")
        if self.batch_size < 1 or self.retries < 0 or self.concurrency < 1 or self.timeout_s <= 0:
            raise ValueError("judge: batch_size >= 1, retries >= 0, concurrency >= 1 and timeout_s > 0 are required")


@dataclass(frozen=True)
class JudgeItem:
    prompt: str
    reference: str
    output: str
    group: Hashable = None  # problem_id: the rollouts of one prompt are normalised together


@dataclass
class JudgeStats:
    requests: int = 0
    failed_requests: int = 0
    batches: int = 0
    fallback_batches: int = 0
    fallback_items: int = 0
    errors: list[str] = field(default_factory=list)


class JudgeError(RuntimeError):
    pass


def polar_text(prompt: str, reference: str, output: str) -> str:
    return prompt + "\n" + reference + REWARD_SEPARATOR + prompt + "\n" + output + REWARD_END


def normalize_groups(scores: Sequence[float], groups: Sequence[Hashable]) -> list[float]:
    """Per group: z-score, then min-max to [0, 1]; a group whose scores are all equal gets 1.0.

    In float32, as the recipe computes it: z = (v - mean) / (std + 1e-6); (z - min) / (max - min + 1e-12).
    """
    out = [0.0] * len(scores)
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    for idx in members.values():
        v = np.array([scores[i] for i in idx], dtype=np.float32)
        std = v.std()
        if std == 0:
            norm = np.ones_like(v)
        else:
            z = (v - v.mean()) / (std + np.float32(1e-6))
            norm = (z - z.min()) / (z.max() - z.min() + np.float32(1e-12))
        for k, i in enumerate(idx):
            out[i] = float(norm[k])
    return out


class PolarJudge:
    """Client of a vLLM server that serves POLAR (or any reward model with the same protocol)."""

    def __init__(self, config: JudgeConfig, fallback: Callable[[str, str], float]) -> None:
        self.config = config
        self.fallback = fallback  # (reference, output) -> score in [0, 1], used when a batch fails
        self.stats = JudgeStats()
        self._lock = threading.Lock()  # batches run on several threads

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    # -- HTTP ---------------------------------------------------------------------------------
    def _post(self, texts: list[str]) -> list[float]:
        body = json.dumps({"model": self.config.model, "input": texts}).encode("utf-8")
        req = urllib.request.Request(
            self.config.url.rstrip("/") + "/pooling",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
            raw = resp.read()
        try:
            payload = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise JudgeError("reply nested too deeply to read") from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or len(data) != len(texts):
            raise JudgeError(f"expected {len(texts)} results in 'data', got {type(data).__name__} "
                             f"of length {len(data) if isinstance(data, list) else '-'}")
        scores = []
        for i, entry in enumerate(data):
            try:
                value = float(entry["data"][-1][0])
            except (KeyError, IndexError, TypeError, ValueError, OverflowError) as e:
                raise JudgeError(f"result {i}: cannot read data[-1][0] ({type(e).__name__})") from e
            if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:  # normalised in float32 below
                raise JudgeError(f"result {i}: score is not a finite float32 ({value})")
            scores.append(value)
        return scores

    def _score_batch(self, batch: list[JudgeItem]) -> tuple[list[float], bool]:
        texts = [polar_text(b.prompt, b.reference, b.output) for b in batch]
        last_error = ""
        for attempt in range(self.config.retries + 1):
            self._count("requests")
            try:
                return self._post(texts), False
            # URLError and socket errors are OSErrors; a malformed reply is an HTTPException (bad status line,
            # incomplete read), a ValueError (not UTF-8, not JSON), an OverflowError (an absurd chunk size) or a
            # JudgeError (not the pooling shape)
            except (OSError, http.client.HTTPException, ValueError, OverflowError, JudgeError) as e:
                self._count("failed_requests")
                last_error = f"{type(e).__name__}: {e}"
                if attempt < self.config.retries:
                    time.sleep(self.config.backoff_s * (2**attempt))
        with self._lock:
            self.stats.errors.append(last_error)
        log.warning("reward judge: a batch of %d failed after %d tries (%s); scoring it with ROUGE",
                    len(batch), self.config.retries + 1, last_error)
        return [self.fallback(b.reference, b.output) for b in batch], True

    # -- public -------------------------------------------------------------------------------
    def score(self, items: Sequence[JudgeItem]) -> list[float]:
        """Scores in [0, 1], in input order (normalised per group when configured)."""
        if not items:
            return []
        bs = self.config.batch_size
        batches = [list(items[i : i + bs]) for i in range(0, len(items), bs)]
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(batches))) as ex:
            outcomes = list(ex.map(self._score_batch, batches))
        raw: list[float] = []
        for batch, (scores, fell_back) in zip(batches, outcomes):
            raw.extend(scores)
            self.stats.batches += 1
            if fell_back:
                self.stats.fallback_batches += 1
                self.stats.fallback_items += len(batch)
        if self.config.normalize_by_problem_id:
            raw = normalize_groups(raw, [it.group for it in items])
        return [max(0.0, min(1.0, s)) if math.isfinite(s) else 0.0 for s in raw]


def make_judge(config: JudgeConfig, fallback: Callable[[str, str], float]) -> PolarJudge | None:
    """None for the ROUGE back-end (the rule-based accuracy applies), else the client."""
    if config.backend == "rouge":
        return None
    return PolarJudge(config, fallback)


__all__ = ["JudgeConfig", "JudgeItem", "JudgeStats", "PolarJudge", "make_judge", "normalize_groups", "polar_text"]
