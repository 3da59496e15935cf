"""Weight averaging of checkpoints: the element-wise mean of several saved models of one architecture.

The native RL trainer's ``run.average_last: N`` makes its final model the mean of its last N checkpoints
(tail averaging: the weights a run passed through over its last steps, which varies less from step to step
than any single checkpoint); ``onethinker model average A B ... --out OUT`` does the same for any Hugging
Face folders (a verl run's merged checkpoints too).

Each folder holds the same weight files (``model.safetensors``, or the shards an index names) with the same
tensor names, shapes and dtypes. Floating-point tensors are averaged in float64 and cast back to their dtype;
any other tensor (integer buffers) must be equal in every folder. The output folder gets the last folder's
other files (config, generation config, tokenizer and processor files), not its optimiser or trainer state,
and ``averaged_from.json`` naming the folders. It is written next to ``out`` and moved into place, so a stop
leaves either the old folder or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

__all__ = ["average_checkpoints", "CHECKPOINT_ONLY_FILES"]

#: files of a training checkpoint that are not part of the model (never copied into an average)
CHECKPOINT_ONLY_FILES = frozenset({"optim.pt", "trainer_state.pt", "trainer_state.json", "averaged_from.json"})


def _weight_files(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.glob("*.safetensors"))
    if not names:
        raise FileNotFoundError(f"{folder}: no *.safetensors weight files (a model folder saved with "
                                "save_pretrained(safe_serialization=True) is needed)")
    return names


def _mean(key: str, tensors: list, paths: list[Path], name: str):
    """The mean of one tensor over the folders (float64 sums, cast back); a non-float tensor must agree."""
    import torch

    first = tensors[0]
    for p, t in zip(paths[1:], tensors[1:]):
        if t.shape != first.shape or t.dtype != first.dtype:
            raise ValueError(f"{p / name}: tensor {key} is {t.dtype} {tuple(t.shape)}, "
                             f"{paths[0] / name} has {first.dtype} {tuple(first.shape)}")
        if not first.is_floating_point() and not torch.equal(t, first):
            raise ValueError(f"{p / name}: tensor {key} ({t.dtype}) differs from {paths[0] / name}'s and cannot be averaged")
    if not first.is_floating_point():
        return first
    return (sum(t.to(torch.float64) for t in tensors) / len(tensors)).to(first.dtype)


def average_checkpoints(folders: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Write the element-wise mean of the weights in ``folders`` to ``out`` (see the module docstring);
    returns ``out``. One folder copies it. Raises ValueError naming the folder, file and tensor that differ."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    paths = [Path(f) for f in folders]
    if not paths:
        raise ValueError("average_checkpoints: no folders given")
    out = Path(out)
    if any(p.resolve() == out.resolve() for p in paths):
        raise ValueError(f"average_checkpoints: the output folder {out} is one of the inputs")
    for p in paths:
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such model folder")
    names = _weight_files(paths[0])
    for p in paths[1:]:
        other = _weight_files(p)
        if other != names:
            raise ValueError(f"{p}: weight files {other} differ from {paths[0]}'s {names}")

    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for f in paths[-1].iterdir():  # config, tokenizer, processor, shard index: the last checkpoint's
        if f.is_file() and not f.name.endswith(".safetensors") and f.name not in CHECKPOINT_ONLY_FILES:
            shutil.copy2(f, tmp / f.name)

    try:
        for name in names:
            with ExitStack() as stack:
                handles = [stack.enter_context(safe_open(str(p / name), framework="pt")) for p in paths]
                keys = sorted(handles[0].keys())
                for p, h in zip(paths[1:], handles[1:]):
                    if sorted(h.keys()) != keys:
                        missing = sorted(set(keys) ^ set(h.keys()))[:3]
                        raise ValueError(f"{p / name}: tensor names differ from {paths[0] / name}'s (e.g. {missing})")
                meta = handles[0].metadata() or {}
                averaged = {k: _mean(k, [h.get_tensor(k) for h in handles], paths, name) for k in keys}
            save_file(averaged, str(tmp / name), metadata={**meta, "format": meta.get("format", "pt")})
            del averaged
    except BaseException:  # a refused folder leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "averaged_from.json").write_text(json.dumps({"folders": [str(p) for p in paths]}, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
