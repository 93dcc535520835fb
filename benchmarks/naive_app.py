"""The baseline: the digit app as public demos write it, for the benchmarks to beat.

Run from the repository root (``PORT`` chooses the port, 7861 by default):

    PORT=7861 python benchmarks/naive_app.py

A `gr.Interface` with ``live=True``: the whole Sketchpad composite is greyed, resized
to 28x28, inverted and divided by 255, and each request calls ``model.predict``. It
serves the same committed default model as the app (``model_store.load_current()``)
and keeps every Gradio default, so one event runs at a time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model_store import load_current

IMAGE_SIDE = 28
FULL_SCALE = 255

model = load_current().model


def recognise(drawing):
    if drawing is None or drawing.get("composite") is None:
        return {}
    grey = Image.fromarray(drawing["composite"]).convert("L")
    small = ImageOps.invert(grey.resize((IMAGE_SIDE, IMAGE_SIDE)))
    pixels = np.asarray(small, dtype=np.float32).reshape(1, -1) / FULL_SCALE
    probabilities = model.predict(pixels)[0]
    return {str(digit): float(p) for digit, p in enumerate(probabilities)}


demo = gr.Interface(recognise, gr.Sketchpad(), gr.Label(num_top_classes=10), live=True)

if __name__ == "__main__":
    demo.launch(
        server_name="127.0.0.1", server_port=int(os.environ.get("PORT", "7861"))
    )
