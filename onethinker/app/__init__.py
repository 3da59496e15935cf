"""``onethinker app``: a web page to try any checkpoint on an image or a video (Gradio, the ``app`` extra).

- :mod:`.runner`: one run without Gradio (:class:`AppRunner`: checks, ``infer_one``, the pictures from
  :mod:`onethinker.report`, messages instead of exceptions);
- :mod:`.examples`: the page's examples (a folder of record files, or a small synthetic corpus);
- :mod:`.page`: the Gradio page (:func:`build_app`, :func:`launch_app`); its Run button is the API
  endpoint ``/run``.

Gradio is imported only by :mod:`.page`, when a page is built.
"""

from __future__ import annotations

from .examples import Example, load_examples, make_examples, read_examples
from .runner import AppRunner, AppSettings, Outcome, parse_options

__all__ = ["AppRunner", "AppSettings", "Example", "Outcome", "build_app", "launch_app", "load_examples",
           "make_examples", "parse_options", "read_examples"]


def build_app(*args, **kwargs):
    """:func:`onethinker.app.page.build_app` (imports Gradio)."""
    from .page import build_app as build

    return build(*args, **kwargs)


def launch_app(*args, **kwargs):
    """:func:`onethinker.app.page.launch_app`."""
    from .page import launch_app as launch

    return launch(*args, **kwargs)
