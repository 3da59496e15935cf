"""Every HTML page and picture of the package.

Modules: ``draw`` (primitives), ``pictures`` (what a row shows, by its task's picture kind),
``render`` (a row's annotated frames and files), ``codecs`` (PNG, JPEG, GIF, MP4), ``gallery`` (reading
results, choosing items, ``onethinker viz``), ``evaluation`` (``OUT/report.html``), ``training`` (the
demo and ablation pages), ``style`` (the shared stylesheet). This package also names the picture API.

Pictures of evaluation results: the model's prediction and the truth drawn on the item's media.

``onethinker viz OUT/<bench>.jsonl --out DIR`` calls :func:`visualize`, which picks a sample of result
rows (written by :mod:`onethinker.evaluate.runner`) and writes one file per item, ``<bench>_<id>.<ext>``:

- an image item: one PNG with the boxes / points / masks drawn, a legend and a text panel
  (question, parsed prediction, truth, score);
- a video item: an MP4 (or GIF) of frames sampled at 2 fps with, on each frame, the predicted and true
  boxes of that second (tracking: also the path of the box centres so far), the masks of that frame,
  the time, and a timeline bar with the predicted and true spans; next to it a PNG filmstrip
  ``<bench>_<id>.filmstrip.png`` (a few frames side by side) for a static view.

Colours: prediction :data:`PRED_COLOR` (magenta), truth :data:`TRUTH_COLOR` (green), the box given in a
tracking question :data:`GIVEN_COLOR` (yellow). Positive points are filled discs, negative points are
crosses, in the colour of their source (prediction or truth).

Coordinates in rows are in the 0..1000 frame (spec/data-format.md); they are mapped onto whatever size
the picture is drawn at, so drawing never needs the original pixel size. Masks (COCO RLE at the
medium's size) are resized to the picture. The drawing primitives take pixel coordinates and draw in
place on (H, W, 3) uint8 RGB arrays.

:func:`render_item` returns the encoded files of one row; :func:`render_frames` the annotated frames
(what :mod:`onethinker.report.evaluation` uses for its thumbnails).
"""

from __future__ import annotations

from .draw import (  # noqa: F401
    draw_border, draw_box, draw_path, draw_points, draw_text, ERROR_COLOR, filmstrip, GIVEN_COLOR,
    legend_strip, MUTED_COLOR, overlay_mask, PANEL_BG, PRED_COLOR, SELECTIONS, STRIP_BG, SUCCESS, TEXT_COLOR,
    text_panel, timeline_strip, to_px, TRUTH_COLOR, VIDEO_FORMATS, VizError, vstack, wrap_text,
)
from .pictures import (  # noqa: F401
    annotate_image, format_value, given_box, item_name, legend_entries, panel_items, picture_kind,
    prediction_text, question_text,
)
from .codecs import (  # noqa: F401
    encode_gif, encode_jpeg, encode_mp4, encode_png,
)
from .render import (  # noqa: F401
    fit_size, pick_evenly, render_frames, render_item, Rendered,
)
from .gallery import (  # noqa: F401
    item_score, read_results, select_rows, split_gallery, visualize, VizPaths,
)
