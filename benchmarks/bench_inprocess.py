"""Preprocessing plus prediction of one 800x800 drawing, in process: ours against the
ways Keras offers to run the same model, measured in one run.

Run from the repository root:

    python benchmarks/bench_inprocess.py [--runs 300] [--predict-runs 40]

The drawing is the value Gradio's Sketchpad sends (white RGBA background, one
transparent layer with black ink, the composite). The cases run in turn, one call of
each per round, so a busy machine slows them all alike; p50 and p99 are in
milliseconds. "ours" is `mnist_format.to_mnist` plus `ServedModel.probabilities` (the
numpy forward pass of app.ModelHolder's current model); "+ steps" adds the teaching
view's step images, which `app.classify` asks for. The Keras rows preprocess the same
way and then call the model through Keras. ``model.predict`` is slow enough that it
runs only in the first ``--predict-runs`` rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_preprocess import sketchpad_value

import app
from mnist_format import to_mnist
from model_store import load
from teaching import forward

GOAL_P50_MS = 2.0


def cases(value: dict, holder: app.ModelHolder) -> dict:
    served = holder.current()
    model = load(served.name, holder.store).model  # Keras, for the comparison.
    vector = to_mnist(value).vector
    return {
        "ours: to_mnist + numpy": lambda: served.probabilities(to_mnist(value).vector),
        "ours + steps (app.classify)": lambda: served.probabilities(
            to_mnist(value, with_steps=True).vector
        ),
        "ours, whole app.classify": lambda: app.classify(value, "current", holder),
        "to_mnist + model.predict": lambda: model.predict(
            to_mnist(value).vector, verbose=0
        ),
        "to_mnist + model(x)": lambda: np.asarray(
            model(to_mnist(value).vector, training=False)
        ),
        "to_mnist + predict_on_batch": lambda: model.predict_on_batch(
            to_mnist(value).vector
        ),
        "to_mnist alone": lambda: to_mnist(value),
        "to_mnist + steps alone": lambda: to_mnist(value, with_steps=True),
        "numpy forward alone": lambda: forward(served.weights, vector),
        "predict_on_batch alone": lambda: model.predict_on_batch(vector),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="rounds of timed calls")
    parser.add_argument(
        "--predict-runs", type=int, default=40, help="rounds that include predict"
    )
    args = parser.parse_args()

    holder = app.ModelHolder()
    served = holder.current()
    value = sketchpad_value()
    timed = cases(value, holder)
    slow = {"to_mnist + model.predict"}
    for function in timed.values():  # Warm-up: Keras traces its functions once.
        for _ in range(3):
            function()

    times: dict[str, list[float]] = {name: [] for name in timed}
    for round_index in range(args.runs):
        for name, function in timed.items():
            if name in slow and round_index >= args.predict_runs:
                continue
            start = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - start) * 1e3)

    reference = statistics.median(times["ours: to_mnist + numpy"])
    print(
        f"model {served.name}; 800x800 Sketchpad dict; {args.runs} rounds "
        f"({args.predict_runs} for model.predict); {os.cpu_count()} cores"
    )
    print(f"{'case':<30}{'p50 ms':>9}{'p99 ms':>9}{'x ours':>8}")
    for name, values in times.items():
        p50 = statistics.median(values)
        p99 = statistics.quantiles(values, n=100)[98]
        print(f"{name:<30}{p50:>9.3f}{p99:>9.3f}{p50 / reference:>8.1f}")
    print(f"goal: ours p50 <= {GOAL_P50_MS} ms")


if __name__ == "__main__":
    main()
