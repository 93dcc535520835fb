"""Turn any drawing into MNIST format: the (1, 784) float32 vector the digit MLP reads.

`to_mnist(image)` accepts a Gradio Sketchpad/ImageEditor value (a dict with
``background``, ``layers`` and ``composite``), a numpy array (HxW, HxWx1, HxWx3 or
HxWx4; bool, integer or float), a PIL image, a path to an image file or the bytes of
one. It returns a `MnistDigit`, or None when nothing is drawn.

The recipe follows the MNIST page (LeCun, Cortes, Burges): the digit is scaled so that
the longer side of its box is 20 px, with anti-aliasing, then placed in a 28x28 field so
that its centre of mass lies at the field's centre. On 3,000 training digits the mass
centre computed as sum(i * v) / sum(v) is (row, column) = (13.99, 14.00) in 0-based
indices (spread 0.28 px), and the nonzero box is 20 px along its longer side in all
but one of them; this module reproduces both.

1. Ink. Where the image has a transparent background (the border is not opaque), ink is
   what was painted: the distance of each pixel's alpha from the border's alpha, because
   the colour of a transparent pixel means nothing. Otherwise the background colour is
   the median of the border pixels and ink is the largest per-channel distance from it,
   which works for dark ink on white, light ink on black, coloured ink and greyscale
   alike. Contrast below `MIN_CONTRAST` is background and becomes exactly 0; the rest is
   stretched so that the strongest ink is 1.0.
2. Crop to the ink's bounding box. The box is found first on the cheap test "differs
   from the background at all", so the per-pixel colour maths only runs on the crop.
3. Stroke width. A thick marker and a thin pen draw the same digit, but the MLP has only
   seen MNIST's pen. At a working resolution (longer side `WORK_SIDE`) the stroke width
   is estimated as twice the ink area over the ink's perimeter (2A/P, exact for a long
   band; the perimeter is the summed absolute gradient, corrected by pi/4 for the L1
   norm). The stroke is then thinned or thickened with a Euclidean distance transform
   so that it comes out `TARGET_STROKE_WIDTH` px wide in the 20 px box, the median that
   the same estimator gives on 5,000 MNIST training digits (2.48 px; 10th and 90th
   percentiles 1.9 and 3.4). Shapes wider than `MAX_STROKE_FRACTION` of the box are
   blobs rather than strokes and are left alone. Measured on a "2" drawn with a 3 px
   pen against the same path drawn with a 50 px pen, the correlation between the two
   outputs is 0.99 with this step and 0.47 without; with a pen a quarter of the digit's
   height (105 px) it is 0.68 against 0.36, and 0.97 against 0.46 once the whole-pixel
   centring's one-pixel offset is aligned (tests/test_mnist_format.py pins these).
4. Scale the box so its longer side is `BOX_SIDE`, keeping the aspect ratio, with PIL's
   BOX filter (an area average, so edges come out grey).
5. Paste into the 28x28 field with a whole-pixel shift that puts the mass centre at
   (14, 14), as MNIST did: the result is within 0.5 px of it. The shift is clamped so
   the box never leaves the field, so a box whose mass centre is more than 4 px from its
   middle ends up off centre instead of cut off.

Inputs larger than `MAX_INPUT_PIXELS` raise `ImageTooLarge` before any large allocation;
bad inputs raise ValueError or TypeError saying what was expected.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

IMAGE_SIDE = 28
BOX_SIDE = 20
PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
FULL_SCALE = 255

# The mass centre MNIST puts its digits at, in 0-based pixel indices.
FIELD_CENTRE = IMAGE_SIDE / 2

# 4096 x 4096 is five times the largest canvas a browser sends in practice; anything
# bigger is refused from its shape alone, before a pixel is touched.
MAX_INPUT_PIXELS = 4096 * 4096

# Contrast with the background, as a fraction of full scale, below which a pixel counts
# as background: it absorbs compression noise and faint paper texture.
MIN_CONTRAST = 0.1

# Ink whose total mass (in full-resolution pixels of full strength) is below this
# fraction of the canvas area is a stray dot, not a digit: 64 px on an 800x800 canvas.
MIN_INK_FRACTION = 1e-4

# Stroke width is normalised at this resolution (longer side of the ink's box), three
# times the final box so that a 2.5 px MNIST stroke is 7.5 px wide there.
WORK_SIDE = 3 * BOX_SIDE

# Median stroke width of MNIST training digits in px of the 20 px box, measured with the
# 2A/P estimator below on the first 5,000 training images (2.48 px).
TARGET_STROKE_WIDTH = 2.5

# A shape whose estimated width exceeds this fraction of its box is a filled blob (a
# solid square has 0.5), and thinning it would change what it is.
MAX_STROKE_FRACTION = 0.3

# The step images for the teaching view are downscaled to at most this many pixels.
# The page shows them 96 CSS px wide, so twice that stays sharp on high-density
# screens; 280 px cost twice the time to compute and PNG-encode for no visible gain.
DISPLAY_SIDE = 192

_SKETCHPAD_KEYS = ("background", "layers", "composite")
_ALLOWED_CHANNELS = (1, 3, 4)
_ALPHA = 3
_MODES_WITH_ALPHA = ("LA", "La", "PA", "RGBa")
_EXPECTED_INPUT = (
    "a numpy array (HxW, HxWx1, HxWx3 or HxWx4), a PIL image, an image file's path "
    "or bytes, or a Sketchpad dict with keys 'background', 'layers' and 'composite'"
)


class ImageTooLarge(ValueError):
    """The input has more than `MAX_INPUT_PIXELS` pixels."""


@dataclass(frozen=True)
class MnistDigit:
    """A drawing in MNIST format, with the intermediate images when asked for.

    ``image`` is the (28, 28) float32 digit in [0, 1], background exactly 0. ``steps``
    holds, in order, "ink", "cropped", "box", "field" and "centred" (2-D float32 arrays
    in [0, 1]) for a teaching view, or is empty.
    """

    image: np.ndarray
    steps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def vector(self) -> np.ndarray:
        """The (1, 784) float32 row the MLP takes, a C-order view of ``image``."""
        return self.image.reshape(1, PIXEL_COUNT)


def to_mnist(image: Any, *, with_steps: bool = False) -> MnistDigit | None:
    """Convert a drawing to MNIST format; None means nothing drawn.

    Sketchpad dicts: the strokes are what the layers hold, since the background is only
    the canvas. When no layer holds ink (an ImageEditor with an uploaded picture and no
    strokes), or the background is a picture rather than a plain canvas, the composite
    is read, and failing that the background.

    Raises `ImageTooLarge` for more than `MAX_INPUT_PIXELS` pixels, TypeError for a
    value of the wrong kind, and ValueError for a wrong shape, non-finite or negative
    values, or a file that is not a readable image; each message says what was
    expected.
    """
    steps: dict[str, np.ndarray] = {}
    for group in _ink_sources(image):
        found = _find_ink([_as_canvas(item) for item in group], steps, with_steps)
        if found is not None:
            break
    else:
        return None

    cropped = _resize_to_long_side(found.values, WORK_SIDE).astype(np.float32)
    cropped = np.minimum(cropped * np.float32(found.scale), np.float32(1.0))
    if not cropped.any():
        # Only ink so faint and sparse that scaling rounds it away gets here.
        return None
    if with_steps:
        steps["cropped"] = _for_display(found.values, found.scale)
    work = _normalise_stroke(cropped)
    box = _resize_to_long_side(_crop_to_ink(work), BOX_SIDE)
    # The area average leaves solid strokes at 1.0 up to rounding; rescaling makes the
    # strongest ink exactly 1.0, as in MNIST, even when every stroke is thin.
    box = np.minimum(box / box.max(), 1.0)

    digit = _centre_by_mass(box)
    if with_steps:
        steps["box"] = box
        steps["field"] = _paste(box, *_geometric_offset(box))
        steps["centred"] = digit
    return MnistDigit(image=digit, steps=steps)


# Input: what kinds of value are accepted, and which image holds the strokes.


def _ink_sources(image: Any) -> list[list[Any]]:
    """Groups of images to look for ink in, in order; the first group with ink wins."""
    if isinstance(image, Mapping):
        return _sketchpad_sources(image)
    if image is None:
        raise TypeError(f"expected {_EXPECTED_INPUT}, got None")
    return [[image]]


def _sketchpad_sources(value: Mapping) -> list[list[Any]]:
    if not any(key in value for key in _SKETCHPAD_KEYS):
        raise ValueError(
            "expected a Sketchpad dict with keys 'background', 'layers' and "
            f"'composite', got keys {sorted(map(str, value))}"
        )
    layers = value.get("layers")
    if layers is None:
        layers = []
    if not isinstance(layers, list | tuple):
        raise TypeError(
            f"expected 'layers' to be a list of images, got {type(layers).__name__}"
        )
    groups = [[layer for layer in layers if layer is not None]]
    background = value.get("background")
    if background is not None and not _is_plain(background):
        # Strokes over a picture (an example, say): the digit is what they make
        # together, so the composite comes first.
        groups = []
    groups += [
        [value[key]]
        for key in ("composite", "background")
        if value.get(key) is not None
    ]
    return [group for group in groups if group]


def _is_plain(image: Any) -> bool:
    """Whether every pixel of the image is the same: a bare canvas."""
    if isinstance(image, bytes):
        return _is_plain_file(image)
    pixels = _as_array(image)
    if pixels.size == 0:
        return True
    if pixels.dtype == np.uint8 and pixels.shape[2] == 4:
        # One 32-bit word a pixel: 60 times faster than comparing the channels.
        words = np.ascontiguousarray(pixels).view(np.uint32)
        return bool((words == words.flat[0]).all())
    return all(
        pixels[..., channel].min() == pixels[..., channel].max()
        for channel in range(pixels.shape[2])
    )


@functools.lru_cache(maxsize=16)
def _is_plain_file(data: bytes) -> bool:
    # A page sends the same canvas's bytes with every stroke: decoded once.
    return _is_plain(_as_array(data))


def _as_array(image: Any) -> np.ndarray:
    """Any accepted image as an (H, W, C) array with C in 1, 3 or 4, size checked."""
    if isinstance(image, np.ndarray):
        return _checked_array(image)
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if isinstance(image, str | os.PathLike):
        name = os.path.basename(image)
        return _read_image_file(image, name or "the file", f"image file {name}")
    if isinstance(image, bytes):
        return _read_image_file(io.BytesIO(image), "the image", "the image")
    raise TypeError(f"expected {_EXPECTED_INPUT}, got {type(image).__name__}")


def _check_pixel_count(height: int, width: int) -> None:
    if height * width > MAX_INPUT_PIXELS:
        raise ImageTooLarge(
            f"image of {height}x{width} pixels is larger than the limit of "
            f"{MAX_INPUT_PIXELS} pixels; downscale it first"
        )


def _read_image_file(
    source: str | os.PathLike | io.BytesIO, name: str, described: str
) -> np.ndarray:
    """An image file, called ``name`` ("digit.png") or ``described`` ("image file
    digit.png") in messages."""
    try:
        with Image.open(source) as opened:
            # The header gives the size before any pixel is decoded.
            _check_pixel_count(opened.height, opened.width)
            opened.load()
            return _pil_to_array(opened)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(
            f"{described} is larger than the limit of {MAX_INPUT_PIXELS} pixels; "
            "downscale it first"
        ) from error
    except OSError as error:
        # Messages reach the page and API callers: name the file, never the folder it
        # sits in (an upload's path shows the server's directories), and say what went
        # wrong without PIL's wording, which repeats the full path.
        reason = error.strerror or "it is not an image, or a damaged one"
        raise ValueError(
            f"expected a readable image file (PNG, JPEG, ...), but {name} could not "
            f"be read: {reason}"
        ) from error


def _pil_to_array(image: Image.Image) -> np.ndarray:
    _check_pixel_count(image.height, image.width)
    mode = image.mode
    has_transparency = mode in _MODES_WITH_ALPHA or "transparency" in image.info
    if mode == "1":
        image = image.convert("L")
    elif has_transparency and mode != "RGBA":
        image = image.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
        # Palette, CMYK, YCbCr, HSV and LAB images are read through their RGB colours.
        image = image.convert("RGB")
    return _checked_array(np.asarray(image))


def _checked_array(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "buif":
        raise TypeError(
            "expected an image array of bool, integer or float values, got dtype "
            f"{array.dtype}"
        )
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in _ALLOWED_CHANNELS:
        hint = ""
        if array.ndim == 1 and array.size == PIXEL_COUNT:
            hint = (
                f"; reshape a flat MNIST vector to ({IMAGE_SIDE}, {IMAGE_SIDE}) first"
            )
        raise ValueError(
            "expected a 2-D image of shape HxW, HxWx1, HxWx3 or HxWx4, got shape "
            f"{array.shape}{hint}"
        )
    _check_pixel_count(array.shape[0], array.shape[1])
    if array.size == 0:
        raise ValueError(f"expected an image with pixels, got shape {array.shape}")
    return array


@dataclass(frozen=True)
class _Canvas:
    """An image prepared for ink finding, in the units of its own pixels.

    ``background`` is the border's median pixel, one value per channel; ink is the
    distance from it in ``ink_channels`` only.
    """

    pixels: np.ndarray
    full_scale: float
    background: tuple[float, ...]
    ink_channels: tuple[int, ...]


def _as_canvas(image: Any) -> _Canvas:
    pixels = _as_array(image)
    pixels, full_scale = _with_full_scale(pixels)
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    background = tuple(float(value) for value in np.median(border, axis=0))
    channels = pixels.shape[2]
    transparent = channels == 4 and background[_ALPHA] < full_scale
    return _Canvas(
        pixels=pixels,
        full_scale=full_scale,
        background=background,
        ink_channels=(_ALPHA,) if transparent else tuple(range(channels)),
    )


def _with_full_scale(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The array to read, and the value that stands for full intensity in it.

    uint8 is 0..255 and bool becomes 0 or 255. Floats are taken as 0..1 when their
    maximum is at most 1, else as 0..255. Other integers are 0..255 when they fit,
    else 0..65535 (a 16-bit image whose values all stay below 256 is read as 8-bit).
    """
    kind = pixels.dtype.kind
    if pixels.dtype == np.uint8:
        return pixels, float(FULL_SCALE)
    if kind == "b":
        # PIL's mode "1" arrays store True as the byte 255, so test the bytes.
        full = np.uint8(FULL_SCALE)
        return np.where(pixels.view(np.uint8) != 0, full, np.uint8(0)), float(full)
    if kind == "f":
        if not np.isfinite(pixels).all():
            raise ValueError(
                f"expected finite pixel values in [0, 1] or [0, {FULL_SCALE}], got NaN "
                "or infinity"
            )
    low, high = pixels.min(), pixels.max()
    if low < 0:
        raise ValueError(f"expected pixel values of at least 0, got {low}")
    if kind == "f":
        if high > FULL_SCALE:
            raise ValueError(
                f"expected float pixel values in [0, 1] or [0, {FULL_SCALE}], got a "
                f"maximum of {high}"
            )
        return pixels, 1.0 if high <= 1 else float(FULL_SCALE)
    sixteen_bit = np.iinfo(np.uint16).max
    if high > sixteen_bit:
        raise ValueError(
            f"expected integer pixel values in [0, {FULL_SCALE}] or "
            f"[0, {sixteen_bit}], got a maximum of {high}"
        )
    return pixels, float(FULL_SCALE if high <= FULL_SCALE else sixteen_bit)


# Ink: find it cheaply, then measure it on the crop only.


class _Ink(NamedTuple):
    """Ink values cropped to their box; ``values * scale`` lies in [0, 1].

    uint8 canvases keep their ink in uint8 up to the resize to the working resolution,
    which is several times cheaper than float maths on an 800x800 canvas.
    """

    values: np.ndarray
    scale: float


def _find_ink(
    canvases: list[_Canvas], steps: dict[str, np.ndarray], with_steps: bool
) -> _Ink | None:
    """The ink of these canvases cropped to its box, or None when there is none."""
    shape = canvases[0].pixels.shape[:2]
    if any(canvas.pixels.shape[:2] != shape for canvas in canvases):
        raise ValueError(
            "expected all Sketchpad layers to share one size, got "
            f"{[canvas.pixels.shape[:2] for canvas in canvases]}"
        )
    boxes = [box for box in map(_differing_box, canvases) if box is not None]
    if not boxes:
        return None
    region = (
        slice(min(box[0].start for box in boxes), max(box[0].stop for box in boxes)),
        slice(min(box[1].start for box in boxes), max(box[1].stop for box in boxes)),
    )
    ink = _thresholded_contrast(canvases, region)
    if ink is None:
        return None
    values = _crop_to_ink(ink.values)
    mass = float(values.sum(dtype=np.float64)) * ink.scale
    if mass < MIN_INK_FRACTION * shape[0] * shape[1]:
        return None
    if with_steps:
        steps["ink"] = _display_ink(canvases)
    return _Ink(values, ink.scale)


def _display_ink(canvases: list[_Canvas]) -> np.ndarray:
    """The whole canvas's ink map, at most `DISPLAY_SIDE` px, for the teaching view.

    The canvas is subsampled before the ink is measured: ten times cheaper than
    measuring first and shrinking with anti-aliasing, and at this size a picture of
    where the ink was found needs no more.
    """
    height, width = canvases[0].pixels.shape[:2]
    step = math.ceil(max(height, width) / DISPLAY_SIDE)
    small = [
        replace(canvas, pixels=canvas.pixels[::step, ::step]) for canvas in canvases
    ]
    ink = _thresholded_contrast(small, (slice(None), slice(None)))
    if ink is None:
        return np.zeros(small[0].pixels.shape[:2], dtype=np.float32)
    return _for_display(ink.values, ink.scale)


def _differing_box(canvas: _Canvas) -> tuple[slice, slice] | None:
    """The box of pixels that differ from the background at all, or None.

    This exact test is cheap and, on a clean canvas, already tight; noise only makes the
    box larger, and the contrast threshold then trims the crop. All channels are
    compared, even on a transparent canvas, so the box holds every painted pixel.
    """
    pixels = canvas.pixels
    height, width, channels = pixels.shape
    exact = all(value == round(value) for value in canvas.background)
    if pixels.dtype == np.uint8 and exact and pixels.flags.c_contiguous:
        background = np.array([round(v) for v in canvas.background], dtype=np.uint8)
        if channels == 4:
            # An RGBA pixel is one 32-bit word: one comparison per pixel.
            differs = pixels.view(np.uint32)[:, :, 0] != background.view(np.uint32)[0]
        else:
            # Compare rows of bytes with the background repeated along the row.
            row = np.tile(background, width)
            differs = pixels.reshape(height, width * channels) != row
    else:
        differs = np.zeros((height, width * channels), dtype=bool)
        for channel, value in enumerate(canvas.background):
            if pixels.dtype.kind in "ui" and value == round(value):
                # A scalar of the array's own type spares a float copy of the plane.
                value = pixels.dtype.type(round(value))
            differs[:, channel::channels] = pixels[:, :, channel] != value
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return None
    cols = differs[rows[0] : rows[-1] + 1].any(axis=0)
    cols = np.flatnonzero(cols.reshape(width, -1).any(axis=1))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _thresholded_contrast(
    canvases: list[_Canvas], region: tuple[slice, slice]
) -> _Ink | None:
    """Largest distance from the background over channels and canvases, thresholded.

    Contrast below `MIN_CONTRAST` becomes 0 and the rest is shifted down by it, so the
    grey ramp of an anti-aliased edge has no step; ``scale`` maps the strongest ink to
    1.0. Returns None when nothing reaches the threshold.
    """
    if all(canvas.pixels.dtype == np.uint8 for canvas in canvases):
        contrast = _uint8_contrast(canvases, region)
        threshold = np.uint8(round(MIN_CONTRAST * FULL_SCALE))
    else:
        contrast = _float_contrast(canvases, region)
        threshold = np.float32(MIN_CONTRAST)
    strongest = contrast.max()
    if strongest <= threshold:
        return None
    # Subtracting min(contrast, threshold) is max(contrast - threshold, 0) in any dtype.
    contrast -= np.minimum(contrast, threshold)
    return _Ink(contrast, 1.0 / float(strongest - threshold))


def _uint8_contrast(canvases: list[_Canvas], region: tuple[slice, slice]) -> np.ndarray:
    contrast = None
    for canvas in canvases:
        pixels = canvas.pixels[region]
        for channel in canvas.ink_channels:
            plane = pixels[:, :, channel]
            value = round(canvas.background[channel])
            # White and black backgrounds, the usual ones, need one pass or none.
            if value == 0:
                distance = plane.copy()
            elif value == FULL_SCALE:
                distance = np.invert(plane)
            else:
                table = np.abs(np.arange(FULL_SCALE + 1) - canvas.background[channel])
                distance = np.take(np.round(table).astype(np.uint8), plane)
            if contrast is None:
                contrast = distance
            else:
                np.maximum(contrast, distance, out=contrast)
    return contrast


def _float_contrast(canvases: list[_Canvas], region: tuple[slice, slice]) -> np.ndarray:
    contrast = None
    for canvas in canvases:
        pixels = canvas.pixels[region]
        for channel in canvas.ink_channels:
            value = np.float32(canvas.background[channel])
            distance = np.abs(pixels[:, :, channel].astype(np.float32) - value)
            distance /= np.float32(canvas.full_scale)
            contrast = distance if contrast is None else np.maximum(contrast, distance)
    return contrast


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# Geometry: scaling, stroke width, centring.


def _resize_to_long_side(ink: np.ndarray, long_side: int) -> np.ndarray:
    """Scale so the longer side is ``long_side``, keeping the aspect ratio."""
    height, width = ink.shape
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return ink
    # BOX averages the area each output pixel covers, which is the anti-aliasing MNIST
    # used; reducing_gap lets PIL shrink by whole factors first, which is much faster.
    resized = Image.fromarray(ink).resize(size, Image.Resampling.BOX, reducing_gap=3.0)
    return np.asarray(resized)


def _stroke_width(ink: np.ndarray) -> float:
    """Stroke width in pixels, estimated as twice the area over the perimeter.

    For a band of width w and length l the area is w*l and the perimeter 2*l. The
    perimeter is the summed absolute gradient of the grey image; the sum of |dx| and
    |dy| over-counts a straight edge by 4/pi on average over directions. A stroke
    narrower than a pixel reads as about 1 px, which is all the precision we need.
    """
    padded = np.pad(ink, 1)
    gradient = (
        np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    )
    perimeter = float(gradient) * math.pi / 4
    return 2 * float(ink.sum()) / perimeter


def _normalise_stroke(work: np.ndarray) -> np.ndarray:
    """Thin or thicken the strokes so they end up `TARGET_STROKE_WIDTH` in the box."""
    from scipy import ndimage  # A third of a second to import: only when first needed.

    long_side = max(work.shape)
    width = _stroke_width(work)
    if width > MAX_STROKE_FRACTION * long_side:
        return work
    # Growing the strokes by (target - width) grows the box by as much, and the box is
    # what gets scaled to BOX_SIDE, so aim for the width that lands on the target then.
    target = (
        TARGET_STROKE_WIDTH * (long_side - width) / (BOX_SIDE - TARGET_STROKE_WIDTH)
    )
    # The mask is the stroke at half of its typical peak, so a stroke thinner than a
    # pixel, whose grey peak is low, still yields a connected centre line.
    peak = float(np.percentile(work[work > 0], 90))
    mask = work >= 0.5 * min(peak, 1.0)
    # The distance transform gives each pixel the distance d from its centre to the
    # nearest pixel centre on the other side of the mask's edge, which lies about
    # d - 0.5 px away; the grey value below is how much of the pixel the moved edge
    # covers.
    if target > width:
        grow = (target - max(width, 1.0)) / 2
        pad = math.ceil(grow) + 1
        outside = ndimage.distance_transform_edt(~np.pad(mask, pad))
        stroke = np.clip(1.0 + grow - outside, 0.0, 1.0)
    else:
        shrink = (width - target) / 2
        inside = ndimage.distance_transform_edt(mask)
        stroke = np.clip(inside - shrink, 0.0, 1.0)
    stroke = stroke.astype(np.float32)
    if not stroke.any():
        return work
    return stroke


def _mass_centre(box: np.ndarray) -> tuple[float, float]:
    total = float(box.sum(dtype=np.float64))
    rows = np.arange(box.shape[0], dtype=np.float64)
    cols = np.arange(box.shape[1], dtype=np.float64)
    row_mass = box.sum(axis=1, dtype=np.float64)
    col_mass = box.sum(axis=0, dtype=np.float64)
    return float(row_mass @ rows) / total, float(col_mass @ cols) / total


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Paste with the whole-pixel shift that puts the mass centre nearest (14, 14)."""
    row_centre, col_centre = _mass_centre(box)
    # Rounding half up makes ties (a symmetric box of even side) deterministic.
    top = math.floor(FIELD_CENTRE - row_centre + 0.5)
    left = math.floor(FIELD_CENTRE - col_centre + 0.5)
    # A lopsided shape could need a shift that pushes the box out of the field; keeping
    # all of it visible matters more than the last pixels of centring.
    top = min(max(top, 0), IMAGE_SIDE - box.shape[0])
    left = min(max(left, 0), IMAGE_SIDE - box.shape[1])
    return _paste(box, top, left)


def _geometric_offset(box: np.ndarray) -> tuple[int, int]:
    return (IMAGE_SIDE - box.shape[0]) // 2, (IMAGE_SIDE - box.shape[1]) // 2


def _paste(box: np.ndarray, top: int, left: int) -> np.ndarray:
    image = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    image[top : top + box.shape[0], left : left + box.shape[1]] = box
    return image


def _for_display(values: np.ndarray, scale: float) -> np.ndarray:
    """``values * scale`` no larger than `DISPLAY_SIDE` on either side, as float32."""
    if max(values.shape) > DISPLAY_SIDE:
        values = _resize_to_long_side(values, DISPLAY_SIDE)
    return np.minimum(values.astype(np.float32) * np.float32(scale), np.float32(1.0))
