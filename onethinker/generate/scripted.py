"""A scripted model: answers from the ground truth with noise, in the OneThinker output format.

For tests, demos of the evaluation pipeline, and as a yardstick: with ``noise=0`` every answer is
right; with noise p an answer is a near miss with probability p/2 and wrong with probability p/2
(perturbations from onethinker.synthetic.rollouts), and a fraction ``malformed`` breaks the format.
"""

from __future__ import annotations

import random
from typing import Any

from ..tasks.response import truth_answer
from ..synthetic.rollouts import perturb
from ..tasks import find_task
from .base import GenerationRequest, Generator, SamplingConfig, register_backend


@register_backend("scripted", cli_options=("noise", "seed"))
class ScriptedGenerator(Generator):
    forkable = True  # plain Python, seeded per request

    def __init__(self, noise: float = 0.3, malformed: float = 0.05, seed: int = 0, delay_s: float = 0.0, **_: Any) -> None:
        """``delay_s``: seconds to wait per request (to stand in for a model's latency in tests)."""
        if not 0 <= noise <= 1 or not 0 <= malformed <= 1:
            raise ValueError("noise and malformed must be in [0, 1]")
        self.noise, self.malformed, self.seed, self.delay_s = noise, malformed, seed, delay_s
        self.name = f"scripted (noise {noise:g}, malformed {malformed:g})"

    def _answer(self, record: dict, rng: random.Random) -> str:
        truth_text = truth_answer(str(record.get("solution", record.get("answer", ""))))
        task = find_task(record.get("problem_type"), record.get("data_type"))
        if task is None:
            return "<think>I cannot tell.</think><answer></answer>"
        r = rng.random()
        if r < self.malformed:
            return f"I think the answer is {truth_text}"  # no tags
        parsed = task.parse(truth_text)
        if not parsed.ok:
            return f"<think>The answer follows.</think><answer>{truth_text}</answer>"
        if r < self.malformed + (1 - self.malformed) * (1 - self.noise):
            text = task.format_answer(parsed.value)  # right, and written as the truth is
        else:
            value = perturb(task, parsed.value, rng, rng.choice(["near", "wrong"]))
            text = value if isinstance(value, str) else task.format_answer(value)
        return f"<think>Looking at the {record.get('data_type', 'input')}, the answer is clear.</think><answer>{text}</answer>"

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:
        out = []
        if self.delay_s:
            import time

            time.sleep(self.delay_s * len(requests))
        for req in requests:
            key = f"{self.seed}:{sampling.seed}:{req.record.get('problem_id')}:{req.record.get('problem', '')}"
            rng = random.Random(key.encode("utf-8", "surrogatepass"))  # (a question may hold a lone surrogate)
            out.append([self._answer(req.record, rng) for _ in range(sampling.n)])
        return out
