"""Digit Sketchpad: draw a digit and watch a Keras MLP trained on MNIST answer live.

Run ``python app.py`` and open http://127.0.0.1:7860 (``PORT``, ``GRADIO_SERVER_NAME``
and ``GRADIO_SERVER_PORT`` change where it listens). Each stroke sends the drawing to
the server, which puts it into MNIST format (``mnist_format``) and runs the model that
``model_store`` names as current; a model published by ``python -m training`` while the
app runs is served from the next drawing on.
"""

from __future__ import annotations

import html
import io
import logging
import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import classroom
import fast_path
import mnist_format
import sketchpad_js
import texts
from answers import (
    Drawn,
    answer_html,
    bars_html,
    classify,
    classify_digit,
    model_view_html,
    unreadable,
)
from model_store import ModelStoreError, default_store, list_records, load, load_current
from model_store.store import CURRENT_FILE
from teaching import dense_weights, forward

log = logging.getLogger("digit_sketchpad")

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
NUM_CLASSES = 10
DIGITS = tuple(range(NUM_CLASSES))

# Ten canvas pixels to an MNIST pixel: every image the browser makes of the
# drawing costs time in proportion to its pixels (README, "Stroke to answer"), and a
# 280 px canvas shows as large as the 400 px one did (288 CSS px in the default height).
# The brush width, in canvas pixels, gives strokes about as thick, relative to the
# digit, as MNIST's pen.
CANVAS_SIDE = 280
BRUSH_SIZE = 15
FOLLOW_CURRENT = "current"
# Drawings answered at once, across every event that runs the model. A drawing costs
# a few ms of numpy and PIL, mostly holding the GIL, so more threads than the 2 cores
# of a free Space only add switching. A stroke's drawing is usually answered on the
# event loop (INLINE_MAX_PIXELS), one at a time whatever this says; the limit bounds
# the worker threads that larger images and the /probabilities endpoint take.
DRAW_CONCURRENCY = 2
DRAW_CONCURRENCY_ID = "draw"
# Gradio summarises every finished event with pandas, over up to its last 10,000
# events, for a monitoring page this app does not enable: up to 6 ms per answer once a
# class has drawn for a few minutes, against about 15 ms for the whole answer. Once
# every this many events keeps the summary (and the page, if someone enables it) close.
ANALYTICS_SUMMARY_EVERY = 1000
# A stroke's drawing is answered in a few ms. Answered on the server's event loop,
# rather than through a worker thread for each input's preprocessing, the handler and
# each output (seven handovers of the GIL per stroke), 30 tabs got 50% more answers a
# second (README, "Performance"). Images larger than this many pixels in all, and a
# model that must first be read from disk, go to a worker thread instead, so that the
# loop goes on serving the other tabs meanwhile. The page's three images hold 235,200;
# a drawing of random noise just under 3 * 512 * 512 took 40 ms, and 100 of them held
# every other request 2.4 s.
INLINE_MAX_PIXELS = 3 * 300 * 300
# The page's Sketchpad sends one layer; an API caller's thousands of tiny ones would
# cost seconds of decoding however few pixels they hold.
MAX_LAYERS = 8
# The largest body a request that starts an event may have: the page's are 1 to 3 kB,
# the fast path's picture at most fast_path.MAX_DATA_URI_CHARS. Gradio checks every
# file an event names on the event loop before the app sees it, 0.26 ms each here: an
# event naming 60,000 files held every tab for 15 s; this many bytes name about 1,300.
EVENT_BODY_LIMIT = fast_path.MAX_DATA_URI_CHARS + 16 * 1024
EVENT_ROUTES = ("/queue/join", "/run/", "/api/", "/call/")
# Gradio keeps every file uploaded to it until it stops; a stroke adds its layer and
# composite, a few kB each (named by their content, so a drawing sent twice is kept
# once). Every UPLOAD_SWEEP_S seconds the uploads older than DIGIT_UPLOAD_MAX_AGE
# seconds (an hour unless set) are deleted; the examples are kept.
UPLOAD_MAX_AGE_S = 3600
UPLOAD_SWEEP_S = 600
# The Sketchpad sends each of a stroke's images ahead of its event, one per request to
# its server function (`guard_sketchpad_blobs`). The page's are PNGs of the 280 px
# canvas, a few kB; Gradio would read up to 1,000 files of max_file_size each.
BLOB_ROUTE = "/component_server"
BLOB_BODY_LIMIT = 1024 * 1024
# Gradio checks each uploaded file's size, not how many a request holds (up to 1,000
# of MAX_FILE_BYTES each: 5 GB written to disk by one request). Twice one file's
# limit lets a file just over it still get Gradio's own message, which names it.
UPLOAD_ROUTE = "/upload"
MAX_FILE_BYTES = 5 * 1024 * 1024
UPLOAD_BODY_LIMIT = 2 * MAX_FILE_BYTES
# The images kept for drawings whose event has not come yet, and may never come (a
# closed tab, a script): past this many bytes in all the oldest are dropped. A tab's
# event reads and releases its own within a second; the page's are a few kB a stroke.
PENDING_BLOBS_MAX_BYTES = 64 * 1024 * 1024
# What an entry costs beyond its images' bytes, so that empty images count too.
BLOB_ENTRY_BYTES = 1024
MAX_DRAWING_ID = 64
# Gradio's page asks every component an event has ever taken as input for its value
# again on each status message of every later event, and for a Sketchpad that means
# reading the canvas back and uploading its three images: 13 times per stroke here,
# 39 uploads costing the server 2 ms each. So no event of the server's takes the
# Sketchpad: this copy, in the browser, hands its value to a hidden JSON component,
# whose change event answers the stroke; the page's other events answer the `Drawn`
# that answer kept. A stroke's images still go twice: ahead of the event, and
# uploaded once more when this copy reads the value (README, "Classroom").
COPY_VALUE_JS = "(value) => value"
# Tabs whose state the server keeps, the least recently used dropped past it (Gradio
# keeps 10,000): each holds Gradio's own copy of the page's settings, about 100 kB,
# and its last drawing as read, up to about 600 kB. A tab dropped answers its next
# stroke as before; until then a change of language shows "Draw a digit".
SESSION_CAPACITY = 1000
# What /predict says of a first input that is not a Sketchpad value.
VALUE_KEYS = ("background", "layers", "composite", "id")
NOT_A_VALUE = (
    "expected a Sketchpad value: a dict of 'background', 'layers' (a list) and "
    "'composite', each an uploaded file or null"
)
# An example as the Sketchpad's value: the picture as its background and composite.
EXAMPLE_TO_SKETCHPAD_JS = (
    "(image) => ({background: image, layers: [], composite: image, id: null})"
)


# Models.


# Layers the numpy forward pass reproduces exactly; Dropout does nothing at inference.
NUMPY_LAYERS = frozenset({"Dense", "Dropout", "InputLayer"})


@dataclass(frozen=True)
class ServedModel:
    """One loaded model, never changed once made, so a swap is one assignment."""

    name: str
    record: dict[str, Any]
    # (kernel, bias, activation) per Dense layer in float64, or None when the model
    # has layers the numpy pass does not know and Keras must run it.
    weights: tuple | None
    keras_model: Any = None

    @classmethod
    def from_stored(cls, stored: Any) -> ServedModel:
        """From a `model_store.StoredModel`, read as arrays or by Keras."""
        if stored.dense is not None:
            return cls(stored.name, dict(stored.record), stored.dense)
        return cls.from_keras(stored.model, stored.name, stored.record)

    @classmethod
    def from_keras(cls, model: Any, name: str, record: dict | None = None):
        kinds = {type(layer).__name__ for layer in model.layers}
        weights = None
        if kinds <= NUMPY_LAYERS:
            weights = tuple(
                (kernel.astype(np.float64), bias.astype(np.float64), activation)
                for kernel, bias, activation in dense_weights(model)
            )
        return cls(name, dict(record or {}), weights, model)

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        if self.weights is None:
            return np.asarray(self.keras_model.predict_on_batch(vector))[0]
        # The same arithmetic as Keras, in numpy: for one drawing this is far faster
        # than a call into Keras (see README, Performance).
        return forward(self.weights, vector)[0]


class ModelHolder:
    """Serves the store's current model and follows ``current`` when it moves.

    Every prediction checks the pointer file (one ``stat``). When it has changed, the
    thread that noticed loads the new model while the others go on with the old one;
    a model that fails to load is refused and the served one stays.
    """

    def __init__(self, store: Path | None = None, fixed: ServedModel | None = None):
        self.store = Path(store) if store is not None else default_store()
        self.fixed = fixed
        self.lock = threading.Lock()
        self.served: ServedModel | None = fixed
        self.by_name: dict[str, ServedModel] = {}
        self.pointer_state: tuple | None = None
        self.problems: tuple[str, ...] = ()

    def pointer(self) -> tuple | None:
        try:
            status = (self.store / CURRENT_FILE).stat()
        except OSError:
            return None
        return (status.st_mtime_ns, status.st_size, status.st_ino)

    def current(self) -> ServedModel:
        if self.fixed is not None:
            return self.fixed
        state = self.pointer()
        if self.served is not None and state == self.pointer_state:
            return self.served
        if not self.lock.acquire(blocking=self.served is None):
            return self.served  # Another thread is loading; keep answering meanwhile.
        try:
            if self.served is None or state != self.pointer_state:
                self.reload(state)
            return self.served
        finally:
            self.lock.release()

    def reload(self, state: tuple | None) -> None:
        first = self.served is None
        try:
            # As arrays: serving a Dense model needs no Keras, which takes seconds to
            # import, so the first answer comes that much sooner after start-up.
            stored = load_current(self.store, fallback=first, arrays=True)
        except ModelStoreError as error:
            if first:
                raise
            log.error(
                "new model refused, still serving %s: %s", self.served.name, error
            )
            self.problems = (self.for_page(f"New model refused: {error}"),)
        else:
            served = ServedModel.from_stored(stored)
            self.by_name[served.name] = served
            self.served = served
            self.problems = tuple(
                self.for_page(f"Skipped: {problem}") for problem in stored.skipped
            )
            log.info("serving model %s", served.name)
        self.pointer_state = state

    def for_page(self, message: str) -> str:
        """A store error as the page shows it: files by name, without the server's
        folders (the log keeps the full paths)."""
        return message.replace(f"{self.store}{os.sep}", "")

    def ready(self, name: str | None) -> bool:
        """Whether `get` can answer for ``name`` without reading a file."""
        if self.fixed is not None:
            return True
        if name and name != FOLLOW_CURRENT:
            return isinstance(name, str) and name in self.by_name
        return self.served is not None and self.pointer() == self.pointer_state

    def get(self, name: str | None) -> ServedModel:
        if not name or name == FOLLOW_CURRENT or self.fixed is not None:
            return self.current()
        if not isinstance(name, str):
            raise ModelStoreError(f"invalid model name {name!r}: expected a string")
        if name not in self.by_name:
            stored = load(name, self.store, arrays=True)
            self.by_name[name] = ServedModel.from_stored(stored)
        return self.by_name[name]

    def choices(self) -> list[tuple[str, str]]:
        served = self.current()
        options = [(f"Current ({served.name})", FOLLOW_CURRENT)]
        if self.fixed is None:
            for record in reversed(list_records(self.store)):
                name = record.get("name")
                if isinstance(name, str) and not name.endswith("-dry-run"):
                    options.append((describe_choice(record), name))
        return options


def describe_choice(record: dict[str, Any]) -> str:
    accuracy = record.get("test_accuracy")
    score = f", {accuracy:.1%}" if isinstance(accuracy, float) else ""
    return f"{record.get('name')} ({record.get('arch', '?')}{score})"


_default_holder: ModelHolder | None = None
_default_holder_lock = threading.Lock()


def default_holder() -> ModelHolder:
    global _default_holder
    with _default_holder_lock:
        if _default_holder is None:
            _default_holder = ModelHolder()
        return _default_holder


# Pure functions: from a drawing to what the page shows.


def predict_digit(image: Any, holder: ModelHolder | None = None) -> np.ndarray | None:
    """The ten probabilities for a drawing, or None when nothing is drawn.

    Takes anything `mnist_format.to_mnist` takes: a Sketchpad value, an array, a PIL
    image. Bad input raises ValueError or TypeError with a message saying what was
    expected.
    """
    digit = mnist_format.to_mnist(image)
    if digit is None:
        return None
    return (holder or default_holder()).current().probabilities(digit.vector)


def payload_pixels(payload: Any) -> float:
    """The pixels of a Sketchpad value's images, as Gradio hands them over unread
    (FileData dicts) or as `sent_ahead` takes them (bytes), from their headers;
    infinite when one cannot be read so.

    Raises ValueError for more than `MAX_LAYERS` layers.
    """
    if not isinstance(payload, dict):
        return 0 if payload is None else math.inf
    layers = payload.get("layers") or []
    if len(layers) > MAX_LAYERS:
        raise ValueError(f"it has {len(layers)} layers; at most {MAX_LAYERS} are read")
    files = [payload.get("background"), payload.get("composite"), *layers]
    total = 0
    for file in files:
        if file is None:
            continue
        try:
            source = io.BytesIO(file) if isinstance(file, bytes) else file["path"]
            with Image.open(source) as picture:
                total += picture.width * picture.height
        except (OSError, KeyError, TypeError, ValueError, Image.DecompressionBombError):
            return math.inf
    return total


def sent_ahead(sketchpad, payload: Any) -> dict | None:
    """The drawing a page's Sketchpad sent ahead of the event whose value names it
    (``{"id": ...}``), taken from the Sketchpad's store, its images still encoded;
    None for any other value.

    `mnist_format` decodes only the images it reads, the layers as a rule: Gradio's
    own preprocessing decodes all three and flattens two, about a third of the work
    of answering.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        return None
    if any(payload.get(key) for key in ("background", "layers", "composite")):
        return None
    blobs = sketchpad.blob_storage.pop(payload["id"], None)
    if blobs is None:
        return {"background": None, "layers": [], "composite": None}
    return {
        "background": blobs.background,
        "layers": [layer for layer in blobs.layers if layer],
        "composite": blobs.composite,
    }


class EventBodyLimit:
    """ASGI middleware: Starlette's request body limit, on the routes that start
    events (`EVENT_ROUTES`), the one the Sketchpad sends its images ahead on
    (`BLOB_ROUTE`) and uploads (`UPLOAD_ROUTE`)."""

    def __init__(self, app: Any):
        from starlette.middleware.body_limit import RequestBodyLimitMiddleware

        self.app = app
        self.events = RequestBodyLimitMiddleware(app, max_body_size=EVENT_BODY_LIMIT)
        self.blobs = RequestBodyLimitMiddleware(app, max_body_size=BLOB_BODY_LIMIT)
        self.uploads = RequestBodyLimitMiddleware(app, max_body_size=UPLOAD_BODY_LIMIT)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if any(route in path for route in EVENT_ROUTES):
            await self.events(scope, receive, send)
        elif BLOB_ROUTE in path:
            await self.blobs(scope, receive, send)
        elif path.endswith(UPLOAD_ROUTE):
            await self.uploads(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def blob_bytes(blobs: Any) -> int:
    """The bytes of one drawing's images kept by a Sketchpad."""
    files = [blobs.background, blobs.composite, *blobs.layers]
    return sum(len(file) for file in files if file)


class PendingBlobs(dict):
    """A Sketchpad's store of the drawings sent ahead of their events, which drops the
    oldest once it holds more than ``max_bytes``.

    Gradio's Sketchpad writes an entry for each image it is sent and pops it when an
    event names it; a drawing whose event never comes (a stroke answered together
    with the next one, a closed tab, a script) would otherwise stay for good. The
    bytes are counted as entries come and go, so each write costs the same however
    many are kept.
    """

    def __init__(self, max_bytes: int):
        super().__init__()
        self.max_bytes = max_bytes
        self.lock = threading.RLock()
        self.sizes: dict[str, int] = {}  # In the order of their last write.
        self.total = 0

    def __setitem__(self, key, blobs) -> None:
        with self.lock:
            super().__setitem__(key, blobs)
            self.total -= self.sizes.pop(key, 0)
            self.sizes[key] = blob_bytes(blobs) + BLOB_ENTRY_BYTES
            self.total += self.sizes[key]
            while self.total > self.max_bytes and len(self.sizes) > 1:
                self.pop(next(iter(self.sizes)))

    def pop(self, key, *default):
        with self.lock:
            self.total -= self.sizes.pop(key, 0)
            return super().pop(key, *default)


def guard_sketchpad_blobs(sketchpad, max_bytes: int = PENDING_BLOBS_MAX_BYTES):
    """Checks what the Sketchpad's page sends ahead of an event, and bounds what is
    kept of it (`PendingBlobs`).

    Gradio's own server function grows a drawing's list of layers to whatever index
    a request names (a 1 kB request naming layer 100,000,000 took 800 MB). Here a
    layer's index must be below `MAX_LAYERS`, and one request is handled at a time:
    Gradio's reads a drawing's entry, adds the image and writes it back.
    """
    from fastapi import HTTPException

    accept = sketchpad.accept_blobs
    sketchpad.blob_storage = storage = PendingBlobs(max_bytes)

    def refuse(reason: str):
        return HTTPException(status_code=400, detail=f"Refused image: {reason}")

    def accept_blobs(data):
        fields = getattr(data, "data", None)
        if not isinstance(fields, dict):
            raise refuse("expected a multipart form with the image as its file")
        drawing = fields.get("id")
        if not isinstance(drawing, str) or not 0 < len(drawing) <= MAX_DRAWING_ID:
            raise refuse(f"expected an id of 1 to {MAX_DRAWING_ID} characters")
        kind, index = fields.get("type"), fields.get("index")
        if kind == "layer":
            try:
                number = int(index)
            except (TypeError, ValueError):
                raise refuse(f"layer index {index!r} is not a number") from None
            if not 0 <= number < MAX_LAYERS:
                raise refuse(f"layer index {number} is not below {MAX_LAYERS}")
        elif kind not in ("background", "composite"):
            raise refuse(f"unknown kind {kind!r}")
        if len(data.files) != 1:
            raise refuse(f"expected one file, got {len(data.files)}")
        with storage.lock:
            accept(data)

    accept_blobs._is_server_fn = True
    sketchpad.accept_blobs = accept_blobs


def readable_or_clear_error(preprocess):
    """Wraps a Sketchpad's preprocess so that a file it cannot decode gets a clear
    message; otherwise an API caller's non-image or oversized file ends in Gradio's
    generic "the upstream app has raised an exception", since Gradio decodes the
    images before `classify` sees them.
    """
    import gradio as gr

    def preprocess_or_refuse(payload):
        try:
            return preprocess(payload)
        except Image.DecompressionBombError:
            raise gr.Error(
                "Could not read this drawing: it has more than "
                f"{mnist_format.MAX_INPUT_PIXELS} pixels; downscale it first",
                print_exception=False,
            ) from None
        except OSError:
            # PIL's own message names the upload's path on the server: leave it out.
            raise gr.Error(
                "Could not read this drawing: one of its files is not an image, "
                "or is damaged",
                print_exception=False,
            ) from None

    return preprocess_or_refuse


def model_info_markdown(
    served: ServedModel, problems: tuple[str, ...] = (), language: str = texts.ENGLISH
) -> str:
    record = served.record
    layers = record.get("architecture") or []
    shape = " → ".join(
        [str(mnist_format.PIXEL_COUNT)]
        + [
            f"{layer['units']} {layer.get('activation', '')}".strip()
            for layer in layers
            if "units" in layer
        ]
    )
    parameters = record.get("parameters")
    accuracy = record.get("test_accuracy")
    seconds = record.get("training_seconds")
    trained = texts.text("info_trained", language, when=record.get("created", "?"))
    if isinstance(seconds, int | float):
        trained += texts.text("info_trained_in", language, seconds=f"{seconds:.0f}")
    lines = [
        texts.text("info_model", language, name=served.name),
        texts.text("info_architecture", language, shape=shape),
        texts.text("info_parameters", language, count=f"{parameters:,}")
        if isinstance(parameters, int)
        else "",
        texts.text("info_accuracy", language, accuracy=f"{accuracy:.2%}")
        if isinstance(accuracy, float)
        else "",
        trained,
    ]
    lines += [f"⚠️ {problem}" for problem in problems]
    return "  \n".join(line for line in lines if line)


def history_frame(record: dict[str, Any], metric: str, language: str = texts.ENGLISH):
    import pandas as pd

    history = record.get("history") or {}
    rows = []
    for key, series in ((metric, "training"), (f"val_{metric}", "validation")):
        name = texts.text(f"series_{series}", language)
        for epoch, value in enumerate(history.get(key, []), start=1):
            rows.append({"epoch": epoch, metric: value, "data": name})
    return pd.DataFrame(rows, columns=["epoch", metric, "data"])


def confusion_html(record: dict[str, Any], language: str = texts.ENGLISH) -> str:
    matrix = np.asarray(record.get("confusion_matrix") or [], dtype=np.int64)
    if matrix.shape != (NUM_CLASSES, NUM_CLASSES):
        return f"<p>{texts.text('confusion_missing', language)}</p>"
    largest_error = max(int((matrix - np.diag(np.diag(matrix))).max()), 1)
    header = "".join(f"<th>{digit}</th>" for digit in DIGITS)
    body = []
    for true in DIGITS:
        cells = []
        for predicted in DIGITS:
            count = int(matrix[true, predicted])
            if true == predicted:
                style = "background:#d9f2d9"
            else:
                strength = count / largest_error
                style = f"background:rgba(220,50,47,{0.85 * strength:.2f})"
            cells.append(f'<td style="{style}">{count}</td>')
        body.append(f"<tr><th>{true}</th>{''.join(cells)}</tr>")
    caption = html.escape(texts.text("confusion_caption", language))
    return (
        f'<table class="confusion"><caption>{caption}</caption>'
        f"<tr><th></th>{header}</tr>{''.join(body)}</table>"
    )


def example_paths() -> list[str]:
    return sorted(str(path) for path in EXAMPLES_DIR.glob("*.png"))


# The page.

CSS = """
#prediction .answer { font-size: 1.4rem; min-height: 5.5rem; }
#prediction .digit { font-size: 4.5rem; font-weight: 700; line-height: 1;
  margin-right: 0.6rem; }
#prediction .unsure, #prediction .empty { color: #666; }
#prediction .error { color: #b00020; font-size: 1rem; }
#bars .bar { display: flex; align-items: center; gap: 0.5rem; margin: 2px 0; }
#bars .label { width: 1.2rem; font-weight: 600; text-align: right; }
#bars .track { flex: 1; background: #eee; height: 1.1rem; border-radius: 3px; }
#bars .fill { display: block; height: 100%; background: #8aa4c8;
  border-radius: 3px; }
#bars .top .fill { background: #e4572e; }
#bars .top .label, #bars .top .value { color: #e4572e; }
#bars .value { width: 3.6rem; text-align: right; font-variant-numeric: tabular-nums; }
#model-view img { image-rendering: pixelated; border: 1px solid #ccc;
  background: #000; }
#model-view .steps { display: flex; flex-wrap: wrap; gap: 0.5rem; }
#model-view figure { margin: 0; width: 96px; font-size: 0.75rem; }
#model-view figure img { width: 96px; height: 96px; object-fit: contain; }
table.confusion td, table.confusion th { padding: 2px 6px; text-align: right; }
"""


def upload_max_age() -> int:
    """Seconds an upload is kept: ``DIGIT_UPLOAD_MAX_AGE``, or `UPLOAD_MAX_AGE_S`."""
    setting = os.environ.get("DIGIT_UPLOAD_MAX_AGE", "").strip()
    if not setting:
        return UPLOAD_MAX_AGE_S
    if not setting.isdigit() or int(setting) == 0:
        raise ValueError(
            f"DIGIT_UPLOAD_MAX_AGE must be a whole number of seconds above 0, "
            f"got {setting!r}"
        )
    return int(setting)


def build_demo(model: Any = None, *, store: Path | None = None):
    """Builds the page. ``model`` (a Keras model or ServedModel) pins one model,
    for tests and experiments; otherwise the page follows ``store``'s current model.
    """
    import anyio
    import gradio as gr

    if model is None:
        holder = ModelHolder(store) if store is not None else default_holder()
    else:
        served = (
            model
            if isinstance(model, ServedModel)
            else ServedModel.from_keras(model, getattr(model, "name", "model"))
        )
        holder = ModelHolder(store, fixed=served)

    def on_draw(drawing, choice, language=None):
        return classify(drawing, choice, holder, language or texts.ENGLISH)

    def answer_page(drawing, choice, language, *slider_values):
        """The answer and the classroom's views of ``drawing``, read once, and the
        `Drawn` the page's other events answer from until the next stroke."""
        # The sliders' own checks, and NaN's: on_stroke takes its inputs unprocessed.
        slider_values = views.checked_inputs(*slider_values)
        drawn = Drawn.read(drawing)
        if drawn.error is not None:
            shown = unreadable(drawn.error, language)
        else:
            shown = classify_digit(drawn.digit, choice, holder, language)
        return (
            *shown,
            *views.render(drawn.digit, choice, language, *slider_values),
            drawn,
        )

    def answer_payload(payload, choice, language, *slider_values):
        """`answer_page` for the Sketchpad's value as Gradio hands it over unread."""
        try:
            if not isinstance(payload, dict) or payload.keys().isdisjoint(VALUE_KEYS):
                raise ValueError(NOT_A_VALUE)
            value = sketchpad.data_model.model_validate(payload)
        except ValueError:  # pydantic's ValidationError too.
            message = texts.text(
                "unreadable", texts.checked_language(language), error=NOT_A_VALUE
            )
            raise gr.Error(message, print_exception=False) from None
        drawing = sketchpad.preprocess(value)
        return answer_page(drawing, choice, language, *slider_values)

    # Larger drawings wait here for a worker thread, not in the queue: a small one
    # behind them is answered at once.
    large_drawings = anyio.CapacityLimiter(DRAW_CONCURRENCY)

    async def on_stroke(payload, choice, language, *slider_values):
        drawing = sent_ahead(sketchpad, payload)
        answer, value = (
            (answer_payload, payload) if drawing is None else (answer_page, drawing)
        )
        try:
            pixels = payload_pixels(value)
        except ValueError as error:
            language = texts.checked_language(language)
            message = texts.text("unreadable", language, error=str(error))
            raise gr.Error(message, print_exception=False) from None
        arguments = (value, choice, language, *slider_values)
        if holder.ready(choice) and pixels <= INLINE_MAX_PIXELS:
            return answer(*arguments)
        return await anyio.to_thread.run_sync(
            answer, *arguments, limiter=large_drawings
        )

    def answer_fast(data_uri, choice, language):
        # Only the page's own script sends here, and the Sketchpad's change event
        # answers anyway: a picture that is not one is ignored, not reported.
        try:
            drawing = fast_path.decode_drawing(data_uri)
        except ValueError as error:
            log.warning("fast path: %s", error)
            return gr.skip(), gr.skip(), gr.skip()
        return on_draw(drawing, choice, language)

    async def on_fast_draw(data_uri, choice, language=None):
        # The script's pictures are at most fast_path.MAX_SENT_SIDE a side.
        if holder.ready(choice):
            return answer_fast(data_uri, choice, language)
        return await anyio.to_thread.run_sync(answer_fast, data_uri, choice, language)

    def probabilities_api(image):
        """The ten probabilities for an image, or nothing_drawn."""
        try:
            probabilities = predict_digit(image, holder)
        except (ValueError, TypeError) as error:
            # The caller's mistake, said to the caller: not a traceback in the log.
            raise gr.Error(str(error), print_exception=False) from None
        if probabilities is None:
            return {"nothing_drawn": True}
        return {str(digit): float(probabilities[digit]) for digit in DIGITS}

    def show_model(choice, language):
        language = texts.checked_language(language)
        try:
            served = holder.get(choice)
        except ModelStoreError as error:
            message = holder.for_page(str(error))
            return f"⚠️ {message}", None, None, ""
        return (
            model_info_markdown(served, holder.problems, language),
            history_frame(served.record, "accuracy", language),
            history_frame(served.record, "loss", language),
            confusion_html(served.record, language),
        )

    def refresh_choices():
        return gr.Dropdown(choices=holder.choices(), value=FOLLOW_CURRENT)

    max_age = upload_max_age()
    delete_cache = (min(UPLOAD_SWEEP_S, max_age), max_age)
    with gr.Blocks(title="Digit Sketchpad", delete_cache=delete_cache) as demo:
        gr.Markdown(texts.label("intro"))
        language = classroom.language_switch()
        with gr.Row():
            with gr.Column(scale=3):
                sketchpad = gr.Sketchpad(
                    label=texts.label("draw_here"),
                    canvas_size=(CANVAS_SIDE, CANVAS_SIDE),
                    brush=gr.Brush(
                        default_size=BRUSH_SIZE,
                        colors=["#000000"],
                        default_color="#000000",
                        color_mode="fixed",
                    ),
                    type="numpy",
                    image_mode="RGBA",
                    layers=False,
                    transforms=(),
                    fixed_canvas=True,
                    elem_id="sketchpad",
                )
                sketchpad.preprocess = readable_or_clear_error(sketchpad.preprocess)
                guard_sketchpad_blobs(sketchpad)
                # The Sketchpad's value, copied in the browser after every stroke (see
                # COPY_VALUE_JS), and the drawing as the last stroke was read.
                sketchpad_value = gr.JSON(visible=False)
                drawn = gr.State(Drawn())
                # Filled by fast_path's script with the strokes drawn so far.
                fast_drawing = gr.Textbox(
                    visible="hidden", elem_id="fast-drawing", max_lines=1
                )
            with gr.Column(scale=2):
                prediction = gr.HTML(answer_html(None), elem_id="prediction")
                bars = gr.HTML(bars_html(None), elem_id="bars")
                correction = classroom.correction_controls()
        with gr.Accordion(texts.label("model_sees"), open=True):
            model_view = gr.HTML(model_view_html(None), elem_id="model-view")
        examples = example_paths()
        example_gallery = None
        if examples:
            # The examples fill a hidden image, which the page copies into the
            # Sketchpad: an event of the server's that wrote the Sketchpad would give
            # the tab its own copy of it (where the strokes' images then go), and
            # make the page ask for its value on every status message (COPY_VALUE_JS).
            example_image = gr.Image(type="filepath", visible=False)
            example_gallery = gr.Examples(
                examples=examples,
                inputs=[example_image],
                label=texts.label("examples"),
            )
        with gr.Accordion(texts.label("the_model"), open=False):
            chooser = gr.Dropdown(
                label=texts.label("model"),
                choices=[(f"Current ({holder.current().name})", FOLLOW_CURRENT)],
                value=FOLLOW_CURRENT,
                elem_id="model-chooser",
            )
            model_info = gr.Markdown(elem_id="model-info")
            with gr.Row():
                accuracy_plot = gr.LinePlot(
                    x="epoch",
                    y="accuracy",
                    color="data",
                    label=texts.label("accuracy_plot"),
                )
                loss_plot = gr.LinePlot(
                    x="epoch", y="loss", color="data", label=texts.label("loss_plot")
                )
            confusion = gr.HTML(elem_id="confusion")
        with gr.Row(visible=False):
            # A plain file, so that our own reader (with its clear messages) decodes
            # it rather than Gradio's image preprocessing.
            api_image = gr.File(type="filepath", label="image")
            api_result = gr.JSON(label="probabilities")
            api_button = gr.Button("probabilities")

        # Before the classroom's own: on a change of language the answer, which the
        # student is looking at, is the first to follow.
        gr.on(
            [chooser.change, language.change],
            on_draw,
            [drawn, chooser, language],
            [prediction, bars, model_view],
            show_progress="hidden",
            api_visibility="private",
        )
        gr.on(
            [chooser.change, language.change],
            show_model,
            [chooser, language],
            [model_info, accuracy_plot, loss_plot, confusion],
            api_visibility="private",
        )
        views = classroom.build_classroom(
            drawn, chooser, holder, language=language, correction=correction
        )
        page_outputs = [prediction, bars, model_view, *views.outputs, drawn]
        # Events that run in the page alone.
        in_page = {
            "queue": False,
            "show_progress": "hidden",
            "api_visibility": "private",
        }
        sketchpad.change(
            None, [sketchpad], [sketchpad_value], js=COPY_VALUE_JS, **in_page
        )
        # Gradio's own preprocessing and postprocessing each take a worker thread per
        # component; on_stroke reads the drawing itself (INLINE_MAX_PIXELS). Outside
        # the queue, one POST answered in its reply instead of a join and a stream of
        # status messages: 30 tabs got 24% more answers a second (README,
        # "Classroom"). always_last keeps one request per tab in flight, the latest
        # drawing next, as the queue did.
        sketchpad_value.change(
            on_stroke,
            [sketchpad_value, chooser, language, *views.inputs],
            page_outputs,
            api_name="predict",
            show_progress="hidden",
            trigger_mode="always_last",
            queue=False,
            preprocess=False,
            postprocess=False,
        )
        # Outside the queue, which adds a join and a result message (README, "Stroke
        # to answer"). One picture in flight per tab, the latest next: with each one
        # sent at once, 60 tabs drawing nonstop piled up requests until they failed
        # (520 errors in 30 s, none this way); pen-up to answer stayed 0.19 s.
        fast_drawing.input(
            on_fast_draw,
            [fast_drawing, chooser, language],
            [prediction, bars, model_view],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            queue=False,
            preprocess=False,
            postprocess=False,
        )
        if example_gallery is not None:
            example_gallery.load_input_event.then(
                None,
                [example_image],
                [sketchpad],
                js=EXAMPLE_TO_SKETCHPAD_JS,
                **in_page,
            )
            # A value the page sets fires no change event of the Sketchpad's.
            example_gallery.load_input_event.then(
                answer_page,
                [example_image, chooser, language, *views.inputs],
                page_outputs,
                show_progress="hidden",
                api_visibility="private",
            )
        api_button.click(
            probabilities_api,
            [api_image],
            [api_result],
            api_name="probabilities",
            concurrency_limit=DRAW_CONCURRENCY,
            concurrency_id=DRAW_CONCURRENCY_ID,
        )
        demo.load(refresh_choices, None, [chooser], api_visibility="private")
        demo.load(None, js=sketchpad_js.pen_ready_js("sketchpad"))
        demo.load(
            None,
            js=fast_path.fast_path_js(
                "sketchpad", "fast-drawing", CANVAS_SIDE, BRUSH_SIZE
            ),
        )
        demo.load(
            show_model,
            [chooser, language],
            [model_info, accuracy_plot, loss_plot, confusion],
            api_visibility="private",
        )
    return demo


def server_settings() -> dict[str, Any]:
    """Loopback unless told otherwise; ``PORT`` (Heroku-style hosts) wins."""
    port = os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or "7860"
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(port),
    }


def with_queue(demo):
    """``demo`` with Gradio's queue set up as this app runs it."""
    os.environ.setdefault(
        "GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_SUMMARY_EVERY)
    )
    return demo.queue(default_concurrency_limit=None)


def main() -> None:
    from starlette.middleware import Middleware

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Gradio decodes the Sketchpad's images itself, before our size check: a 12 kB
    # PNG of 10000x10000 pixels would cost it over a gigabyte. PIL refuses images of
    # more than twice this many pixels when it reads the header, so this refuses
    # anything larger than mnist_format accepts before a pixel is decoded.
    Image.MAX_IMAGE_PIXELS = mnist_format.MAX_INPUT_PIXELS // 2
    # Between the two PIL only warns, about images this app accepts.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
        upload_max_age()
    except ValueError as error:
        raise SystemExit(str(error)) from None
    demo = with_queue(build_demo())
    demo.launch(
        **server_settings(),
        share=False,
        max_file_size=MAX_FILE_BYTES,
        state_session_capacity=SESSION_CAPACITY,
        css=CSS + classroom.CSS,
        i18n=texts.make_i18n(),
        show_error=False,
        app_kwargs={"middleware": [Middleware(EventBodyLimit)]},
    )


if __name__ == "__main__":
    main()
