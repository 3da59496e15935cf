"""Old path of ``onethinker.synthetic.corpus`` (kept so outside code that imports it still works)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("onethinker.synthetic.corpus")
