"""Old path of ``onethinker.reward.judge`` (kept so outside code that imports it still works)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("onethinker.reward.judge")
