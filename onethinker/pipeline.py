"""Old path of the demo and ablation recipes, now ``onethinker.recipes`` (kept so outside code that imports
it still works)."""

from .recipes.ablation import run_ablation  # noqa: F401
from .recipes.demo import run_demo, run_heldout_draw  # noqa: F401
from .recipes.stages import *  # noqa: F401,F403
from .recipes.stages import DEMO_PRETRAIN_STEPS, DEMO_RL_TASKS, SHIPPED_BASE, DemoCorpus  # noqa: F401
