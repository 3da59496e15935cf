"""Checkpoint discovery (onethinker.checkpoints): one reading of --resume for SFT and RL layouts."""

import logging

import pytest

from onethinker.checkpoints import RL_LAYOUT, SFT_LAYOUT, resolve_resume


def test_sft_layout_newest_by_step_number(tmp_path):
    for step in (5, 40, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "final").mkdir()
    assert [p.name for p in SFT_LAYOUT.list(tmp_path)] == ["checkpoint-5", "checkpoint-10", "checkpoint-40"]
    assert resolve_resume(SFT_LAYOUT, tmp_path, "latest").name == "checkpoint-40"
    assert resolve_resume(SFT_LAYOUT, tmp_path / "missing", "auto") is None
    with pytest.raises(ValueError, match="no checkpoint-N folder"):
        resolve_resume(SFT_LAYOUT, tmp_path / "missing", True, error=ValueError)


def test_rl_layout_counts_complete_checkpoints_only(tmp_path, caplog):
    root = tmp_path / "checkpoints"
    assert resolve_resume(RL_LAYOUT, tmp_path, None) is None
    with caplog.at_level(logging.WARNING):
        assert resolve_resume(RL_LAYOUT, tmp_path, True, missing="warn") is None
    assert "starting from scratch" in caplog.text
    for step, complete in ((2, True), (4, True), (6, False)):
        (root / f"step-{step:06d}").mkdir(parents=True)
        if complete:
            (root / f"step-{step:06d}" / "trainer_state.pt").write_bytes(b"")
    (root / ".step-000008.tmp").mkdir()
    assert resolve_resume(RL_LAYOUT, tmp_path, "latest", missing="warn").name == "step-000004"
    assert [p.name for p in RL_LAYOUT.list(tmp_path, complete_only=False)] == ["step-000002", "step-000004", "step-000006"]
    assert resolve_resume(RL_LAYOUT, tmp_path, str(root / "step-000002")).name == "step-000002"
    with pytest.raises(FileNotFoundError, match="trainer_state.pt"):
        resolve_resume(RL_LAYOUT, tmp_path, str(root / "step-000006"))
    with pytest.raises(FileNotFoundError):
        resolve_resume(RL_LAYOUT, tmp_path, "auto", allow_auto=False)


def test_trim_log_keeps_the_steps_up_to_the_restart(tmp_path):
    import json

    from onethinker.checkpoints import trim_log

    log = tmp_path / "log.jsonl"
    assert trim_log(log, 3) == 0 and not log.exists()  # nothing to trim: nothing written
    rows = [{"step": 1}, {"step": 2}, {"step": 3, "train_runtime": 5.0}, {"step": 3}, {"step": 4}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "los')
    assert trim_log(log, 3, drop_keys=("train_runtime",)) == 3
    assert [json.loads(line) for line in log.read_text().splitlines()] == [{"step": 1}, {"step": 2}, {"step": 3}]
    assert trim_log(log, 3) == 0  # already in agreement: untouched
    assert trim_log(log, 0) == 3 and log.read_text() == ""  # a fresh run
