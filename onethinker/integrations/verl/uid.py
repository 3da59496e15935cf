"""Group uids that carry the task key.

verl hands a custom advantage estimator the rollouts' scores, response mask, the algorithm config and
``index`` - the group uid of each rollout (verl 0.9.1 ``verl/trainer/ppo/ray_trainer.py``
``compute_advantage``: ``adv_kwargs["index"] = data.non_tensor_batch["uid"]``; only the ``gdpo`` estimator
also gets the non-tensor batch). EMA-GRPO needs each rollout's task key, so the onethinker trainer makes the
uid carry it: ``<task key, percent-encoded>.<uuid4>`` instead of verl's bare ``uuid4``
(:meth:`onethinker.integrations.verl.trainer.OneThinkerTrainer._fetch_one_gen_batch`). The uid stays unique
per prompt, so verl's grouping is unchanged.

verl 0.9.1 stores rollouts in TransferQueue under ``{uid}_{session}_{index}`` and takes the uid back with
``key.split("_")[0]``, so the encoded task key keeps only ASCII letters, digits and ``-``; every other byte
of its UTF-8 form becomes ``~XX`` (hex), e.g. ``segmentation~2Fimage.<uuid4>``,
``spatial-temporal~20grounding.<uuid4>``.
"""

from __future__ import annotations

import string
import uuid
from typing import Any

SEPARATOR = "."


class UidError(ValueError):
    """A group uid that carries no task key (made by a trainer other than the onethinker one)."""


_KEEP = frozenset((string.ascii_letters + string.digits + "-").encode())


def encode(task: str) -> str:
    return "".join(chr(b) if b in _KEEP else f"~{b:02X}" for b in str(task).encode("utf-8"))


def decode(text: str) -> str:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "~":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out += text[i].encode("ascii")
            i += 1
    return out.decode("utf-8")


def make_uid(task: str, unique: str | None = None) -> str:
    """A fresh group uid for one prompt of task ``task``."""
    return f"{encode(task)}{SEPARATOR}{unique or uuid.uuid4()}"


def task_of(uid: Any) -> str:
    """The task key carried by ``uid``; :class:`UidError` when it carries none."""
    text = str(uid)
    enc, sep, rest = text.rpartition(SEPARATOR)
    if not sep or not enc or not rest:
        raise UidError(f"group uid {text!r} carries no task key")
    try:
        return decode(enc)
    except (ValueError, UnicodeError, IndexError) as e:
        raise UidError(f"group uid {text!r}: malformed task key ({e})") from None


def has_task(uid: Any) -> bool:
    try:
        task_of(uid)
    except UidError:
        return False
    return True
