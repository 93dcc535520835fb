"""Training time and accuracy: the lesson's seed recipe as a plain ``fit`` against
``training.train``, alternating in one run; the default model from its record.

Run from the repository root (MNIST from the verified cache, ``python -m
training.data``):

    python benchmarks/bench_training.py [--repeats 1] [--retrain-mlp]

"plain fit" is the 10-line lesson exactly: Dense 10 sigmoid, Dense 10 softmax, SGD
with Keras defaults, batch 32, 10 epochs, ``steps_per_execution=1``, on all 60,000
training images. "training.train" is the same network and recipe as the app trains
it (``python -m training --arch seed``): 55,000 images with 5,000 held out for the
validation curves, and ``steps_per_execution`` batches per call into TensorFlow.
Both are silent (no progress bar) and seeded alike; wall time is ``fit`` alone. The
default ``mlp`` takes minutes, so its figures come from its committed record unless
``--retrain-mlp`` is given.
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

import numpy as np

from model_store import list_records
from training.data import load_mnist
from training.train import PIXEL_COUNT, flatten, one_hot, settings_for, train

SEED = 1
GOAL_SPEED_UP = 2.0


def plain_fit(mnist) -> tuple[float, float]:
    """The lesson, line for line; returns fit seconds and test accuracy."""
    import keras

    (x_train, y_train), (x_test, y_test) = mnist
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input(shape=(PIXEL_COUNT,)),
            keras.layers.Dense(10, activation="sigmoid"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"]
    )
    started = time.perf_counter()
    model.fit(flatten(x_train), one_hot(y_train), batch_size=32, epochs=10, verbose=0)
    seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(flatten(x_test), one_hot(y_test), verbose=0)
    return seconds, float(accuracy)


def ours(arch: str) -> tuple[float, float, int]:
    settings = settings_for(arch, seed=SEED)
    _, record = train(settings, progress=0)
    return (
        record["training_seconds"],
        record["test_accuracy"],
        record["settings"]["steps_per_execution"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each seed way")
    parser.add_argument(
        "--retrain-mlp", action="store_true", help="train the mlp (minutes) too"
    )
    args = parser.parse_args()

    mnist = load_mnist()
    plain, trained = [], []
    for _ in range(args.repeats):
        plain.append(plain_fit(mnist))
        trained.append(ours("seed"))

    print(
        f"seed recipe, {args.repeats} run(s) each, alternating; {os.cpu_count()} cores"
    )
    print(f"{'way':<32}{'fit s':>8}{'test acc':>10}")
    plain_s = statistics.median(t[0] for t in plain)
    ours_s = statistics.median(t[0] for t in trained)
    print(
        f"{'plain fit (lesson, spe=1)':<32}{plain_s:>8.1f}"
        f"{np.median([t[1] for t in plain]):>10.4f}"
    )
    print(
        f"{f'training.train (spe={trained[0][2]})':<32}{ours_s:>8.1f}"
        f"{np.median([t[1] for t in trained]):>10.4f}"
    )
    print(f"speed-up {plain_s / ours_s:.1f}x (goal >= {GOAL_SPEED_UP}x, same accuracy)")

    if args.retrain_mlp:
        seconds, accuracy, _ = ours("mlp")
        source = "trained now"
    else:
        record = next(r for r in reversed(list_records()) if r.get("arch") == "mlp")
        seconds, accuracy = record["training_seconds"], record["test_accuracy"]
        source = f"record {record['name']}"
    print(f"{'default mlp (' + source + ')':<32}{seconds:>8.1f}{accuracy:>10.4f}")


if __name__ == "__main__":
    main()
