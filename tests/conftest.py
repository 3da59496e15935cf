"""Shared fixtures: one small synthetic corpus (images and videos) per test session."""

import pytest

from onethinker.synthetic.corpus import SynthConfig, synthesize


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A synthetic corpus over every task, built once: 56 SFT conversations, 40 RL prompts and 20 held-out
    items, each pool from its own scenes."""
    out = tmp_path_factory.mktemp("corpus")
    synthesize(SynthConfig(sft=56, rl=40, heldout=20, seed=7, workers=1), out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(corpus, tmp_path_factory):
    """A tiny random Qwen3-VL (tokenizer trained on the session corpus), built once."""
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny-session")
    build_tiny(out, corpus_dir=corpus, seed=0)
    return out
