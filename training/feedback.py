"""Mixing the class's corrections into the MNIST training set.

The app stores each "that's wrong, it was N" as a correction (see the top-level
``feedback`` module), and ``python -m feedback corrections.npz`` exports them as an
MNIST-like npz: ``x`` (N, 28, 28) uint8 and ``y`` (N,) labels 0..9, plus columns that
training does not need. ``python -m training --feedback corrections.npz`` adds them to
the training images with `mix_in_feedback`.

Weighting: each correction counts as ``weight`` MNIST images, that is, it is repeated
``round(weight)`` times (so ``weight`` must be at least 1; the default 1.0 adds each
once). A few hundred corrections are lost among 55,000 MNIST images at weight 1; a
larger weight makes the network attend to the class's handwriting, at the risk of
learning those particular drawings by heart.
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from training.data import IMAGE_SIDE, NUM_CLASSES

log = logging.getLogger(__name__)

IMAGES_ARRAY = "x"
LABELS_ARRAY = "y"


def load_feedback(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads and checks an exported corrections file; returns images and labels.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for
    anything that is not an npz of (N, 28, 28) uint8 images with N labels 0..9.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feedback file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"feedback file {path} is not an npz (zip) file")
    try:
        # allow_pickle=False: a file passed around a school must not run code. NumPy
        # then refuses object arrays with a ValueError, reported like a damaged file.
        with np.load(path, allow_pickle=False) as npz:
            stored = {
                name: npz[name]
                for name in (IMAGES_ARRAY, LABELS_ARRAY)
                if name in npz.files
            }
            held = npz.files
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"feedback file {path} cannot be read: {error}") from error
    missing = [name for name in (IMAGES_ARRAY, LABELS_ARRAY) if name not in stored]
    if missing:
        raise ValueError(
            f"feedback file {path} lacks the array(s) {', '.join(missing)}; "
            f"it holds {', '.join(held) or 'nothing'}"
        )
    images, labels = stored[IMAGES_ARRAY], stored[LABELS_ARRAY]

    expected = (IMAGE_SIDE, IMAGE_SIDE)
    if images.ndim != 3 or images.shape[1:] != expected or images.dtype != np.uint8:
        raise ValueError(
            f"feedback file {path}: '{IMAGES_ARRAY}' must be (N, {IMAGE_SIDE}, "
            f"{IMAGE_SIDE}) uint8, got {images.shape} {images.dtype}"
        )
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"feedback file {path}: '{LABELS_ARRAY}' must be {len(images)} integer "
            f"labels, one per image, got {labels.shape} {labels.dtype}"
        )
    out_of_range = (labels < 0) | (labels >= NUM_CLASSES)
    if out_of_range.any():
        raise ValueError(
            f"feedback file {path}: labels must be 0..{NUM_CLASSES - 1}, found "
            f"{sorted(set(labels[out_of_range].tolist()))}"
        )
    return images, labels


def mix_in_feedback(
    x_train: np.ndarray,
    y_train: np.ndarray,
    path: str | os.PathLike,
    weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Puts ``round(weight)`` copies of each correction in front of the training set.

    Returns the new images and labels and the number of distinct corrections used.
    The copies go to the front, not the end, because training holds out the last
    images of the set for validation: the corrections must be learned from, and the
    validation images stay the same MNIST images as in a run without feedback.
    Training shuffles, so the order within the fitted part does not matter.
    """
    if not math.isfinite(weight) or weight < 1:
        raise ValueError(
            f"feedback weight must be a number >= 1 (each correction counts as that "
            f"many MNIST images), got {weight!r}"
        )
    if x_train.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or len(x_train) != len(y_train):
        raise ValueError(
            f"training arrays must be (N, {IMAGE_SIDE}, {IMAGE_SIDE}) images and N "
            f"labels, got {x_train.shape} and {y_train.shape}"
        )
    images, labels = load_feedback(path)
    count = len(images)
    if count == 0:
        log.warning("feedback file %s holds no corrections", path)
        return x_train, y_train, 0

    repeats = round(weight)
    # Whole copies one after another (a b c a b c), so that a run that keeps only the
    # first images of the set, such as a dry run, still sees every correction.
    mixed_images = np.concatenate(
        [np.tile(images.astype(x_train.dtype), (repeats, 1, 1)), x_train]
    )
    mixed_labels = np.concatenate(
        [np.tile(labels.astype(y_train.dtype), repeats), y_train]
    )
    log.info(
        "mixed in %d corrections from %s, each %d times (%d images)",
        count,
        path,
        repeats,
        count * repeats,
    )
    return mixed_images, mixed_labels, count
