"""Random distortions that make MNIST look like digits drawn in the app.

A digit drawn with a mouse and put into MNIST format (see ``mnist_format``) differs
from a scanned MNIST digit in predictable ways: it leans more, its proportions vary, its
centre lands up to a pixel away from where MNIST's whole-pixel centring put it, and the
pen may be thinner or thicker. Each image gets its own random affine map (rotation,
shear, scale, shift) and, for some, one step of stroke thickening or thinning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class AugmentSettings:
    max_rotation_deg: float = 12.0  # People tilt their digits by about this much.
    max_shear: float = 0.15
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift_px: float = 1.5  # Centring to a pixel, plus drawn digits' own offsets.
    thicken_fraction: float = 0.25  # Thick pens: a 2x2 grey dilation.
    thin_fraction: float = 0.1  # Thin pens: a 2x2 grey erosion.
    untouched_fraction: float = 0.25  # Some MNIST digits stay exactly as scanned.


def random_affine(
    images: np.ndarray, rng: np.random.Generator, settings: AugmentSettings
) -> np.ndarray:
    """Applies one random affine map per image, about the image centre.

    Works on the whole batch at once: one coordinate grid of shape (3, N, H, W) goes
    through a single ``map_coordinates`` call, which is far faster than a loop.
    """
    count, height, width = images.shape
    angle = np.deg2rad(rng.uniform(-1, 1, count) * settings.max_rotation_deg)
    shear = rng.uniform(-1, 1, count) * settings.max_shear
    scale = rng.uniform(*settings.scale_range, count)
    shift = rng.uniform(-1, 1, (2, count)) * settings.max_shift_px

    # Output pixel (r, c) samples the input at centre + inverse_map @ (r, c) - shift.
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    inverse = np.empty((count, 2, 2))
    inverse[:, 0, 0] = cos
    inverse[:, 0, 1] = -sin + shear * cos
    inverse[:, 1, 0] = sin
    inverse[:, 1, 1] = cos + shear * sin

    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    rows, cols = rows - centre_row, cols - centre_col
    per_image = inverse.astype(np.float32)[:, :, :, None, None]  # (N, 2, 2, 1, 1)
    source_rows = per_image[:, 0, 0] * rows + per_image[:, 0, 1] * cols
    source_cols = per_image[:, 1, 0] * rows + per_image[:, 1, 1] * cols
    source_rows += (centre_row - shift[0]).astype(np.float32)[:, None, None]
    source_cols += (centre_col - shift[1]).astype(np.float32)[:, None, None]
    batch_index = np.broadcast_to(
        np.arange(count, dtype=np.float32)[:, None, None], (count, height, width)
    )
    coordinates = np.stack([batch_index, source_rows, source_cols])
    return ndimage.map_coordinates(
        images, coordinates, order=1, mode="constant", cval=0.0
    ).astype(np.float32)


def random_stroke_width(
    images: np.ndarray, rng: np.random.Generator, settings: AugmentSettings
) -> np.ndarray:
    choice = rng.random(len(images))
    thicken = choice < settings.thicken_fraction
    thin = (choice >= settings.thicken_fraction) & (
        choice < settings.thicken_fraction + settings.thin_fraction
    )
    result = images.copy()
    if thicken.any():
        result[thicken] = ndimage.grey_dilation(images[thicken], size=(1, 2, 2))
    if thin.any():
        result[thin] = ndimage.grey_erosion(images[thin], size=(1, 2, 2))
    return result


def augment(
    images: np.ndarray,
    rng: np.random.Generator,
    settings: AugmentSettings = AugmentSettings(),
) -> np.ndarray:
    """Distorts a batch of (N, 28, 28) float images in [0, 1]; returns a new array."""
    result = np.array(images, dtype=np.float32)
    change = rng.random(len(result)) >= settings.untouched_fraction
    distorted = random_stroke_width(
        random_affine(result[change], rng, settings), rng, settings
    )
    result[change] = np.clip(distorted, 0.0, 1.0)
    return result
