"""Data, model, training and evaluation for the two recognizers, then publishing.

``seed`` is the 10-line lesson's network unchanged. ``mlp`` is the app's default: still
a multilayer perceptron on the 784 pixels, wider, and trained on distorted copies of
MNIST (see ``training.augment``) so that it reads digits drawn with a mouse.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from training.augment import AugmentSettings, augment
from training.data import CHECKSUMS, IMAGE_SIDE, NUM_CLASSES, load_mnist

log = logging.getLogger(__name__)

PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
FULL_SCALE = 255.0
DRY_RUN_TRAIN = 2_000
DRY_RUN_TEST = 500


@dataclass(frozen=True)
class TrainSettings:
    arch: str = "mlp"
    epochs: int = 30
    batch_size: int = 128
    seed: int = 1
    # Held out from the end of the training set for the validation curves.
    validation_size: int = 5_000
    learning_rate: float | None = None  # None: the optimizer's own default.
    hidden_units: tuple[int, ...] = (512, 512)
    dropout: float = 0.2
    augment: bool = True
    # Keras runs this many batches per call into the backend, which removes most of the
    # per-step Python overhead that dominates such a small network.
    steps_per_execution: int = 50
    dry_run: bool = False
    feedback_path: str | None = None
    feedback_weight: float = 1.0


# The lesson's recipe: SGD with Keras defaults, batch 32, 10 epochs, no augmentation.
SEED_DEFAULTS = {
    "epochs": 10,
    "batch_size": 32,
    "hidden_units": (10,),
    "dropout": 0.0,
    "augment": False,
}
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {"seed": SEED_DEFAULTS, "mlp": {}}


def settings_for(arch: str, **overrides: Any) -> TrainSettings:
    """The defaults of ``arch`` with the given overrides (None means keep default)."""
    if arch not in ARCH_DEFAULTS:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCH_DEFAULTS)}")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return TrainSettings(arch=arch, **{**ARCH_DEFAULTS[arch], **chosen})


def build_model(settings: TrainSettings, steps_per_execution: int = 1):
    import keras

    if settings.arch == "seed":
        layers = [
            keras.Input(shape=(PIXEL_COUNT,)),
            keras.layers.Dense(10, activation="sigmoid"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
        optimizer = keras.optimizers.SGD()
    else:
        layers = [keras.Input(shape=(PIXEL_COUNT,))]
        for units in settings.hidden_units:
            layers.append(keras.layers.Dense(units, activation="relu"))
            if settings.dropout:
                layers.append(keras.layers.Dropout(settings.dropout))
        layers.append(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
        optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate or 1e-3)
    if settings.arch == "seed" and settings.learning_rate is not None:
        optimizer = keras.optimizers.SGD(learning_rate=settings.learning_rate)
    model = keras.Sequential(layers, name=settings.arch)
    model.compile(
        optimizer=optimizer,
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), PIXEL_COUNT).astype(np.float32) / FULL_SCALE


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def make_training_data(images: np.ndarray, labels: np.ndarray, settings: TrainSettings):
    """Plain arrays, or a dataset that draws new distortions every epoch."""
    import keras

    if not settings.augment:
        return flatten(images), one_hot(labels)

    class FreshDistortions(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(settings.seed)
            self.clean = images.astype(np.float32) / FULL_SCALE
            self.targets = one_hot(labels)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-len(self.clean) // settings.batch_size)

        def __getitem__(self, index: int):
            batch = slice(
                index * settings.batch_size, (index + 1) * settings.batch_size
            )
            return self.inputs[batch], self.targets[batch]

        def on_epoch_end(self) -> None:
            order = self.rng.permutation(len(self.clean))
            self.clean, self.targets = self.clean[order], self.targets[order]
            distorted = augment(self.clean, self.rng, AugmentSettings())
            self.inputs = distorted.reshape(len(distorted), PIXEL_COUNT)

    return FreshDistortions(), None


def evaluate(model, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    probabilities = model.predict(flatten(images), batch_size=1024, verbose=0)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "test_accuracy": float((predicted == labels).mean()),
        "per_class_accuracy": [round(float(value), 4) for value in per_class],
        "confusion_matrix": confusion.tolist(),
    }


def summary_text(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    return "\n".join(lines)


def library_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }


def epoch_logger():
    """A callback logging one line per epoch, whatever Keras' own display does."""
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            log.info(
                "epoch %d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  "
                "val_accuracy %.4f  %.1f s",
                epoch + 1,
                self.params.get("epochs", 0),
                logs.get("loss", float("nan")),
                logs.get("accuracy", float("nan")),
                logs.get("val_loss", float("nan")),
                logs.get("val_accuracy", float("nan")),
                time.perf_counter() - self.started,
            )

    return EpochLogger()


def train(
    settings: TrainSettings,
    data_path: str | None = None,
    *,
    progress: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Trains and evaluates; returns the model and its record (not yet published)."""
    import keras

    # Data.
    (x_train, y_train), (x_test, y_test) = load_mnist(data_path)
    feedback_count = 0
    if settings.feedback_path:
        from training.feedback import mix_in_feedback

        x_train, y_train, feedback_count = mix_in_feedback(
            x_train, y_train, settings.feedback_path, settings.feedback_weight
        )
    if settings.dry_run:
        x_train, y_train = x_train[:DRY_RUN_TRAIN], y_train[:DRY_RUN_TRAIN]
        x_test, y_test = x_test[:DRY_RUN_TEST], y_test[:DRY_RUN_TEST]
    validation_size = min(settings.validation_size, len(x_train) // 10)
    x_fit, y_fit = x_train[:-validation_size], y_train[:-validation_size]
    # Corrections sit at the front, each once before any repeats, so this many
    # distinct ones are in the fitted part even after a dry run's cut.
    feedback_count = min(feedback_count, len(x_fit))
    x_val, y_val = x_train[-validation_size:], y_train[-validation_size:]

    # Model.
    keras.utils.set_random_seed(settings.seed)
    steps_per_epoch = -(-len(x_fit) // settings.batch_size)
    model = build_model(settings, min(settings.steps_per_execution, steps_per_epoch))
    summary = summary_text(model)
    log.info("%s", summary)

    # Train.
    inputs, targets = make_training_data(x_fit, y_fit, settings)
    epochs = 1 if settings.dry_run else settings.epochs
    started = time.perf_counter()
    history = model.fit(
        inputs,
        targets,
        batch_size=None if targets is None else settings.batch_size,
        epochs=epochs,
        validation_data=(flatten(x_val), one_hot(y_val)),
        callbacks=[epoch_logger()],
        # Keras' progress bar on a terminal; elsewhere the epoch log lines suffice.
        verbose=progress if progress is not None else int(sys.stdout.isatty()),
    )
    training_seconds = time.perf_counter() - started

    # Evaluate.
    results = evaluate(model, x_test, y_test)
    log.info(
        "test accuracy %.4f after %.1f s of training",
        results["test_accuracy"],
        training_seconds,
    )

    record = {
        "arch": settings.arch,
        "architecture": describe_layers(model),
        "parameters": int(model.count_params()),
        "summary": summary,
        "settings": {**dataclasses.asdict(settings), "epochs": epochs},
        "history": {
            key: [round(float(value), 5) for value in values]
            for key, values in history.history.items()
        },
        **results,
        "training_images": len(x_fit),
        "feedback_examples": int(feedback_count),
        "feedback_sha256": feedback_digest(settings.feedback_path),
        "feedback_repeats": round(settings.feedback_weight) if feedback_count else 0,
        "data_sha256": CHECKSUMS,
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_seconds": round(training_seconds, 1),
    }
    return model, record


def feedback_digest(path: str | None) -> str | None:
    """The SHA-256 of the corrections file: the record names exactly what was used."""
    if not path:
        return None
    from model_store.store import file_sha256

    return file_sha256(Path(path))


def describe_layers(model) -> list[dict[str, Any]]:
    described = []
    for layer in model.layers:
        entry = {"type": type(layer).__name__, "name": layer.name}
        config = layer.get_config()
        for key in ("units", "activation", "rate"):
            if key in config:
                entry[key] = config[key]
        described.append(entry)
    return described


def model_name(settings: TrainSettings, created: str) -> str:
    stamp = datetime.fromisoformat(created).strftime("%Y%m%d-%H%M%S")
    suffix = "-dry-run" if settings.dry_run else ""
    return f"{settings.arch}-{stamp}{suffix}"


def train_and_publish(
    settings: TrainSettings,
    data_path: str | None = None,
    store: str | Path | None = None,
    *,
    name: str | None = None,
    progress: int | None = None,
) -> tuple[str, dict[str, Any]]:
    from model_store import publish

    model, record = train(settings, data_path, progress=progress)
    name = name or model_name(settings, record["created"])
    publish(model, record, name, None if store is None else Path(store))
    return name, record
