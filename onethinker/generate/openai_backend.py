"""Any OpenAI-compatible chat endpoint (vLLM's server, hosted APIs): images and sampled video frames
are sent inline as base64 data URLs, each video frame preceded by its time."""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .base import GenerationRequest, Generator, SamplingConfig, register_backend


#: how the back-off waits (a module attribute, so that tests can record the waits instead of sleeping)
_sleep = time.sleep


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds: delay-seconds (``"2"``, ``"1.5"``) or an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, counted from ``now``, default the current time); None if absent
    or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _data_url(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@register_backend("openai", model_hint="the openai back-end needs --model (the served model's name)",
                  cli_options=("base_url", "api_key_env", "image_max_pixels", "video_max_pixels"))
class OpenAIGenerator(Generator):
    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout_s: float = 300.0, retries: int = 3, concurrency: int = 4, backoff_s: float = 1.0,
                 image_max_pixels: int | None = None, video_max_pixels: int | None = None, **_: Any) -> None:
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key = os.environ.get(api_key_env, "")
        self.timeout_s, self.retries, self.concurrency, self.backoff_s = timeout_s, retries, concurrency, backoff_s
        self.image_max_pixels, self.video_max_pixels = image_max_pixels, video_max_pixels
        self.name = f"openai:{model}@{self.base_url}"

    def _content(self, content: Any) -> Any:
        from PIL import Image

        from ..data.media import load_image, sample_video

        if isinstance(content, str):
            return content
        out = []
        for item in content:
            kind = item.get("type")
            if kind == "text":
                out.append({"type": "text", "text": item["text"]})
            elif kind == "image":
                img = load_image(item["image"], max_pixels=self.image_max_pixels)
                out.append({"type": "image_url", "image_url": {"url": _data_url(img)}})
            elif kind == "video":
                clip = sample_video(item["video"], fps=float(item.get("fps", 2.0)), max_frames=int(item.get("max_frames", 128)),
                                    max_pixels=item.get("max_pixels") or self.video_max_pixels)
                for frame, t in zip(clip.frames, clip.timestamps):
                    out.append({"type": "text", "text": f"<{t:.1f} seconds>"})
                    out.append({"type": "image_url", "image_url": {"url": _data_url(Image.fromarray(frame))}})
        return out

    def _post(self, payload: dict) -> dict:
        req = urllib.request.Request(
            self.base_url + "/chat/completions", data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})},
            method="POST",
        )
        last = None
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = e
                if isinstance(e, urllib.error.HTTPError) and e.code < 500 and e.code != 429:
                    break  # a request the server refuses: retrying cannot help
                if attempt == self.retries:
                    break
                wait = min(30.0, self.backoff_s * 2.0**attempt)  # timeouts, 429 and 5xx: back off and retry
                retry_after = retry_after_seconds(
                    e.headers.get("Retry-After") if isinstance(e, urllib.error.HTTPError) and e.headers else None)
                if retry_after is not None:  # the server's wait, if longer (at most a minute)
                    wait = min(60.0, max(wait, retry_after))
                _sleep(wait)
        detail = last
        if isinstance(last, urllib.error.HTTPError):
            try:
                detail = f"HTTP {last.code}: {last.read().decode('utf-8', 'replace')[:300]}"
            except Exception:  # noqa: BLE001
                detail = f"HTTP {last.code}"
        raise RuntimeError(f"{self.base_url}/chat/completions failed after {attempt + 1} attempt(s): {detail}")

    def _one(self, req: GenerationRequest, sampling: SamplingConfig) -> list[str]:
        messages = [{"role": m["role"], "content": self._content(m["content"])} for m in req.messages]
        payload = {"model": self.model, "messages": messages, "max_tokens": sampling.max_new_tokens,
                   "temperature": sampling.temperature, "top_p": sampling.top_p, "n": sampling.n, "seed": sampling.seed}
        data = self._post(payload)
        u = data.get("usage")
        if isinstance(u, dict):
            req.usage.update({k: u[k] for k in ("prompt_tokens", "completion_tokens") if isinstance(u.get(k), int)})
        texts = [c.get("message", {}).get("content") or "" for c in data.get("choices", [])]
        return (texts + [""] * sampling.n)[: sampling.n]

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(requests) or 1))) as ex:
            return list(ex.map(lambda r: self._one(r, sampling), requests))
