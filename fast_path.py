"""The fast path: an answer from the pen's own points, without the canvas read-back.

After every stroke Gradio's Sketchpad reads its WebGL canvas back and encodes the
background, the layer and the composite as PNG, several times over; with software
WebGL that is most of a second (README, "Stroke to answer"). The browser already knows
where the pen went, so `fast_path_js` returns a script for ``demo.load(js=...)`` that
records each brush stroke's points in image coordinates, draws all strokes so far with
the app's brush on a small 2D canvas (no WebGL), and sends it as a PNG data URI through
a hidden textbox, on pen-up and every `SEND_INTERVAL_MS` while the pen is down (the
textbox's event in app.py sends one at a time, the latest next).
`decode_drawing` checks and decodes what arrives.

The Sketchpad's own ``change`` event still runs and has the last word: its answer
replaces the fast one a moment later. The script gives up, until the next Clear, on
whatever points cannot describe: the eraser, the pan tool, a wheel over the canvas, an
example loaded into the sketchpad, an Undo it cannot account for, or a zoom it cannot
map.

The script relies on Gradio 6's markup, checked by ``tests/test_pen.py``: the canvas
is ``.pixi-target canvas``, the tool buttons sit in ``.toolbar-wrap`` with the brush
first and the active one marked ``highlight``; the buttons above the canvas
(``.top-panel``) start with Pan and end with Undo, Redo and Clear canvas; the zoom shows
as ``.zoom-number``. It reads no label, so it works in every language. It also relies on
how Gradio places the image: centred in the canvas element at the zoom that fits it
inside a 30 px border (the image editor's ``border_padding``), and on the brush drawing
discs of radius ``brush_size``, that is strokes twice the brush size wide.
"""

from __future__ import annotations

import base64
import binascii
import io
import json

import numpy as np
from PIL import Image

DATA_URI_PREFIX = "data:image/png;base64,"
# The side of the picture the script sends: half the app's 280 px canvas is enough for
# a 20 px MNIST box and keeps the PNG near 2 kB.
SENT_SIDE = 140
# Largest picture and data URI accepted: room for the sent side on any canvas, and far
# below anything that could cost the server real memory or time.
MAX_SENT_SIDE = 512
MAX_DATA_URI_CHARS = 256 * 1024
SEND_INTERVAL_MS = 150
# Gradio's image editor fits the image inside the canvas element with this margin.
FIT_PADDING_PX = 30

FAST_PATH_JS = """
() => {
  const padSelector = %(pad)s;
  const fieldSelector = %(field)s;
  const canvasSide = %(canvas_side)s;
  const strokeWidth = %(stroke_width)s;
  const sentSide = %(sent_side)s;
  const intervalMs = %(interval_ms)s;
  const fitPadding = %(fit_padding)s;

  let strokes = [];    // Finished strokes, each a list of [x, y] in image pixels.
  let undone = [];     // Strokes taken back by Undo, for Redo.
  let current = null;  // The stroke being drawn: { frame, points }.
  let usable = true;   // False from anything points cannot describe until Clear.
  let lastSent = 0;
  let timer = null;

  const padOf = node => (node instanceof Element ? node.closest(padSelector) : null);
  const brushActive = pad => {
    const first = pad.querySelector('.toolbar-wrap button');
    return first !== null && first.classList.contains('highlight');
  };
  // Where the image is inside the canvas element: centred, at the zoom that fits it.
  // The zoom is computed rather than read, but must agree with the one shown.
  const imageFrame = (canvas, pad) => {
    const box = canvas.getBoundingClientRect();
    const shown = /(\\d+)%%/.exec(pad.querySelector('.zoom-number')?.textContent || '');
    if (!shown) return null;
    const fit = Math.min(box.width - 2 * fitPadding, box.height - 2 * fitPadding)
      / canvasSide;
    const scale = [fit, Math.min(fit, 1)].find(
      s => Math.round(s * 100) === Number(shown[1]));
    if (scale === undefined || scale <= 0) return null;
    const side = canvasSide * scale;
    return { left: box.left + (box.width - side) / 2,
             top: box.top + (box.height - side) / 2, scale };
  };
  const pointOf = (frame, event) => [(event.clientX - frame.left) / frame.scale,
                                     (event.clientY - frame.top) / frame.scale];

  const render = () => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = sentSide;
    const context = canvas.getContext('2d');
    context.scale(sentSide / canvasSide, sentSide / canvasSide);
    context.strokeStyle = context.fillStyle = '#000';
    context.lineWidth = strokeWidth;
    context.lineCap = context.lineJoin = 'round';
    const all = current ? [...strokes, current.points] : strokes;
    for (const points of all) {
      if (points.length === 1) {
        context.beginPath();
        context.arc(points[0][0], points[0][1], strokeWidth / 2, 0, 2 * Math.PI);
        context.fill();
        continue;
      }
      context.beginPath();
      context.moveTo(points[0][0], points[0][1]);
      for (const [x, y] of points.slice(1)) context.lineTo(x, y);
      context.stroke();
    }
    return canvas.toDataURL('image/png');
  };
  const send = () => {
    clearTimeout(timer);
    timer = null;
    if (!usable) return;
    const field = document.querySelector(fieldSelector);
    if (!field) return;
    lastSent = performance.now();
    // The element's input event updates the textbox's value; Gradio 6 fires the
    // textbox's own "input" event on a key press, so one follows.
    const setter = Object.getOwnPropertyDescriptor(
      Object.getPrototypeOf(field), 'value').set;
    setter.call(field, render());
    field.dispatchEvent(new Event('input', { bubbles: true }));
    field.dispatchEvent(new KeyboardEvent('keypress', { key: 'Unidentified' }));
  };
  const sendSoon = () => {
    if (timer !== null) return;
    const wait = Math.max(0, intervalMs - (performance.now() - lastSent));
    timer = setTimeout(send, wait);
  };
  const reset = () => {
    strokes = [];
    undone = [];
    current = null;
    usable = true;
    clearTimeout(timer);
    timer = null;
  };

  // Capture phase on the window: seen before the canvas's own handlers.
  window.addEventListener('pointerdown', event => {
    const pad = padOf(event.target);
    if (!pad || !event.target.matches('.pixi-target canvas') || event.button !== 0)
      return;
    if (!brushActive(pad)) { usable = false; return; }
    const frame = imageFrame(event.target, pad);
    if (!frame) { usable = false; return; }
    current = { frame, points: [pointOf(frame, event)] };
  }, true);
  window.addEventListener('pointermove', event => {
    if (!current) return;
    current.points.push(pointOf(current.frame, event));
    if (usable) sendSoon();
  }, true);
  const penUp = () => {
    if (!current) return;
    strokes.push(current.points);
    undone = [];
    current = null;
    send();
  };
  window.addEventListener('pointerup', penUp, true);
  window.addEventListener('pointercancel', penUp, true);
  window.addEventListener('wheel', event => {
    if (padOf(event.target) && event.target.matches('.pixi-target canvas'))
      usable = false;
  }, true);
  window.addEventListener('click', event => {
    if (!(event.target instanceof Element)) return;
    if (event.target.closest('.gallery-item')) { usable = false; return; }
    const button = event.target.closest('button');
    const pad = padOf(button);
    const panel = pad && button.closest('.top-panel');
    if (!panel) return;
    const buttons = [...panel.querySelectorAll('button')];
    const position = buttons.length - 1 - buttons.indexOf(button);
    if (position === 0) {            // Clear canvas.
      reset();
    } else if (position === 1) {     // Redo.
      if (undone.length) { strokes.push(undone.pop()); send(); }
      else usable = false;
    } else if (position === 2) {     // Undo.
      if (strokes.length) { undone.push(strokes.pop()); send(); }
      else usable = false;
    } else if (buttons.indexOf(button) === 0) {  // Pan.
      usable = false;
    }
  }, true);
}
"""


def fast_path_js(pad_id: str, field_id: str, canvas_side: int, brush_size: int) -> str:
    """The script for the Sketchpad ``pad_id`` and hidden textbox ``field_id``, as
    ``demo.load(js=...)`` takes it; ``brush_size`` is the ``gr.Brush`` default size."""
    return FAST_PATH_JS % {
        "pad": json.dumps(f"#{pad_id}"),
        "field": json.dumps(f"#{field_id} textarea, #{field_id} input"),
        "canvas_side": int(canvas_side),
        "stroke_width": 2 * int(brush_size),
        "sent_side": SENT_SIDE,
        "interval_ms": SEND_INTERVAL_MS,
        "fit_padding": FIT_PADDING_PX,
    }


def decode_drawing(data_uri: str) -> np.ndarray:
    """The RGBA pixels of a PNG data URI as the fast-path script sends it.

    Raises ValueError for anything else: another prefix or format, a URI over
    `MAX_DATA_URI_CHARS`, a picture over `MAX_SENT_SIDE` a side (checked in the
    header, before any pixel is decoded), or damaged data.
    """
    if not isinstance(data_uri, str) or not data_uri.startswith(DATA_URI_PREFIX):
        raise ValueError(f"expected a data URI starting with {DATA_URI_PREFIX!r}")
    if len(data_uri) > MAX_DATA_URI_CHARS:
        raise ValueError(f"data URI longer than {MAX_DATA_URI_CHARS} characters")
    try:
        raw = base64.b64decode(data_uri[len(DATA_URI_PREFIX) :], validate=True)
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as picture:
            if max(picture.size) > MAX_SENT_SIDE:
                raise ValueError(
                    f"picture of {picture.width}x{picture.height} pixels, more than "
                    f"{MAX_SENT_SIDE} a side"
                )
            return np.asarray(picture.convert("RGBA"))
    except (binascii.Error, OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"not a readable PNG: {error}") from None
