"""Shared fixtures: one small synthetic corpus (images and videos) per test session."""

import pytest

from onethinker.data.synth import SynthConfig, synthesize


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A synthetic corpus of 96 records over every task (train and held-out), built once."""
    out = tmp_path_factory.mktemp("corpus")
    synthesize(SynthConfig(n=96, seed=7, workers=1), out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(corpus, tmp_path_factory):
    """A tiny random Qwen3-VL (tokenizer trained on the session corpus), built once."""
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny-session")
    build_tiny(out, corpus_dir=corpus, seed=0)
    return out
