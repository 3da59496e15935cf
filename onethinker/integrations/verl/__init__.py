"""OneThinker on verl (pinned: verl 0.9.1, its v1 trainer), for RL at scale: Ray, FSDP, vLLM.

``onethinker train rl --engine verl --config FILE`` runs ``python -m verl.trainer.main_ppo`` with Hydra
overrides built from the onethinker :class:`~onethinker.rl.config.RLConfig` (:mod:`.launcher`). What verl
runs of ours:

- :mod:`.plugin` - imported by verl itself (entry point ``verl.plugins`` and ``VERL_USE_EXTERNAL_MODULES``):
  registers the advantage estimator ``ema_grpo`` and the trainer ``trainer.v1.trainer_mode=onethinker``;
- :mod:`.estimator` - the estimator: :func:`onethinker.rl.advantages.ema_grpo`, the task key of each
  rollout read from its group uid (:mod:`.uid`);
- :mod:`.trainer` - verl's sync trainer plus four hooks: task-keyed group uids, the EMA state saved and
  restored with verl's checkpoints (:mod:`.state`), OneThinker's accuracy filter
  (:func:`onethinker.rl.filtering.keep_groups`) in verl's dynamic sampling, per-task metrics;
- :mod:`.reward` - verl's custom reward function: :mod:`onethinker.rewards`, returning the overall score
  with accuracy, format and structure.

Only :mod:`.plugin`, :mod:`.trainer` and :mod:`.estimator` (through the plugin) import verl; the launcher
and the other modules import in any environment. docs/verl.md has the commands.
"""

VERL_VERSION = "0.9.1"  # the release this integration is written against (pyproject's `verl` extra)
ESTIMATOR = "ema_grpo"  # algorithm.adv_estimator
TRAINER_MODE = "onethinker"  # trainer.v1.trainer_mode
PLUGIN_MODULE = "onethinker.integrations.verl.plugin"
REWARD_MODULE = "onethinker.integrations.verl.reward"
