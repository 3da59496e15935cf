"""SAM2 back-end (facebookresearch ``sam2`` >= 1.1): box + points -> masks, on CPU or GPU.

One model serves both paths. It is built with ``build_sam2_video_predictor`` (a
:class:`sam2.sam2_video_predictor.SAM2VideoPredictor`, which is a ``SAM2Base``) and also wrapped in a
:class:`sam2.sam2_image_predictor.SAM2ImagePredictor` for images (the image predictor only uses the
``SAM2Base`` parts, so it behaves exactly as with a model from ``build_sam2``, and the weights are in
memory once).

- Images: ``set_image``, then ``predict(box=..., point_coords=..., point_labels=...,
  multimask_output=False)`` (with a box and several points SAM's single-mask output is the one meant
  for unambiguous prompts).
- Videos: the frames stay in memory. The predictor's own ``init_state`` only reads a JPEG folder or
  an mp4 file, so :func:`init_video_state` builds the same inference state (the dict of
  ``SAM2VideoPredictor.init_state`` in sam2 1.1) around a lazy frame list that resizes and normalises
  each frame exactly as sam2's JPEG loader does (PIL resize to ``image_size`` square, /255, ImageNet
  mean/std) when the model asks for it: nothing is written to disk, no JPEG loss, and one frame at a
  time in model resolution. The key frame gets the box and points
  (``add_new_points_or_box``), then ``propagate_in_video`` runs forward from it and again in reverse.

CPU: no autocast and no CUDA extension. sam2's optional ``_C`` extension is only used to fill small
holes in video masks; without it that step is switched off (``fill_hole_area = 0``) instead of
warning on every frame. On CUDA devices the calls run under bfloat16 autocast, as sam2's own examples do.

Checkpoints are local files (``sam2.1_hiera_large.pt`` ...); nothing is downloaded. ``"random"``
builds the model with random weights (seeded, so the same every time) for tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .base import PixelPrompt, Segmenter, register_segmenter

__all__ = ["SAM2Segmenter", "resolve_config", "init_video_state", "RANDOM_WEIGHTS"]

RANDOM_WEIGHTS = "random"
DEFAULT_RANDOM_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
_SIZES = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l", "t": "t", "s": "s", "b+": "b+", "l": "l"}
_IMG_MEAN = (0.485, 0.456, 0.406)  # sam2.utils.misc.load_video_frames defaults
_IMG_STD = (0.229, 0.224, 0.225)


def _package_dir() -> Path:
    spec = importlib.util.find_spec("sam2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the SAM2 back-end needs the `sam2` package (pip install 'sam2>=1.1'); "
                          "use build_segmenter('grabcut') for the classical fallback")
    return Path(list(spec.submodule_search_locations)[0])


def available_configs() -> list[str]:
    """The model configs shipped with the installed sam2 package, as hydra names."""
    root = _package_dir()
    return sorted(str(p.relative_to(root)) for p in (root / "configs").rglob("*.yaml"))


def resolve_config(config: str | None, checkpoint: str | None) -> str:
    """The hydra config name (relative to the sam2 package, e.g. ``configs/sam2.1/sam2.1_hiera_l.yaml``).

    ``config`` may be that name, a short form (``sam2.1_hiera_l``, ``sam2.1/sam2.1_hiera_l.yaml``) or a
    path to one of the package's config files. Without ``config`` the checkpoint's file name decides
    (``sam2.1_hiera_large.pt`` -> ``configs/sam2.1/sam2.1_hiera_l.yaml``); random weights use the tiny
    SAM2.1 config."""
    root = _package_dir()
    if config is None:
        if checkpoint is None or checkpoint == RANDOM_WEIGHTS:
            return DEFAULT_RANDOM_CONFIG
        m = re.search(r"(sam2(?:\.1)?)_hiera_(tiny|small|base_plus|large|t|s|b\+|l)(?![a-z])", Path(checkpoint).name)
        if m is None:
            raise ValueError(f"{checkpoint}: cannot tell the SAM2 model from the checkpoint's file name; pass "
                             f"sam2_config (one of {', '.join(available_configs())})")
        family, size = m.group(1), _SIZES[m.group(2)]
        return f"configs/{family}/{family}_hiera_{size}.yaml"
    c = str(config)
    p = Path(c)
    if p.is_absolute() or p.exists():
        try:
            c = str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            raise ValueError(f"{config}: SAM2 configs are read from the sam2 package; use one of "
                             f"{', '.join(available_configs())}") from None
    stem = c if c.endswith(".yaml") else c + ".yaml"
    family = stem.split("_hiera_")[0].split("/")[-1]
    for cand in (stem, f"configs/{stem}", f"configs/{family}/{stem}"):
        if (root / cand).is_file():
            return cand
    raise ValueError(f"unknown SAM2 config {config!r}; available: {', '.join(available_configs())}")


def _ensure_hydra() -> None:
    """sam2 initialises hydra's global config search on import; do it again if someone cleared it."""
    import sam2  # noqa: F401  (initialises hydra with the sam2 config module)
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        from hydra import initialize_config_module

        initialize_config_module("sam2", version_base="1.2")


class _LazyFrames:
    """(T, H, W, 3) uint8 frames seen by SAM2 as its normalised (3, S, S) float tensors, one at a time."""

    def __init__(self, frames: np.ndarray, image_size: int, device):
        import torch

        self.frames = frames
        self.size = int(image_size)
        self.device = device
        self.mean = torch.tensor(_IMG_MEAN, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(_IMG_STD, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __getitem__(self, index: int):
        import torch
        from PIL import Image

        # as sam2.utils.misc._load_img_as_tensor: PIL resize (its default filter) to a square, then /255
        img = np.asarray(Image.fromarray(self.frames[index]).resize((self.size, self.size)))
        x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)
        return ((x - self.mean) / self.std).to(self.device)


def init_video_state(predictor, frames: np.ndarray) -> dict:
    """An inference state for ``predictor`` (a ``SAM2VideoPredictor``) over in-memory RGB frames: the
    dict ``SAM2VideoPredictor.init_state`` builds (sam2 1.1), with a lazy frame list instead of the
    tensor it loads from a JPEG folder or mp4 file. The first frame's features are not pre-computed."""
    device = predictor.device
    return {
        "images": _LazyFrames(frames, predictor.image_size, device),
        "num_frames": int(frames.shape[0]),
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": int(frames.shape[1]),
        "video_width": int(frames.shape[2]),
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


@register_segmenter("sam2")
class SAM2Segmenter(Segmenter):
    """SAM2 image and video predictors on one model. Not thread-safe (the predictors keep state)."""

    @classmethod
    def from_options(cls, *, sam2_config: str | None = None, sam2_checkpoint: str | None = None,
                     device: str = "cpu") -> "SAM2Segmenter":
        if not sam2_checkpoint:
            raise ValueError(
                "build_segmenter: SAM2 needs a checkpoint and none was given (nothing is downloaded). Pass "
                "sam2_checkpoint=PATH to a local file such as sam2.1_hiera_large.pt (with sam2_config when its "
                "name does not say which model it is), sam2_checkpoint='random' for random weights (tests "
                "only), or use kind='grabcut' / 'auto' for the classical fallback."
            )
        return cls(config=sam2_config, checkpoint=sam2_checkpoint, device=device)

    def __init__(self, config: str | None = None, checkpoint: str = RANDOM_WEIGHTS, device: str = "cpu"):
        import torch

        ckpt = str(checkpoint) if checkpoint is not None else RANDOM_WEIGHTS
        if ckpt != RANDOM_WEIGHTS:
            path = Path(os.path.expanduser(ckpt))
            if not path.is_file():
                raise FileNotFoundError(f"{ckpt}: no such SAM2 checkpoint file (nothing is downloaded; give a local "
                                        f"path such as sam2.1_hiera_large.pt, or 'random' for random weights)")
            ckpt = str(path)
        self.config = resolve_config(config, None if ckpt == RANDOM_WEIGHTS else ckpt)
        self.checkpoint = ckpt
        self.device = torch.device(device)
        self.name = f"sam2 ({self.config}, {'random weights' if ckpt == RANDOM_WEIGHTS else ckpt})"

        _ensure_hydra()
        from sam2.build_sam import build_sam2_video_predictor
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        try:
            if ckpt == RANDOM_WEIGHTS:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    model = build_sam2_video_predictor(self.config, None, device="cpu")
                model = model.to(self.device)
            else:
                model = build_sam2_video_predictor(self.config, ckpt, device=str(self.device))
        except (KeyError, RuntimeError) as e:
            if ckpt == RANDOM_WEIGHTS:
                raise
            raise RuntimeError(f"{ckpt}: cannot load it as a SAM2 checkpoint for {self.config} "
                               f"({type(e).__name__}: {e or 'missing or unexpected keys, see the log'})") from e
        if importlib.util.find_spec("sam2._C") is None:
            model.fill_hole_area = 0  # the hole filling needs sam2's CUDA extension, which is not built
        self.model = model
        with warnings.catch_warnings():  # SAM2Transforms uses torch.jit.script, deprecated in recent torch
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            self.image_predictor = SAM2ImagePredictor(model)

    def _context(self):
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.device.type == "cuda":
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    @staticmethod
    def _inputs(prompt: PixelPrompt):
        # SAM shifts point coordinates by half a pixel (pixel indices -> pixel centres); our points are
        # continuous coordinates (a pixel's centre is at index + 0.5), so they go in as index coordinates
        points = (prompt.points - 0.5).astype(np.float32) if len(prompt.points) else None
        labels = prompt.labels.astype(np.int32) if len(prompt.labels) else None
        box = prompt.box.astype(np.float32) if prompt.has_box else None
        return points, labels, box

    def _segment_image(self, image: np.ndarray, prompt: PixelPrompt) -> np.ndarray:
        points, labels, box = self._inputs(prompt)
        with self._context():
            self.image_predictor.set_image(image)
            masks, _, _ = self.image_predictor.predict(point_coords=points, point_labels=labels, box=box,
                                                       multimask_output=False)
        self.image_predictor.reset_predictor()
        return _as_mask(masks, image.shape[:2])

    def _segment_video(self, frames: np.ndarray, times: np.ndarray, key: int, prompt: PixelPrompt) -> np.ndarray:
        points, labels, box = self._inputs(prompt)
        t, h, w = frames.shape[:3]
        out = np.zeros((t, h, w), bool)
        predictor = self.model
        with self._context():
            state = init_video_state(predictor, frames)
            predictor.add_new_points_or_box(state, frame_idx=int(key), obj_id=1, points=points, labels=labels, box=box)
            for reverse in (False, True):
                for idx, _, logits in predictor.propagate_in_video(state, start_frame_idx=int(key), reverse=reverse):
                    if 0 <= idx < t:
                        out[idx] = _as_mask(logits[0].float().cpu().numpy(), (h, w), threshold=0.0)
        return out


def _as_mask(values, shape: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """The model's first mask as (H, W) bool; an empty mask when it is missing or of the wrong shape
    (model output is not trusted), NaN as background."""
    a = np.asarray(values)
    a = a.reshape(a.shape[-2:]) if a.ndim >= 2 and a.size == a.shape[-1] * a.shape[-2] else a
    if a.ndim != 2 or a.shape != tuple(shape):
        return np.zeros(shape, bool)
    if a.dtype == bool:
        return a
    return np.nan_to_num(a.astype(np.float32), nan=-np.inf) > threshold
