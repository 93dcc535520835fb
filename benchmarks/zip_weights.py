"""A prototype for the cold start: a Dense-only model's weights read straight from
its ``.keras`` file, without importing Keras (about 3 s here).

Not run by itself; benchmarks/bench_cold_start.py times `load` and calls `check`.
A ``.keras`` file is a zip of ``config.json`` (the layers) and ``model.weights.h5``
(HDF5, one group per layer under ``layers/``). Only data is read: JSON and arrays,
never code, so it is as safe as Keras' safe mode. The app does not use this yet; see
the README, Performance.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from mnist_format import PIXEL_COUNT
from model_store import current_name, default_store

KNOWN_LAYERS = {"InputLayer", "Dense", "Dropout"}


def load(path: Path | None = None) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(kernel, bias, activation) per Dense layer, as app.ServedModel holds them."""
    import h5py

    if path is None:
        store = default_store()
        path = store / f"{current_name(store)}.keras"
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights_file = io.BytesIO(archive.read("model.weights.h5"))
    layers = config["config"]["layers"]
    kinds = {layer["class_name"] for layer in layers}
    if not kinds <= KNOWN_LAYERS:
        raise ValueError(f"layers {sorted(kinds - KNOWN_LAYERS)} need Keras")
    dense = []
    with h5py.File(weights_file, "r") as weights:
        for layer in layers:
            if layer["class_name"] != "Dense":
                continue
            variables = weights["layers"][layer["config"]["name"]]["vars"]
            kernel = np.asarray(variables["0"], dtype=np.float64)
            bias = (
                np.asarray(variables["1"], dtype=np.float64)
                if layer["config"].get("use_bias", True)
                else np.zeros(kernel.shape[1])
            )
            dense.append((kernel, bias, layer["config"]["activation"]))
    return dense


def check() -> float:
    """Largest difference between this and Keras' model on 100 MNIST-like inputs."""
    from model_store import load_current
    from teaching import forward

    stored = load_current()
    inputs = np.random.default_rng(0).random((100, PIXEL_COUNT), dtype=np.float32)
    ours = forward(load(stored.path), inputs)
    theirs = stored.model.predict_on_batch(inputs)
    return float(np.abs(ours - theirs).max())
