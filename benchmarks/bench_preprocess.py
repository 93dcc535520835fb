"""Time `mnist_format.to_mnist` on an 800x800 canvas against a plain numpy/PIL version.

Run from the repository root:

    python benchmarks/bench_preprocess.py [--runs 500]

Prints p50 and p99 in milliseconds for three inputs: the value Gradio 6's Sketchpad
sends (a dict of three 800x800 RGBA images, see shared/SKETCHPAD.md), the bare RGBA
composite, and an opaque RGB canvas. The plain version converts to grey, inverts, crops
to the bounding box, resizes to 20 px with PIL and shifts by the mass centre; it does no
stroke-width normalisation, so it bounds what the extra work costs. The preprocessing
budget is 1.5 ms at p50 (2 ms with the prediction).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_format import BOX_SIDE, FULL_SCALE, IMAGE_SIDE, to_mnist

CANVAS_SIDE = 800
PEN_WIDTH = 25
# A "2" drawn across the middle of the canvas, in canvas pixels.
STROKE = [(250, 250), (400, 180), (550, 260), (400, 420), (260, 600), (560, 600)]


def sketchpad_value() -> dict:
    """A value shaped like the real one: white canvas, transparent layer, composite."""
    layer = Image.new("RGBA", (CANVAS_SIDE, CANVAS_SIDE), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line(
        STROKE, fill=(0, 0, 0, FULL_SCALE), width=PEN_WIDTH, joint="curve"
    )
    background = Image.new("RGBA", layer.size, (FULL_SCALE,) * 4)
    composite = Image.alpha_composite(background, layer)
    return {
        "background": np.asarray(background),
        "layers": [np.asarray(layer)],
        "composite": np.asarray(composite),
    }


def plain_to_mnist(canvas: np.ndarray) -> np.ndarray:
    """The straightforward recipe, written plainly, for comparison."""
    grey = ImageOps.invert(Image.fromarray(canvas).convert("L"))
    box = grey.getbbox()
    if box is None:
        return np.zeros((1, IMAGE_SIDE * IMAGE_SIDE), dtype=np.float32)
    cropped = grey.crop(box)
    scale = BOX_SIDE / max(cropped.size)
    size = tuple(max(1, round(side * scale)) for side in cropped.size)
    digit = np.asarray(cropped.resize(size, Image.Resampling.LANCZOS), np.float32)
    digit /= FULL_SCALE
    rows, cols = np.indices(digit.shape)
    total = digit.sum()
    top = round(IMAGE_SIDE / 2 - (rows * digit).sum() / total)
    left = round(IMAGE_SIDE / 2 - (cols * digit).sum() / total)
    top = min(max(top, 0), IMAGE_SIDE - digit.shape[0])
    left = min(max(left, 0), IMAGE_SIDE - digit.shape[1])
    field = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return field.reshape(1, -1)


def percentiles(function: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p99 of ``runs`` calls, in milliseconds, after a few warm-up calls."""
    for _ in range(5):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="timed calls per case")
    args = parser.parse_args()

    value = sketchpad_value()
    composite = value["composite"]
    cases = {
        "Sketchpad dict": (value, composite),
        "RGBA array": (composite, composite),
        "RGB array": (np.ascontiguousarray(composite[:, :, :3]),) * 2,
    }
    print(f"{CANVAS_SIDE}x{CANVAS_SIDE} canvas, {PEN_WIDTH} px pen, {args.runs} runs")
    print(f"{'input':<16}{'ours p50':>10}{'p99':>8}", end="")
    print(f"{'plain p50':>11}{'p99':>8}{'ratio':>7}")
    for name, (ours_input, plain_input) in cases.items():
        ours = percentiles(partial(to_mnist, ours_input), args.runs)
        plain = percentiles(partial(plain_to_mnist, plain_input), args.runs)
        print(
            f"{name:<16}{ours[0]:>10.3f}{ours[1]:>8.3f}{plain[0]:>11.3f}{plain[1]:>8.3f}"
            f"{ours[0] / plain[0]:>7.2f}"
        )
    print("milliseconds; ratio = ours p50 / plain p50")


if __name__ == "__main__":
    main()
