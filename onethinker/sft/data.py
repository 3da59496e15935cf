"""SFT data: record files -> one shuffled set of conversations -> padded, labelled batches.

:func:`load_sft_dataset` reads the SFT record files (ShareGPT ``messages`` with ``<image>``/``<video>``
placeholders, ``images``/``videos`` paths), turns every record into chat messages with
:func:`onethinker.data.chat.record_messages` (media in place, paths resolved and checked) and mixes the
files into one shuffled :class:`SFTDataset`. Nothing is decoded there.

:class:`SFTCollator` does the work per batch, inside the DataLoader workers: each conversation goes
through :func:`onethinker.models.build_inputs` (media decoded and resized, chat template, vision
tokens), conversations longer than ``cutoff_len`` tokens are dropped (never cut: a cut could split an
image's or a frame's tokens from its pixels), and the rest are right-padded into one batch whose
``labels`` are the input ids on the assistant tokens (each reply and its ``<|im_end|>``) and -100
elsewhere (system and user turns, media tokens, padding). How many items were kept, dropped and
skipped travels with the batch (``sft_stats``), because the collator runs in other processes.

A batch whose every item was dropped is replaced by a filler (a blank image and a dot, no label
tokens): the trainer then runs a forward/backward pass with zero loss, so every data-parallel rank
still takes part in the same collective operations (DeepSpeed ZeRO-3 gathers the vision tower's
weights for each image forward).

With ``group_by_length``, :func:`estimate_lengths` counts each conversation's tokens up front from its
text and its media headers (no decoding; the processor itself counts each medium's tokens on black
pixels of the right shape) and :class:`LengthGroupedSampler` batches similar lengths.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..data.chat import RecordError, record_messages
from ..data.media import MediaError
from ..data.records import SFT, RecordFileError, kind_of, read_records

__all__ = ["STATS_KEY", "LengthGroupedSampler", "SFTCollator", "SFTDataError", "SFTDataset", "estimate_lengths",
           "labels_from_mask", "load_sft_dataset"]

#: The batch key holding ``[kept, dropped_too_long, skipped_bad]`` counts (int64); the trainer pops it.
STATS_KEY = "sft_stats"
IGNORE_INDEX = -100
_SEQ_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids", "labels")


class SFTDataError(ValueError):
    """SFT data that cannot be used; the message names the file, the record and what is wrong."""


@dataclass
class LoadReport:
    files: dict[str, int]  # records read per file
    skipped: list[str]  # "file#index: reason" of records skipped (skip_bad_records)
    used: int


class SFTDataset:
    """Conversations ready for :class:`SFTCollator`: item ``i`` is ``{"messages": [...], "id": "file#index"}``."""

    def __init__(self, items: Sequence[tuple[str, list[dict]]], report: LoadReport | None = None):
        self.items = list(items)
        self.report = report
        self.lengths: list[int] | None = None  # estimated token counts (estimate_lengths), for grouping

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        ident, messages = self.items[i]
        return {"messages": messages, "id": ident}


def _media_paths(messages: list[dict]) -> list[str]:
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for c in content:
                if isinstance(c, dict) and c.get("type") in ("image", "video"):
                    out.append(str(c[c["type"]]))
    return out


def _check_record(record: Any, media_root: Path, allow_absolute: bool) -> list[dict]:
    if not isinstance(record, dict):
        raise RecordError(f"expected an object, got {type(record).__name__}")
    if kind_of(record) != SFT:
        raise RecordError("not an SFT record (no 'messages'; RL and evaluation records have no reasoning to learn)")
    try:
        messages = record_messages(record, media_root, allow_absolute=allow_absolute)
    except MediaError as e:
        raise RecordError(f"media: {e}") from e
    roles = [m.get("role") for m in messages]
    bad = [r for r in roles if r not in ("system", "user", "assistant")]
    if bad:
        raise RecordError(f"messages: role {bad[0]!r} is not system, user or assistant")
    if "assistant" not in roles:
        raise RecordError("messages: no assistant turn (nothing to learn)")
    if not any(m["role"] == "assistant" and "".join(c.get("text", "") for c in m["content"]).strip()
               for m in messages):
        raise RecordError("messages: the assistant turns are empty")
    n_img = sum(c.get("type") == "image" for m in messages for c in m["content"] if isinstance(m["content"], list))
    n_vid = sum(c.get("type") == "video" for m in messages for c in m["content"] if isinstance(m["content"], list))
    if n_img != len(record.get("images") or []) or n_vid != len(record.get("videos") or []):
        raise RecordError(f"{len(record.get('images') or [])} images and {len(record.get('videos') or [])} videos "
                          f"listed but {n_img} and {n_vid} placed in the messages (media go in the first user turn)")
    for p in _media_paths(messages):
        if not Path(p).is_file():
            raise RecordError(f"media file {p} does not exist")
    return messages


def load_sft_dataset(files: Sequence[str | Path], media_root: str | Path | None = None, *,
                     max_records: int | None = None, seed: int = 0, skip_bad_records: bool = False,
                     allow_absolute_media: bool = False) -> SFTDataset:
    """Read, check and mix SFT record files into one shuffled :class:`SFTDataset`.

    ``media_root``: media paths are relative to it (None or "": each file's own folder). Every record is
    checked (SFT kind, an assistant turn, placeholders matching the media, media files present); a
    bad record is an :class:`SFTDataError` naming the file and index, or with ``skip_bad_records`` a
    counted skip (``dataset.report.skipped``). The records of all files are shuffled together with
    ``seed``; ``max_records`` keeps the first that many of the shuffled set (a mixed subset).
    """
    if not files:
        raise SFTDataError("data.files is empty: give one or more SFT record files (e.g. onethinker_sft_image.json)")
    items: list[tuple[str, list[dict]]] = []
    counts: dict[str, int] = {}
    skipped: list[str] = []
    for f in files:
        path = Path(f)
        root = Path(media_root) if media_root else path.parent
        n = 0
        try:
            for i, record in enumerate(read_records(path)):
                n += 1
                ident = f"{path}#{i}"
                try:
                    items.append((ident, _check_record(record, root, allow_absolute_media)))
                except RecordError as e:
                    if not skip_bad_records:
                        raise SFTDataError(f"{ident}: {e} (set data.skip_bad_records=true to skip such records)") from e
                    skipped.append(f"{ident}: {e}")
        except RecordFileError as e:
            raise SFTDataError(str(e)) from e
        counts[str(path)] = n
    if not items:
        raise SFTDataError(f"no usable SFT records in {', '.join(map(str, files))}"
                           + (f" ({len(skipped)} skipped, e.g. {skipped[0]})" if skipped else ""))
    random.Random(seed).shuffle(items)
    if max_records is not None:
        items = items[:max_records]
    return SFTDataset(items, LoadReport(files=counts, skipped=skipped, used=len(items)))


def labels_from_mask(input_ids, assistant_masks, media_token_ids: Sequence[int] = ()):
    """``input_ids`` where ``assistant_masks`` is 1, -100 elsewhere (and on any media token)."""
    import torch

    labels = torch.where(assistant_masks.bool(), input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    for t in media_token_ids:
        labels[input_ids == t] = IGNORE_INDEX
    return labels


class LengthGroupedSampler:
    """Indices in batches of similar estimated length (transformers' ``get_length_grouped_indices``:
    a random permutation cut into mega-batches, each sorted by length), less padding per batch. The
    permutation depends only on ``seed`` and the epoch (``set_epoch``, called by accelerate's data
    loader), so a resumed run sees the same order."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=g))


def estimate_lengths(dataset: SFTDataset, collator: "SFTCollator") -> list[int]:
    """:meth:`SFTCollator.estimate_length` of every item (stored as ``dataset.lengths``). An item whose
    media cannot be read is an :class:`SFTDataError`, or length 0 with ``collator.skip_bad_records``
    (the collator skips and counts it later)."""
    lengths = []
    for i in range(len(dataset)):
        item = dataset[i]
        try:
            lengths.append(collator.estimate_length(item["messages"]))
        except (MediaError, OSError, ValueError) as e:
            if not collator.skip_bad_records:
                raise SFTDataError(f"{item['id']}: {e}") from e
            lengths.append(0)
    dataset.lengths = lengths
    return lengths


class SFTCollator:
    """Items of :class:`SFTDataset` -> a training batch (see the module docstring).

    Keys: ``input_ids``, ``attention_mask``, ``labels`` (right-padded), whatever the processor adds
    per token (``mm_token_type_ids``) and for the media (``pixel_values`` + ``image_grid_thw``,
    ``pixel_values_videos`` + ``video_grid_thw``, ``second_per_grid_ts``), and :data:`STATS_KEY`.
    The counters ``kept``, ``dropped_too_long``, ``skipped_bad`` add up what this instance has seen
    (in its own process).
    """

    def __init__(self, processor: Any, *, cutoff_len: int | None = None, skip_bad_records: bool = False,
                 video_fps: float = 2.0, max_frames: int = 128, min_frames: int = 2,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None,
                 video_min_pixels: int | None = None, video_max_pixels: int | None = None):
        self.processor = processor
        self.cutoff_len = cutoff_len
        self.skip_bad_records = skip_bad_records
        self.media = {"video_fps": video_fps, "max_frames": max_frames, "min_frames": min_frames,
                      "image_min_pixels": image_min_pixels, "image_max_pixels": image_max_pixels,
                      "video_min_pixels": video_min_pixels, "video_max_pixels": video_max_pixels}
        tok = getattr(processor, "tokenizer", processor)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        ids = [tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>")]
        self.media_token_ids = [i for i in ids if isinstance(i, int) and i != getattr(tok, "unk_token_id", None)]
        self.kept = self.dropped_too_long = self.skipped_bad = 0
        self.last_lengths: list[int] = []  # lengths of the items of the last call, dropped ones included

    # -- one conversation -------------------------------------------------------------------------
    def encode(self, messages: list[dict]) -> dict:
        """One conversation -> ``{key: tensor}`` with a leading batch dimension of 1 and ``labels``."""
        from ..models.inputs import build_inputs

        enc = build_inputs(self.processor, [messages], add_generation_prompt=False, return_assistant_mask=True,
                           padding_side="right", video_threads=1, **self.media)
        out = dict(enc.items())
        mask = out.pop("assistant_masks")
        out["labels"] = labels_from_mask(out["input_ids"], mask, self.media_token_ids)
        return out

    def _filler(self) -> dict:
        from PIL import Image

        proc = getattr(self.processor, "image_processor", None)
        side = 2 * int(getattr(proc, "patch_size", 14) or 14) * int(getattr(proc, "merge_size", 2) or 2)
        messages = [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (side, side))},
                                                 {"type": "text", "text": "."}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "."}]}]
        out = self.encode(messages)
        out["labels"].fill_(IGNORE_INDEX)
        return out

    def estimate_length(self, messages: list[dict]) -> int:
        """How many tokens :meth:`encode` gives ``messages``, without decoding any media.

        The processor counts, not a copy of its rules: the chat template's text is tokenised, and each
        image or video adds what the processor expands its placeholder to, measured by running
        :func:`~onethinker.models.build_inputs` (the path :meth:`encode` takes) on that medium alone with
        ``blank_media`` (black pixels of the sizes, frame counts and frame times read from the file's
        header). A medium's expansion depends only on its header and the media settings, so it is
        measured once per distinct (size, frames) and cached. Equal to :meth:`encode`'s length for
        constant-frame-rate videos; used to group conversations of similar length into batches."""
        from ..models.inputs import collect_media

        tok = getattr(self.processor, "tokenizer", self.processor)
        text = self.processor.apply_chat_template([messages], tokenize=False)[0]
        n = len(tok(text, add_special_tokens=False)["input_ids"])
        for kind, item in collect_media(messages):
            n += self._media_tokens(kind, item)
        return n

    def _media_key(self, kind: str, item: dict) -> tuple:
        """What a medium's token count depends on: its header (image size; video size, rate and length)
        and the per-item media options."""
        from PIL import Image

        from ..data.media import _existing_file, probe_video
        from ..models.inputs import _source

        src = _source(item, kind)
        opts = tuple(sorted((k, repr(v)) for k, v in item.items() if k not in ("type", kind, "path", "url", "image_url")))
        if kind == "image":
            if isinstance(src, Image.Image):
                return ("image", src.size, opts)
            try:
                with Image.open(_existing_file(src)) as img:
                    return ("image", img.size, opts)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                return ("image-path", str(src), opts)  # build_inputs raises the located error
        if isinstance(src, (str, Path)):
            info = probe_video(src)
            return ("video", info.width, info.height, info.fps, info.n_frames, opts)
        return ("video-object", id(src), opts)

    def _media_tokens(self, kind: str, item: dict) -> int:
        """Tokens a medium adds to its conversation, beyond the template's placeholder (see
        :meth:`estimate_length`)."""
        from ..models.inputs import build_inputs

        key = self._media_key(kind, item)
        cache = self.__dict__.setdefault("_media_token_cache", {})
        if key not in cache:
            conv = [{"role": "user", "content": [item]}]
            tok = getattr(self.processor, "tokenizer", self.processor)
            text = self.processor.apply_chat_template([conv], tokenize=False)[0]
            enc = build_inputs(self.processor, [conv], add_generation_prompt=False, padding_side="right",
                               video_threads=1, blank_media=True, **self.media)
            cache[key] = int(enc["input_ids"].shape[1]) - len(tok(text, add_special_tokens=False)["input_ids"])
        return cache[key]

    # -- a batch ----------------------------------------------------------------------------------
    def __call__(self, items: Sequence[dict]) -> dict:
        from ..models.inputs import MediaItemError

        rows: list[dict] = []
        dropped = bad = 0
        self.last_lengths = []
        for item in items:
            try:
                enc = self.encode(item["messages"])
            except (MediaError, MediaItemError, RecordError, OSError) as e:
                if not self.skip_bad_records:
                    raise SFTDataError(f"{item.get('id', '?')}: {e}") from e
                bad += 1
                continue
            length = int(enc["input_ids"].shape[1])
            self.last_lengths.append(length)
            if self.cutoff_len is not None and length > self.cutoff_len:
                dropped += 1
                continue
            rows.append(enc)
        self.kept += len(rows)
        self.dropped_too_long += dropped
        self.skipped_bad += bad
        batch = self.merge(rows if rows else [self._filler()])
        import torch

        batch[STATS_KEY] = torch.tensor([len(rows), dropped, bad], dtype=torch.long)
        return batch

    def merge(self, rows: list[dict]) -> dict:
        """Right-pad the per-token keys, concatenate the media keys (in row order; a key that only some
        rows have, e.g. ``pixel_values_videos``, holds those rows' media)."""
        import torch

        width = max(int(r["input_ids"].shape[1]) for r in rows)
        pad_values = {"input_ids": self.pad_id, "labels": IGNORE_INDEX}
        keys = list(dict.fromkeys(k for r in rows for k in r))
        batch: dict[str, Any] = {}
        for key in keys:
            have = [r for r in rows if key in r]
            values = [r[key] for r in have]
            per_token = key in _SEQ_KEYS or (len(have) == len(rows) and all(
                torch.is_tensor(v) and v.dim() == 2 and tuple(v.shape) == tuple(r["input_ids"].shape)
                for v, r in zip(values, rows)))
            if per_token:
                if len(have) != len(rows):
                    raise SFTDataError(f"collator: per-token key {key!r} is missing from some items")
                fill = pad_values.get(key, 0)
                batch[key] = torch.cat([torch.nn.functional.pad(v, (0, width - v.shape[1]), value=fill)
                                        for v in values])
            elif all(torch.is_tensor(v) for v in values):
                batch[key] = torch.cat(values)
            else:  # lists (e.g. second_per_grid_ts as a list of floats)
                batch[key] = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
        return batch
