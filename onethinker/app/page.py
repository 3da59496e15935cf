"""The Gradio page of ``onethinker app``: inputs (an image or video, the task, the question, the options
where the task has them), a Run button, and the outputs of :class:`onethinker.app.runner.Outcome`.

The Run button is also the API endpoint ``/run`` (``api_name="run"``), listed by ``/gradio_api/info``, so
``gradio_client`` calls it::

    from gradio_client import Client, handle_file
    message, picture, video, answer, reasoning, stats, output = Client("http://127.0.0.1:7860/").predict(
        handle_file("cat.png"), "spatial grounding", "Find the cat.", "", api_name="/run")
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

from ..tasks import TASKS, Task
from .examples import Example
from .runner import AppRunner, data_type_of

#: the endpoint's name (``/run``) and its outputs, in order
API_NAME = "run"
OUTPUTS = ("message", "picture", "video", "answer", "reasoning", "stats", "output")
INSTALL_HINT = 'the app needs Gradio: pip install -e ".[app]" in the onethinker checkout (make setup installs it)'


class GradioMissing(ImportError):
    """Gradio is not installed (the ``app`` extra)."""


def import_gradio() -> Any:
    """``gradio``, with its usage reports off (nothing leaves this machine), or :class:`GradioMissing`."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as e:
        raise GradioMissing(f"{INSTALL_HINT} ({e})") from e
    return gradio


# -------------------------------------------------------------------------------------------------
# the task list, from the registry
# -------------------------------------------------------------------------------------------------
def tasks_by_problem_type() -> dict[str, list[Task]]:
    """problem_type -> its tasks (one, or one per data type as for segmentation), registry order."""
    out: dict[str, list[Task]] = {}
    for t in TASKS.values():
        out.setdefault(t.problem_type, []).append(t)
    return out


def _data_types(tasks: Sequence[Task]) -> list[str]:
    return [d for d in ("image", "video") if any(d in t.data_types for t in tasks)]


def task_choices() -> list[tuple[str, str]]:
    """The task menu: (label, problem_type), the label naming what it takes, e.g. "tracking (video)"."""
    return [(f"{ptype} ({' or '.join(_data_types(tasks))})", ptype) for ptype, tasks in tasks_by_problem_type().items()]


def default_problem_type() -> str:
    """The task the page opens on: the first with a box to draw on an image, else the first task."""
    for t in TASKS.values():
        if t.picture == "box" and "image" in t.data_types:
            return t.problem_type
    return next(iter(TASKS.values())).problem_type


_EXAMPLE = re.compile(r"Example:\s*\n?(.*)", re.S)


def task_hint(problem_type: str) -> str:
    """A line under the task menu: what the task takes and the answer form it asks for."""
    tasks = tasks_by_problem_type().get(problem_type)
    if not tasks:
        return ""
    t = tasks[0]
    m = _EXAMPLE.search(t.instruction)
    example = m.group(1).strip().splitlines()[0] if m else ""
    parts = [f"Takes {' or '.join('an image' if d == 'image' else 'a video' for d in _data_types(tasks))}"]
    if t.picture:
        parts.append(f"draws a {t.picture}")
    if t.has_options:
        parts.append("needs options")
    hint = "; ".join(parts) + "."
    return hint + (f" Answer form: `{example}`" if example and len(example) < 160 else "")


def _placeholders(examples: Sequence[Example]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in examples:
        out.setdefault(e.problem_type, e.question)
    return out


# -------------------------------------------------------------------------------------------------
# the page
# -------------------------------------------------------------------------------------------------
def build_app(runner: AppRunner, *, examples: Sequence[Example] = (), model_name: str | None = None,
              title: str = "OneThinker") -> Any:
    """The page as a ``gradio.Blocks`` (not launched; see :func:`launch_app`)."""
    gr = import_gradio()
    s = runner.settings
    choices = task_choices()
    start = default_problem_type()
    placeholders = _placeholders(examples)
    generic = "Ask about the image or video."
    by_type = tasks_by_problem_type()

    def has_options(problem_type: str) -> bool:
        return any(t.has_options for t in by_type.get(str(problem_type), []))

    def on_task(problem_type: str) -> list[Any]:
        return [gr.update(value=task_hint(problem_type)),
                gr.update(visible=has_options(problem_type)),
                gr.update(placeholder=placeholders.get(problem_type, generic))]

    def on_media(media: Any) -> list[Any]:
        path = media.get("path") if isinstance(media, dict) else media
        if not path:
            return [gr.update(value=None, visible=False), gr.update(value=None, visible=False)]
        is_video = data_type_of(path) == "video"
        return [gr.update(value=None if is_video else path, visible=not is_video),
                gr.update(value=path if is_video else None, visible=is_video)]

    def run(media: str | None, problem_type: str, question: str | None = None, options: str | None = None,
            max_new_tokens: float | None = None, temperature: float | None = None) -> list[Any]:
        """Ask the model one question about an image or a video.

        Returns the message (Markdown: empty when all went well, else what went wrong), the picture (PNG:
        the answer drawn; a filmstrip for a video), the annotated video (MP4, videos only), the parsed
        answer (JSON), the reasoning, the generation time and token counts, and the model's whole reply.
        """
        return runner.run(media, problem_type, question, options, max_new_tokens, temperature).values()

    def show_video(value: Any) -> Any:
        return gr.update(visible=bool(value))

    head = f"Model: `{model_name or runner.generator.name}`"
    with gr.Blocks(title=f"{title}: try a checkpoint", analytics_enabled=False, delete_cache=(3600, 86400)) as page:
        gr.Markdown(f"## {title}: try a checkpoint on an image or a video\n{head}. The model reasons in "
                    "`<think>`, answers in `<answer>`; the answer is parsed and drawn.", elem_id="head")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                media = gr.File(label="Image or video", file_types=["image", "video"], elem_id="media", height=120)
                preview_image = gr.Image(label="Preview", type="filepath", interactive=False, visible=False, height=240,
                                         elem_id="preview-image")
                preview_video = gr.Video(label="Preview", interactive=False, visible=False, height=240,
                                         elem_id="preview-video")
                task = gr.Dropdown(choices, value=start, label="Task", allow_custom_value=True, elem_id="task")
                hint = gr.Markdown(task_hint(start), elem_id="task-hint")
                question = gr.Textbox(label="Question", lines=2, placeholder=placeholders.get(start, generic),
                                      elem_id="question")
                options = gr.Textbox(label="Options (one per line)", lines=4, placeholder="A. red\nB. green\nC. blue",
                                     visible=has_options(start), elem_id="options")
                with gr.Accordion("Generation settings", open=False):
                    max_new = gr.Number(value=s.max_new_tokens, label="Max new tokens", precision=0, minimum=1,
                                        elem_id="max-new-tokens")
                    temperature = gr.Slider(0.0, 2.0, value=s.temperature, step=0.05, label="Temperature (0: greedy)",
                                            elem_id="temperature")
                button = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column(scale=6):
                message = gr.Markdown(label="Message", elem_id="message")
                picture = gr.Image(label="Answer drawn", type="filepath", interactive=False, format="png", height=360,
                                   elem_id="picture")
                video = gr.Video(label="Answer on the video", interactive=False, visible=False, height=360,
                                 elem_id="video")
                answer = gr.Textbox(label="Parsed answer", lines=2, elem_id="answer")
                reasoning = gr.Textbox(label="Reasoning", lines=5, elem_id="reasoning")
                stats = gr.Textbox(label="Time and tokens", lines=1, elem_id="stats")
                with gr.Accordion("Raw output", open=False):
                    output = gr.Textbox(label="The model's whole reply", lines=8, elem_id="output")
        if examples:
            gr.Examples([e.row() for e in examples], inputs=[media, task, question, options],
                        label="Examples (synthetic scenes): click one, then Run", examples_per_page=12)
        task.change(on_task, inputs=task, outputs=[hint, options, question], api_visibility="private",
                    queue=False)
        media.change(on_media, inputs=media, outputs=[preview_image, preview_video], api_visibility="private",
                     queue=False)
        button.click(run, inputs=[media, task, question, options, max_new, temperature],
                     outputs=[message, picture, video, answer, reasoning, stats, output], api_name=API_NAME,
                     concurrency_limit=1
                     ).then(show_video, inputs=video, outputs=video, api_visibility="private", queue=False)
    return page


def launch_app(page: Any, *, host: str = "127.0.0.1", port: int | None = None, allowed_paths: Sequence[str] = (),
               max_upload_mb: float = 500.0, quiet: bool = True) -> str:
    """Start serving ``page`` in a background thread (no share link, no Node server) and return its URL.
    ``port`` None: Gradio's first free port from 7860. Raises OSError when the port cannot be bound."""
    page.queue(default_concurrency_limit=1)
    _, url, _ = page.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=quiet,
                            inbrowser=False, allowed_paths=[str(Path(p)) for p in allowed_paths],
                            max_file_size=f"{max(1, int(max_upload_mb))}mb", show_error=False, ssr_mode=False,
                            mcp_server=False, pwa=False)
    return url
