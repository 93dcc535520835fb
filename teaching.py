"""What the network has learned, in pictures a class can read: the teaching views.

Everything here is a pure function of a model's weights and an image, in numpy and PIL,
so the app's views can be tested without a browser. The weights come from
`dense_weights`, a list of ``(kernel, bias, activation)`` per Dense layer; Dropout does
nothing when the model answers, so it is left out.

- `weight_maps` shows what each hidden unit looks for: its 784 input weights laid out as
  a 28x28 picture. `diverging_image` colours one, red where ink counts for the unit,
  blue where it counts against, white where it does not matter; `colour_legend` is the
  key. For a wide model, `informative_units` picks the maps worth showing.
- `contributions` shows, for one drawing, which inked pixels push each unit up or down.
- `hidden_activations` and `forward` run the network in numpy, step by step.
- `perturb` shifts, turns, thickens or thins a digit, for the sensitivity sliders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage, special

from training.data import IMAGE_SIDE

PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
PIXEL_MAX = np.iinfo(np.uint8).max

# Ends of ColorBrewer's red-blue diverging scheme (colorbrewer2.org, RdBu), which stays
# readable for the common kinds of colour blindness; zero is white.
POSITIVE_RGB = (202, 0, 32)
NEGATIVE_RGB = (5, 113, 176)
ZERO_RGB = (PIXEL_MAX, PIXEL_MAX, PIXEL_MAX)
MAP_DISPLAY_SIDE = 4 * IMAGE_SIDE
LEGEND_SIZE = (2 * MAP_DISPLAY_SIDE, 36)
LEGEND_TEXT_RGB = (0, 0, 0)
MAP_COUNT = 10

# A plus-shaped neighbourhood: one thickening step widens a stroke by a pixel on each
# side and keeps it centred, unlike the 2x2 square, which also shifts it.
STROKE_STEP = ndimage.generate_binary_structure(2, 1)

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda values: values,
    "relu": lambda values: np.maximum(values, 0.0),
    "sigmoid": special.expit,  # 1 / (1 + e^-x) without overflow warnings.
    "tanh": np.tanh,
    "softmax": lambda values: special.softmax(values, axis=-1),
}

# One Dense layer: kernel (inputs, units), bias (units,), activation name.
DenseLayer = tuple[np.ndarray, np.ndarray, str]


def dense_weights(model: Any) -> list[DenseLayer]:
    """The kernel, bias and activation name of each Dense layer of a Keras model."""
    import keras  # Imported here: Keras takes seconds to load.

    layers = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Dense):
            continue
        weights = layer.get_weights()
        kernel = np.asarray(weights[0])
        bias = np.asarray(weights[1]) if layer.use_bias else np.zeros(kernel.shape[1])
        layers.append((kernel, bias, layer.activation.__name__))
    if not layers:
        raise ValueError(f"model {model.name!r} has no Dense layers")
    return layers


def activate(name: str, values: np.ndarray) -> np.ndarray:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation {name!r} is not supported; use one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name](values)


def as_batch(vector: Any, inputs: int = PIXEL_COUNT) -> np.ndarray:
    """A (1, 784) vector, a (784,) vector, a 28x28 image or a batch, as (N, 784)."""
    values = np.asarray(vector, dtype=np.float64)
    if values.size == 0 or values.size % inputs:
        raise ValueError(
            f"expected {inputs} pixel values per image, got shape {values.shape}"
        )
    return values.reshape(-1, inputs)


def hidden_activations(weights: Sequence[DenseLayer], vector: Any) -> np.ndarray:
    """The first hidden layer's outputs, (N, units), for an input such as (1, 784)."""
    kernel, bias, activation = weights[0]
    return activate(activation, as_batch(vector, len(kernel)) @ kernel + bias)


def forward(weights: Sequence[DenseLayer], vector: Any) -> np.ndarray:
    """The whole network in numpy: what ``model.predict`` gives, (N, classes)."""
    values = as_batch(vector, len(weights[0][0]))
    for kernel, bias, activation in weights:
        values = activate(activation, values @ kernel + bias)
    return values


def informative_units(
    weights: Sequence[DenseLayer], count: int, *, sample: Any = None
) -> np.ndarray:
    """Indices of the ``count`` first-layer units most worth showing, best first.

    The rule: a unit matters as much as it both reads the image and is listened to.
    Without a sample, its score is the length (L2 norm) of its 784 input weights times
    the length of its outgoing weights into the next layer. With ``sample``, a batch of
    images (N, 784) such as a few hundred MNIST digits, the first factor becomes the
    standard deviation of the unit's activation over the sample: a unit that gives
    every digit the same output tells the digits apart no better than a dead one. For
    a model with one Dense layer the outgoing factor is 1.

    Units scoring zero (no outgoing weights, or constant over the sample) cannot change
    the answer and are never returned, so fewer than ``count`` indices come back when
    fewer units are alive. Ties go to the lower index.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    kernel = weights[0][0]
    if sample is None:
        reading = np.linalg.norm(kernel, axis=0)
    else:
        reading = hidden_activations(weights, sample).std(axis=0)
    listened = np.linalg.norm(weights[1][0], axis=1) if len(weights) > 1 else 1.0
    scores = reading * listened
    # A stable sort on the negated score keeps equal scores in index order.
    ranked = np.argsort(-scores, kind="stable")
    return ranked[scores[ranked] > 0][:count]


def weight_maps(
    kernel: np.ndarray, count: int = MAP_COUNT, *, order: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Each hidden unit's input weights as a 28x28 map.

    ``order`` lists the units to show (e.g. from `informative_units`); without it the
    first ``count`` units are shown, which for the seed model's ten units is all.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != PIXEL_COUNT:
        raise ValueError(
            f"expected a first-layer kernel of shape ({PIXEL_COUNT}, units), "
            f"got {kernel.shape}"
        )
    units = range(kernel.shape[1]) if order is None else order
    # Keras flattens an image row by row, so column j reshapes straight back.
    return [
        kernel[:, unit].reshape(IMAGE_SIDE, IMAGE_SIDE).copy()
        for unit in list(units)[:count]
    ]


def contributions(
    kernel: np.ndarray, vector: Any, units: Sequence[int]
) -> list[np.ndarray]:
    """For each unit, pixel times weight: the parts of the drawing that move it.

    The sum of a unit's map plus its bias is the unit's input before the activation.
    """
    pixels = as_batch(vector, len(kernel))
    if len(pixels) != 1:
        raise ValueError(f"expected one image, got {len(pixels)}")
    return [
        (pixels[0] * kernel[:, unit]).reshape(IMAGE_SIDE, IMAGE_SIDE) for unit in units
    ]


def diverging_colours(values: np.ndarray, scale: float) -> np.ndarray:
    """RGB uint8 for each value: white at 0, full red at +scale, full blue at -scale."""
    if scale > 0:
        level = np.clip(values / scale, -1.0, 1.0)
    else:
        level = np.zeros_like(values, dtype=np.float64)
    strength = np.abs(level)[..., None]
    end = np.where(level[..., None] >= 0, POSITIVE_RGB, NEGATIVE_RGB)
    colours = (1.0 - strength) * np.array(ZERO_RGB) + strength * end
    return np.rint(colours).astype(np.uint8)


def diverging_image(
    map28: np.ndarray, *, scale: float | None = None, size: int = MAP_DISPLAY_SIDE
) -> np.ndarray:
    """A weight map as a ``size`` x ``size`` RGB picture, zero white.

    The colour limits are symmetric, +-``scale`` (default: the largest absolute
    weight), so the same colour means the same weight on both sides. Each weight
    becomes a block of equal pixels (nearest neighbour): smoothing would invent
    weights between the pixels that do not exist.
    """
    values = np.asarray(map28, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected a 2-D map, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("map contains NaN or infinite values")
    if scale is None:
        scale = float(np.abs(values).max())
    elif not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    picture = Image.fromarray(diverging_colours(values, scale))
    return np.asarray(picture.resize((size, size), Image.Resampling.NEAREST))


def colour_legend(scale: float, *, size: tuple[int, int] = LEGEND_SIZE) -> np.ndarray:
    """The key to `diverging_image`: a blue-white-red bar over "-max", "0", "+max"."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    width, height = size
    bar_height = height // 2
    ramp = np.linspace(-scale, scale, width)
    bar = np.broadcast_to(diverging_colours(ramp, scale), (bar_height, width, 3))
    picture = Image.new("RGB", size, ZERO_RGB)
    picture.paste(Image.fromarray(np.ascontiguousarray(bar)), (0, 0))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    # ASCII minus: the default font has no U+2212 glyph.
    labels = (f"-{scale:.2g}", "0", f"+{scale:.2g}")
    for label, anchor, x in zip(
        labels, ("la", "ma", "ra"), (0, width // 2, width - 1), strict=True
    ):
        draw.text(
            (x, bar_height + 2), label, fill=LEGEND_TEXT_RGB, font=font, anchor=anchor
        )
    return np.asarray(picture)


def perturb(
    image28: np.ndarray,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    rotation_deg: float = 0.0,
    thickness: int = 0,
) -> np.ndarray:
    """A changed copy of an MNIST-format digit, float32 in [0, 1].

    ``thickness`` +n thickens the strokes by n grey dilations, -n thins them by n
    erosions (each a pixel on every side). Then the image turns by ``rotation_deg``
    about its centre (positive is anticlockwise, as on screen) and moves by ``shift``
    = (rows down, columns right), fractions allowed. Turning and moving are one
    bilinear resampling, so the digit is blurred once, not twice; ink moved off the
    field is lost and the uncovered border is blank.
    """
    image = np.asarray(image28, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("image contains NaN or infinite values")
    if thickness != int(thickness):
        raise ValueError(f"thickness must be a whole number of steps, got {thickness}")

    for _ in range(abs(int(thickness))):
        step = ndimage.grey_dilation if thickness > 0 else ndimage.grey_erosion
        image = step(image, footprint=STROKE_STEP, mode="constant", cval=0.0)

    shift_rows, shift_cols = (float(value) for value in shift)
    if rotation_deg or shift_rows or shift_cols:
        # Output pixel p samples the input at centre + R^-1 (p - centre - shift),
        # where R turns anticlockwise on screen (rows grow downwards).
        angle = np.deg2rad(rotation_deg)
        cos, sin = np.cos(angle), np.sin(angle)
        inverse = np.array([[cos, sin], [-sin, cos]])
        centre = (np.array(image.shape) - 1) / 2
        offset = centre - inverse @ (centre + np.array([shift_rows, shift_cols]))
        image = ndimage.affine_transform(
            image, inverse, offset=offset, order=1, mode="constant", cval=0.0
        )
    return np.clip(image, 0.0, 1.0).astype(np.float32)
