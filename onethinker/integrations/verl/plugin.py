"""Registers OneThinker in verl's registries; verl imports this module itself.

verl 0.9.1 imports plugins when ``verl`` is imported (``verl/__init__.py``), in every process of a run
(the driver, the trainer actor, the FSDP, rollout and reward workers), two ways:

1. the modules named in the environment variable ``VERL_USE_EXTERNAL_MODULES`` (comma-separated;
   ``verl.utils.import_utils.import_external_libs``: an import error stops verl);
2. every entry point of the group ``verl.plugins`` (``importlib.metadata.entry_points``; unless
   ``VERL_USE_EXTERNAL_PLUGINS=none``); a failing entry point is only logged at DEBUG level.

onethinker declares the entry point (pyproject.toml: ``[project.entry-points."verl.plugins"]``), and the
launcher also sets ``VERL_USE_EXTERNAL_MODULES`` (for the driver and, through Ray's runtime environment, for
every worker), so a broken install fails loudly instead of quietly running without ``ema_grpo``.

Importing registers:

- ``ema_grpo`` in verl's advantage-estimator registry (``verl/trainer/ppo/core_algos.py``
  ``register_adv_est`` / ``get_adv_estimator_fn``) -> :func:`.estimator.compute_ema_grpo_advantage`;
- ``onethinker`` in verl's v1 trainer registry (``verl/trainer/ppo/v1/trainer_base.py`` ``register_trainer`` /
  ``get_trainer_cls``, chosen by ``trainer.v1.trainer_mode``) -> :class:`.trainer.OneThinkerTrainer`.

A failure is logged at WARNING level and kept in :data:`ERRORS`; the trainer and ``python -m
onethinker.integrations.verl.plugin --check`` (run by ``make verl-env`` and by the launcher before a run)
verify that both names resolve, and stop with the reason when they do not.
"""

from __future__ import annotations

import logging
import sys

from . import ESTIMATOR, PLUGIN_MODULE, TRAINER_MODE

log = logging.getLogger(__name__)

#: what failed to register, and why
ERRORS: dict[str, str] = {}


def register_estimator() -> None:
    from verl.trainer.ppo import core_algos

    from .estimator import compute_ema_grpo_advantage

    existing = core_algos.ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR)
    if existing is compute_ema_grpo_advantage:
        return
    if existing is not None:
        raise RuntimeError(f"verl already has an advantage estimator named {ESTIMATOR!r}: {existing!r}")
    core_algos.register_adv_est(ESTIMATOR)(compute_ema_grpo_advantage)


def register_trainer() -> None:
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY
    from verl.trainer.ppo.v1.trainer_base import register_trainer as _register

    from .trainer import OneThinkerTrainer

    if TRAINER_REGISTRY.get(TRAINER_MODE) is not OneThinkerTrainer:
        _register(TRAINER_MODE)(OneThinkerTrainer)


def register() -> dict[str, str]:
    """Register both names (idempotent); returns :data:`ERRORS`."""
    for name, fn in (("estimator", register_estimator), ("trainer", register_trainer)):
        try:
            fn()
            ERRORS.pop(name, None)
        except Exception as e:  # noqa: BLE001 - verl would swallow it; keep and report it instead
            ERRORS[name] = f"{type(e).__name__}: {e}"
            log.warning("onethinker could not register its verl %s: %s", name, ERRORS[name])
    return ERRORS


def check() -> list[str]:
    """Problems that would stop an onethinker verl run (empty when none): verl imports, the plugin's entry
    point is installed, and ``ema_grpo`` / the ``onethinker`` trainer resolve in verl's registries."""
    problems: list[str] = []
    try:
        import verl  # noqa: F401 - importing verl loads its plugins (this module among them)
        from verl.trainer.ppo.core_algos import get_adv_estimator_fn
        from verl.trainer.ppo.v1.trainer_base import get_trainer_cls
    except Exception as e:  # noqa: BLE001
        return [f"verl cannot be imported here ({type(e).__name__}: {e}); run `make verl-env` and use .venv-verl"]
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="verl.plugins") if ep.value == PLUGIN_MODULE]
    if not eps:
        problems.append(f"no 'verl.plugins' entry point for {PLUGIN_MODULE} (reinstall onethinker: pip install -e '.[verl]')")
    register()  # covers a process that imported verl before onethinker was installed
    from .estimator import compute_ema_grpo_advantage
    from .trainer import OneThinkerTrainer

    try:
        if get_adv_estimator_fn(ESTIMATOR) is not compute_ema_grpo_advantage:
            problems.append(f"verl's {ESTIMATOR!r} is not onethinker's estimator")
    except ValueError as e:
        problems.append(f"{ESTIMATOR!r} is not registered in verl: {ERRORS.get('estimator', e)}")
    try:
        if get_trainer_cls(TRAINER_MODE) is not OneThinkerTrainer:
            problems.append(f"verl's trainer {TRAINER_MODE!r} is not onethinker's")
    except ValueError as e:
        problems.append(f"trainer {TRAINER_MODE!r} is not registered in verl: {ERRORS.get('trainer', e)}")
    return problems


if __name__ != "__main__":
    register()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--check"]):
        print("usage: python -m onethinker.integrations.verl.plugin [--check]", file=sys.stderr)
        return 2
    problems = check()
    if problems:
        for p in problems:
            print(f"onethinker verl plugin: {p}", file=sys.stderr)
        return 1
    import verl

    print(f"onethinker verl plugin: OK (verl {verl.__version__}: estimator {ESTIMATOR!r}, trainer mode {TRAINER_MODE!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
