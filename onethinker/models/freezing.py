"""Freezing the vision tower and/or the projector of any Qwen-VL by parameter name (``visual.merger`` and
``visual.deepstack_merger_list`` are the projector, the rest of ``visual`` the vision tower); one place
for SFT and RL."""

from __future__ import annotations

from typing import Any

PROJECTOR_MODULES = ("merger", "deepstack_merger_list")


class FreezeError(RuntimeError):
    """Something is to be frozen that the model does not have."""


def param_part(name: str) -> str:
    """"vision_tower", "projector" or "language" for a parameter name of a Qwen-VL model (plain or
    wrapped: ``model.visual.blocks.0...``, ``visual.merger...``, ``base_model.model.model.visual...``)."""
    parts = name.split(".")
    if "visual" not in parts:
        return "language"
    i = parts.index("visual")
    child = parts[i + 1] if i + 1 < len(parts) else ""
    return "projector" if child in PROJECTOR_MODULES else "vision_tower"


def freeze_vision(model: Any, *, vision_tower: bool = True, projector: bool = True, strict: bool = True,
                  unfreeze: bool = True) -> dict[str, dict[str, int]]:
    """Set ``requires_grad`` by part: the vision tower and the projector frozen as asked, the rest left
    as it is (trainable after :func:`onethinker.models.load`; only the adapter with LoRA). With a peft
    model (or ``unfreeze=False``) nothing is unfrozen. Returns ``{part: {"trainable": n, "frozen": n}}``
    (parameter counts). With ``strict``, a model without a ``visual`` module is an error (FreezeError)
    when something is to be frozen."""
    is_peft = hasattr(model, "peft_config") or not unfreeze
    found = {"vision_tower": False, "projector": False}
    for name, p in model.named_parameters():
        part = param_part(name)
        if part in found:
            found[part] = True
            freeze = vision_tower if part == "vision_tower" else projector
            if freeze:
                p.requires_grad_(False)
            elif not is_peft:
                p.requires_grad_(True)
    if strict and ((vision_tower and not found["vision_tower"]) or (projector and not found["projector"])):
        missing = [k for k, v in found.items() if not v]
        raise FreezeError(f"{type(model).__name__}: no {' or '.join(missing)} parameters (expected names with "
                       f"'visual.' and, for the projector, 'visual.merger' / 'visual.deepstack_merger_list'); "
                       f"set model.freeze_vision_tower / model.freeze_projector to false for this model")
    return count_parts(model)


def count_parts(model: Any) -> dict[str, dict[str, int]]:
    out = {k: {"trainable": 0, "frozen": 0} for k in ("language", "vision_tower", "projector")}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) in seen:  # tied weights
            continue
        seen.add(id(p))
        n = p.ds_numel if hasattr(p, "ds_numel") else p.numel()  # DeepSpeed ZeRO-3 partitions parameters
        out[param_part(name)]["trainable" if p.requires_grad else "frozen"] += int(n)
    return out
