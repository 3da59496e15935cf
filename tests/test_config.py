"""Config: YAML + dotted overrides into dataclasses, with errors that name the key."""

import pytest

from onethinker.config import ConfigError, apply_overrides, load_config, save_config
from onethinker.rewards import RewardConfig


def test_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("reward:\n  format_weight: 0.2\n  judge:\n    backend: polar\n    batch_size: 16\nother: 1\n")
    cfg = load_config(RewardConfig, path, ["judge.url=http://h:9", "workers=0"], section="reward")
    assert cfg.format_weight == 0.2 and cfg.workers == 0
    assert cfg.judge.backend == "polar" and cfg.judge.batch_size == 16 and cfg.judge.url == "http://h:9"
    assert cfg.judge.retries == 3  # untouched defaults stay
    out = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(RewardConfig, out) == cfg


def test_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="judge.bach_size"):
        apply_overrides(RewardConfig(), ["judge.bach_size=3"])
    with pytest.raises(ConfigError, match="workers: expected an integer"):
        apply_overrides(RewardConfig(), ["workers=two"])
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides(RewardConfig(), ["workers"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_weight: [1\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(RewardConfig, bad)
    with pytest.raises(ConfigError, match="missing.yaml: cannot read"):
        load_config(RewardConfig, tmp_path / "missing.yaml")


def test_values_are_checked_by_the_dataclass():
    with pytest.raises(ValueError, match="judge.backend must be"):
        apply_overrides(RewardConfig(), ["judge.backend=gpt4"])


def test_exponents_without_a_dot_are_numbers():
    # PyYAML follows YAML 1.1, where 1e-5 is a string; configs and --set must still read it as a number
    assert apply_overrides(RewardConfig(), ["format_weight=1e-1"]).format_weight == 0.1
