"""Promptable segmentation: a box, positive and negative points (and a key time for video) -> masks.

>>> from onethinker.segment import build_segmenter
>>> build_segmenter().name          # no SAM2 checkpoint given: the classical fallback
'grabcut'

Back-ends: SAM2 (:mod:`onethinker.segment.sam2_backend`, when a checkpoint is available) and OpenCV
GrabCut (:mod:`onethinker.segment.grabcut`). Each registers itself (``register_segmenter``); the
factory imports a back-end's module only when it is asked for. Reports print :attr:`Segmenter.name`.
"""

from .base import (SEGMENTER_KINDS, PixelPrompt, Segmenter, build_segmenter, key_frame_index, prompt_to_pixels,
                   register_segmenter, segmenter_kinds)

__all__ = ["SEGMENTER_KINDS", "PixelPrompt", "Segmenter", "build_segmenter", "key_frame_index", "prompt_to_pixels",
           "register_segmenter", "segmenter_kinds"]
