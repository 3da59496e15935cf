"""OneThinker as an lmms-eval model (``lmms-eval --model onethinker``), for the benchmarks of the paper that
are not in the release's eval files (image QA, MMT-Bench; see ``onethinker eval --suite paper --list``).

lmms-eval finds the model through the entry point this package declares (pyproject.toml,
``[project.entry-points."lmms_eval.models"]``: ``onethinker = onethinker.integrations.lmms_eval:model_manifest``),
the registration mechanism lmms-eval documents for external models. The manifest names the class by its
import path only, so lmms-eval imports :mod:`.model` (and torch) when ``--model onethinker`` is asked for.

lmms-eval pins packages that the main environment needs newer (``av<16``; its ``latex2sympy2`` pulls
``math-verify`` back to 0.1), so it lives in its own environment: ``make lmms-env`` (``.venv-lmms``).
``python -m onethinker.integrations.lmms_eval --check`` verifies that lmms-eval resolves the model.
"""

from __future__ import annotations

MODEL_NAME = "onethinker"
MODEL_CLASS = "onethinker.integrations.lmms_eval.model.OneThinkerLMMS"


def model_manifest():
    """The entry point lmms-eval's model registry (v2) loads: a ``ModelManifest`` naming the model class."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_NAME, simple_class_path=MODEL_CLASS)
