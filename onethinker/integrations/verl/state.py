"""The EMA-GRPO state of a verl run: one :class:`~onethinker.rl.advantages.EMAStats` in the process that
computes advantages, saved into and restored from verl's checkpoint folders.

verl computes advantages once per step on the whole batch in its driver (the trainer actor of
``verl.trainer.main_ppo``), so one state serves the run and no rank ever holds another copy. verl calls a
registered estimator as a plain function (no trainer, no state argument), so the state the estimator uses
is the one *bound* in this process: the onethinker trainer binds its own at start-up
(:func:`bind`) and the estimator reads it (:func:`current`). Code that calls the estimator outside that
trainer (tests, verl's legacy trainer) gets a state built from the algorithm config on first use.

Checkpoints: verl writes ``<trainer.default_local_dir>/global_step_<N>/`` (``actor/``, ``data.pt``) and
then ``latest_checkpointed_iteration.txt``. The trainer writes :data:`FILE` into the step folder *before*
verl's own save (so a checkpoint verl marks as latest always has it) and reads it back after verl's load.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Mapping

from ...rl.advantages import EMAStats

FILE = "ema_state.json"
FORMAT = "onethinker-ema-grpo/1"

_lock = threading.Lock()
_bound: EMAStats | None = None


class StateError(RuntimeError):
    pass


def _section(algorithm: Any) -> Mapping[str, Any]:
    """``algorithm.onethinker`` of a verl config (DictConfig, dict, dataclass or None)."""
    if algorithm is None:
        return {}
    get = getattr(algorithm, "get", None)
    section = get("onethinker", None) if callable(get) else getattr(algorithm, "onethinker", None)
    return section or {}


def stats_from_config(algorithm: Any = None) -> EMAStats:
    """A fresh EMAStats with the hyper-parameters of ``algorithm.onethinker`` (verl's algorithm config)."""
    s = _section(algorithm)
    defaults = EMAStats()
    return EMAStats(
        decay=float(s.get("ema_decay", defaults.decay)),
        min_std=float(s.get("min_std", defaults.min_std)),
        guard=float(s.get("guard", defaults.guard)),
        eps=float(s.get("eps", defaults.eps)),
    )


def bind(stats: EMAStats) -> EMAStats:
    """Make ``stats`` the state the estimator updates in this process."""
    global _bound
    with _lock:
        _bound = stats
    return stats


def unbind() -> None:
    global _bound
    with _lock:
        _bound = None


def current(algorithm: Any = None) -> EMAStats:
    """The bound state; binds one built from ``algorithm`` if none is."""
    global _bound
    with _lock:
        if _bound is None:
            _bound = stats_from_config(algorithm)
        return _bound


def save(stats: EMAStats, step_dir: str | os.PathLike, global_step: int) -> Path:
    """Write ``step_dir/ema_state.json`` atomically (the folder is created when missing)."""
    folder = Path(step_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    tmp = path.with_name(path.name + ".tmp")
    payload = {"format": FORMAT, "global_step": int(global_step), "ema": stats.state_dict()}
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(stats: EMAStats, step_dir: str | os.PathLike) -> dict[str, Any]:
    """Restore ``stats`` from ``step_dir/ema_state.json``; returns the file's content.

    A missing or unreadable file is a :class:`StateError` naming the path: resuming EMA-GRPO with fresh
    statistics would silently change the advantages (the reference implementation's bug)."""
    path = Path(step_dir) / FILE
    if not path.is_file():
        raise StateError(
            f"{path}: no EMA-GRPO state in this checkpoint (it was not written by the onethinker trainer). "
            "Resume from a checkpoint of an ema_grpo run, or start a fresh run without --resume."
        )
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {FORMAT!r}")
        stats.load_state_dict(payload["ema"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StateError(f"{path}: cannot read the EMA-GRPO state ({e})") from e
    return payload
