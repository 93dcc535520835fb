"""Real handwriting through the whole path: MNIST test digits redrawn on big canvases.

Each digit is enlarged to a random size, its pen made thinner or thicker, and put at a
random place on an 800x800 or 800x600 canvas with a white, black or transparent
background. The preprocessing must recover it well enough that the shipped default
model reads these canvases almost as well as the untouched 28x28 digits.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

import mnist_format
from app import ModelHolder
from tests.conftest import COMMITTED_STORE

SAMPLE = 1000
ALLOWED_DROP = 0.02  # Accuracy on canvases may be at most 2 points below the originals.
CANVASES = ((800, 800), (800, 600))
BACKGROUNDS = ("white", "black", "transparent")


def redraw(digit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One MNIST digit as a person might have drawn it on a canvas."""
    width, height = CANVASES[rng.integers(len(CANVASES))]
    side = int(rng.integers(120, min(width, height) - 40))
    ink = Image.fromarray(digit).resize((side, side), Image.BILINEAR)
    pen = rng.choice(["thin", "as is", "thick"])
    if pen == "thin":
        ink = ink.filter(ImageFilter.MinFilter(int(rng.choice([3, 5]))))
    elif pen == "thick":
        ink = ink.filter(ImageFilter.MaxFilter(int(rng.choice([5, 9, 13]))))
    placed = Image.new("L", (width, height), 0)
    left = int(rng.integers(0, width - side))
    top = int(rng.integers(0, height - side))
    placed.paste(ink, (left, top))
    alpha = np.asarray(placed)

    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    if background == "white":
        canvas = np.repeat((255 - alpha)[..., None], 3, axis=2)
    elif background == "black":
        canvas = np.repeat(alpha[..., None], 3, axis=2)
    else:
        canvas = np.zeros((height, width, 4), np.uint8)
        canvas[..., 3] = alpha
    return canvas, background


@pytest.fixture(scope="module")
def served():
    return ModelHolder(COMMITTED_STORE).current()


def test_redrawn_test_digits_are_read_nearly_as_well_as_the_originals(served, mnist):
    _, (x_test, y_test) = mnist
    rng = np.random.default_rng(2026)
    chosen = rng.choice(len(x_test), SAMPLE, replace=False)

    originals = x_test[chosen].reshape(SAMPLE, -1).astype(np.float32) / 255.0
    original_correct = (
        np.array([served.probabilities(row[None]).argmax() for row in originals])
        == y_test[chosen]
    )

    redrawn_correct = []
    by_background: dict[str, list[bool]] = {name: [] for name in BACKGROUNDS}
    for index in chosen:
        canvas, background = redraw(x_test[index], rng)
        digit = mnist_format.to_mnist(canvas)
        assert digit is not None
        correct = served.probabilities(digit.vector).argmax() == y_test[index]
        redrawn_correct.append(correct)
        by_background[background].append(correct)

    original_accuracy = original_correct.mean()
    redrawn_accuracy = np.mean(redrawn_correct)
    assert redrawn_accuracy >= original_accuracy - ALLOWED_DROP, (
        f"originals {original_accuracy:.3f}, redrawn {redrawn_accuracy:.3f}, "
        + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in by_background.items())
    )
    # No background may be much worse than the others: the ink rule must not depend
    # on which colour the canvas is.
    for background, results in by_background.items():
        assert np.mean(results) >= original_accuracy - 2 * ALLOWED_DROP, background
