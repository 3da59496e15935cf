"""Load any Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint with its processor, optionally with LoRA.

>>> model, processor = load("Qwen/Qwen3-VL-8B-Instruct", dtype="bfloat16", device="cuda")
>>> model, processor = load("runs/tiny", lora=LoraSpec(r=8))          # wrapped for LoRA training
>>> model, processor = load("runs/tiny", lora="runs/sft/adapter")       # a saved adapter on top

Everything goes through transformers' Auto classes: ``AutoModelForImageTextToText`` (in
transformers 5.x it maps ``qwen2_vl`` -> ``Qwen2VLForConditionalGeneration``, ``qwen2_5_vl`` ->
``Qwen2_5_VLForConditionalGeneration``, ``qwen3_vl`` -> ``Qwen3VLForConditionalGeneration``,
``qwen3_vl_moe`` -> ``Qwen3VLMoeForConditionalGeneration``) and ``AutoProcessor``. LoRA is peft's.

Errors are :class:`ModelLoadError` (a ``ValueError``; :class:`ModelNotFoundError` is also a
``FileNotFoundError``) and say what was
looked for: a missing folder, a folder that is not a checkpoint, a checkpoint that is not a Qwen-VL
(naming the ``model_type`` found), a hub id while ``HF_HUB_OFFLINE`` is set and nothing is cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LANGUAGE_LINEAR_MODULES",
    "SUPPORTED_MODEL_TYPES",
    "LoadConfig",
    "LoraSpec",
    "ModelLoadError",
    "ModelNotFoundError",
    "linear_patch_embeds",
    "load",
    "lora_config",
    "parse_device",
    "parse_dtype",
]

#: model_type values of the checkpoints this project runs (config.json's "model_type").
SUPPORTED_MODEL_TYPES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")

#: Linear layers of the Qwen language model (attention and MLP), the usual LoRA targets.
LANGUAGE_LINEAR_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                            "down_proj")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelLoadError(ValueError):
    """A checkpoint that cannot be loaded; the message names the path or id and what was expected."""


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """A checkpoint or adapter folder that does not exist."""


@dataclass
class LoraSpec:
    """LoRA settings for training (peft ``LoraConfig``).

    ``target_modules``: module names (peft matches name suffixes), or one regular expression matched
    against full module names, or "all-linear". With ``language_only`` (default) a list of names is
    restricted to the language model (the vision tower and merger stay frozen and unadapted; in
    Qwen2.5-VL the vision MLP also has gate/up/down_proj layers). ``modules_to_save``: modules trained
    fully and saved with the adapter (e.g. ``["lm_head"]``).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = field(default_factory=lambda: list(LANGUAGE_LINEAR_MODULES))
    language_only: bool = True
    bias: str = "none"
    modules_to_save: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"lora.r must be >= 1, got {self.r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if self.bias not in ("none", "all", "lora_only"):
            raise ValueError(f"lora.bias must be 'none', 'all' or 'lora_only', got {self.bias!r}")
        if not self.target_modules:
            raise ValueError("lora.target_modules is empty")


@dataclass
class LoadConfig:
    """What :func:`load` takes, as a config section (``model:`` in the YAML recipes).

    ``path``: a local checkpoint folder (or LoRA adapter folder) or a hub id. ``dtype``: "auto",
    "bfloat16", "float16" or "float32". ``device``: "cpu", "cuda", "cuda:1", "mps" or "auto" (spread
    over the visible GPUs with accelerate's ``device_map="auto"``). ``attn_implementation``: None
    (transformers' default, sdpa), "eager", "sdpa", "flash_attention_2"... ``lora``: None, the path of a
    saved adapter, or a :class:`LoraSpec` to wrap the model for training. ``lora_trainable``: a loaded
    adapter's weights stay trainable (continue training it).
    """

    path: str = ""
    dtype: str = "auto"
    device: str = "cpu"
    attn_implementation: str | None = None
    lora: str | LoraSpec | None = None
    lora_trainable: bool = False
    trust_remote_code: bool = False

    def load(self):
        """``load(self.path, ...)`` with these settings: (model, processor)."""
        if not self.path:
            raise ModelLoadError("model.path is empty: give a checkpoint folder or a hub id")
        return load(self.path, dtype=self.dtype, device=self.device, attn_implementation=self.attn_implementation,
                    lora=self.lora, lora_trainable=self.lora_trainable, trust_remote_code=self.trust_remote_code)


# -------------------------------------------------------------------------------------------------
# Options
# -------------------------------------------------------------------------------------------------

_DTYPES = {
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "float32": "float32", "fp32": "float32", "float": "float32",
}


def parse_dtype(dtype: Any):
    """"auto" stays "auto" (the checkpoint's own dtype); names map to torch dtypes; torch dtypes pass."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return "auto"
    name = _DTYPES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise ValueError(f"dtype {dtype!r} is not one of auto, bfloat16, float16, float32")
    return getattr(torch, name)


def parse_device(device: Any) -> tuple[str | dict | None, str]:
    """(device_map for from_pretrained, description). "cpu" -> None (load on CPU); "auto" -> "auto";
    "cuda", "cuda:1", "mps" -> {"": device}. A GPU that is not there is an error here, not later."""
    import torch

    if device is None:
        device = "cpu"
    if isinstance(device, int):
        device = f"cuda:{device}"
    if isinstance(device, torch.device):
        device = str(device)
    device = str(device)
    if device == "auto":
        if not torch.cuda.is_available():
            return None, "cpu"  # accelerate would put everything on the CPU anyway
        return "auto", "auto"
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device {device!r} is not a device (cpu, cuda, cuda:N, mps, auto): {e}") from e
    if dev.type == "cpu":
        return None, "cpu"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device {device!r} asked for but CUDA is not available on this machine "
                                 f"(torch {torch.__version__}); use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelLoadError(f"device {device!r} asked for but only {torch.cuda.device_count()} CUDA "
                                 f"device(s) are visible")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ModelLoadError(f"device {device!r} asked for but MPS is not available")
    return {"": str(dev)}, str(dev)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


# -------------------------------------------------------------------------------------------------
# Finding the checkpoint
# -------------------------------------------------------------------------------------------------


@dataclass
class _Source:
    ref: str  # what from_pretrained gets: a folder or a hub id
    local: bool
    model_type: str
    adapter: str | None = None  # an adapter folder given as the model path


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{path}: cannot read ({e})") from e
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return data


def _check_type(model_type: Any, where: str) -> str:
    if model_type not in SUPPORTED_MODEL_TYPES:
        found = "no model_type" if model_type is None else f"model_type {model_type!r}"
        raise ModelLoadError(f"{where}: {found} is not a Qwen-VL architecture; supported model types: "
                             f"{', '.join(SUPPORTED_MODEL_TYPES)}")
    return model_type


def _resolve(path_or_id: str | os.PathLike, trust_remote_code: bool) -> _Source:
    raw = os.fspath(path_or_id)
    if not raw:
        raise ModelLoadError("empty model path or id")
    path = Path(raw).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path}: is a file; expected a checkpoint folder (with config.json) or a hub id")
        cfg_file = path / "config.json"
        if cfg_file.is_file():
            return _Source(str(path), True, _check_type(_read_json(cfg_file).get("model_type"), str(cfg_file)))
        adapter_file = path / "adapter_config.json"
        if adapter_file.is_file():
            base = _read_json(adapter_file).get("base_model_name_or_path")
            if not base:
                raise ModelLoadError(f"{adapter_file}: a LoRA adapter without base_model_name_or_path; load the base "
                                     f"model and pass lora={str(path)!r}")
            src = _resolve(base, trust_remote_code)
            src.adapter = str(path)
            return src
        raise ModelLoadError(f"{path}: not a checkpoint folder (no config.json, nor adapter_config.json)")

    looks_local = raw.startswith(("/", "./", "../", "~", ".\\")) or "\\" in raw or not _HUB_ID.match(raw) \
        or (("/" in raw) and Path(raw.split("/", 1)[0]).is_dir())
    if looks_local:
        raise ModelNotFoundError(f"{path}: no such checkpoint folder")

    # A hub id.
    if _offline():
        from huggingface_hub import constants, try_to_load_from_cache

        cached = try_to_load_from_cache(raw, "config.json")
        if not isinstance(cached, str):
            raise ModelLoadError(
                f"{raw!r}: no local folder of that name, and HF_HUB_OFFLINE is set while the hub id is not in the "
                f"Hugging Face cache ({constants.HF_HUB_CACHE}); download it first (without HF_HUB_OFFLINE) or "
                f"pass a local checkpoint folder")
        model_type = _read_json(Path(cached)).get("model_type")
        return _Source(raw, False, _check_type(model_type, f"{raw} (cached config.json)"))
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(raw, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise ModelLoadError(f"{raw!r}: not a local folder, and the hub did not give a model config ({e})") from e
    except ValueError as e:  # e.g. an unknown model_type
        raise ModelLoadError(f"{raw!r}: cannot read its config ({e})") from e
    return _Source(raw, False, _check_type(getattr(cfg, "model_type", None), raw))


# -------------------------------------------------------------------------------------------------
# LoRA
# -------------------------------------------------------------------------------------------------


def lora_config(spec: LoraSpec | dict | Any):
    """A peft ``LoraConfig`` from a :class:`LoraSpec`, a mapping of its fields (``alpha``/``lora_alpha``,
    ``dropout``/``lora_dropout`` both accepted), or a peft ``LoraConfig`` (returned as is)."""
    from peft import LoraConfig

    if isinstance(spec, LoraConfig):
        return spec
    if isinstance(spec, dict):
        d = dict(spec)
        for short, long in (("alpha", "lora_alpha"), ("dropout", "lora_dropout")):
            if long in d:
                d[short] = d.pop(long)
        known = {f.name for f in dataclasses.fields(LoraSpec)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"lora: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        spec = LoraSpec(**d)
    if not isinstance(spec, LoraSpec):
        raise TypeError(f"lora must be an adapter path, a LoraSpec, a dict or a peft LoraConfig, got "
                        f"{type(spec).__name__}")
    targets: list[str] | str = spec.target_modules
    if isinstance(targets, (list, tuple)) and spec.language_only:
        names = "|".join(re.escape(t) for t in targets)
        targets = rf"^(?:.*\.)?language_model\.(?:.*\.)?(?:{names})$"
    elif isinstance(targets, tuple):
        targets = list(targets)
    return LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=targets,
                      bias=spec.bias, modules_to_save=list(spec.modules_to_save) or None, task_type="CAUSAL_LM")


@contextlib.contextmanager
def _quiet():
    """peft calls transformers APIs that transformers 5 marks deprecated; those warnings are not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*is_gradient_checkpointing.*")
        yield


def _apply_lora(model, lora: Any, trainable: bool):
    try:
        import peft
    except ImportError as e:  # pragma: no cover - peft is installed with the project
        raise ModelLoadError("LoRA needs peft: pip install peft") from e
    if isinstance(lora, (str, os.PathLike)):
        path = Path(lora).expanduser()
        if not path.is_dir():
            raise ModelNotFoundError(f"{path}: no such LoRA adapter folder")
        if not (path / "adapter_config.json").is_file():
            raise ModelLoadError(f"{path}: not a LoRA adapter folder (no adapter_config.json)")
        with _quiet():
            return peft.PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    cfg = lora_config(lora)
    no_match = ModelLoadError(f"lora: target_modules {cfg.target_modules!r} matched no layer of "
                              f"{type(model).__name__}")
    try:
        with _quiet():
            wrapped = peft.get_peft_model(model, cfg)
    except ValueError as e:
        if "not found in the base model" in str(e):
            raise no_match from e
        raise ModelLoadError(f"lora: peft cannot wrap {type(model).__name__} ({e})") from e
    if not any(p.requires_grad for p in wrapped.parameters()):
        raise no_match
    return wrapped


# -------------------------------------------------------------------------------------------------
# load
# -------------------------------------------------------------------------------------------------


def linear_patch_embeds(model: Any) -> int:
    """Run every Qwen-VL vision patch embedding (a ``Conv3d`` whose kernel equals its stride and covers the whole
    patch the processor flattened) as the matrix product it is: the same weights and result (to float rounding),
    without the convolution kernel's cost (on a CPU, 3-4x the forward and backward time of the product).
    Changes the modules' forward only (weights, state dict and saved checkpoints are untouched). Returns how many
    modules it changed."""
    import types

    import torch
    import torch.nn.functional as F

    def forward(self, hidden_states):
        w = self.proj.weight
        x = hidden_states.to(dtype=w.dtype).reshape(-1, w[0].numel())
        return F.linear(x, w.reshape(w.shape[0], -1), self.proj.bias)

    changed = 0
    for module in model.modules():
        conv = getattr(module, "proj", None)
        if not (type(module).__name__.endswith("PatchEmbed") and isinstance(conv, torch.nn.Conv3d)):
            continue
        whole = tuple(conv.kernel_size) == (getattr(module, "temporal_patch_size", None),
                                             getattr(module, "patch_size", None), getattr(module, "patch_size", None))
        if (whole and tuple(conv.stride) == tuple(conv.kernel_size) and conv.padding in ((0, 0, 0), "valid")
                and tuple(conv.dilation) == (1, 1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"):
            module.forward = types.MethodType(forward, module)
            changed += 1
    return changed


def load(path_or_id: str | os.PathLike, *, dtype: Any = "auto", device: Any = "cpu",
         attn_implementation: str | None = None, lora: str | os.PathLike | LoraSpec | dict | Any | None = None,
         lora_trainable: bool = False, trust_remote_code: bool = False, fast_modules: bool = True):
    """Load a Qwen-VL checkpoint and its processor: ``(model, processor)``.

    ``path_or_id``: a checkpoint folder (``config.json`` + weights + processor files), a LoRA adapter
    folder (its ``base_model_name_or_path`` is loaded, then the adapter), or a hub id (with
    ``HF_HUB_OFFLINE=1`` it must be in the local cache). ``dtype``: "auto" (the checkpoint's),
    "bfloat16", "float16", "float32" or a torch dtype. ``device``: "cpu", "cuda", "cuda:N", "mps", or
    "auto" (accelerate's ``device_map="auto"``; the CPU when there is no GPU). ``attn_implementation``:
    passed to transformers (None: its default). ``lora``: None; a saved adapter folder (loaded with
    peft, frozen unless ``lora_trainable``); or a :class:`LoraSpec` / dict / peft ``LoraConfig`` to wrap
    the model for training (only the adapter weights are trainable). The model is returned in eval
    mode (call ``.train()`` to train). The processor is the checkpoint's (the adapter folder's, if it
    has one). ``fast_modules``: the vision patch embedding runs as a matrix product
    (:func:`linear_patch_embeds`; False: transformers' modules as they are).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    src = _resolve(path_or_id, trust_remote_code)
    if src.adapter is not None and lora is not None:
        raise ModelLoadError(f"{path_or_id}: is a LoRA adapter folder and lora={lora!r} was also given; pass one")
    torch_dtype = parse_dtype(dtype)
    device_map, _ = parse_device(device)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(src.ref, **kwargs)
    except OSError as e:
        raise ModelLoadError(f"{src.ref}: cannot load the model weights ({e})") from e
    if fast_modules:
        linear_patch_embeds(model)

    proc_ref = src.ref
    if src.adapter is not None and any((Path(src.adapter) / f).is_file()
                                       for f in ("processor_config.json", "preprocessor_config.json",
                                                 "tokenizer_config.json")):
        proc_ref = src.adapter
    try:
        processor = AutoProcessor.from_pretrained(proc_ref, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{proc_ref}: cannot load the processor (tokenizer, image and video processors) "
                             f"({e})") from e

    adapter = src.adapter if src.adapter is not None else lora
    if adapter is not None:
        model = _apply_lora(model, adapter, lora_trainable)
    model.eval()
    return model, processor
