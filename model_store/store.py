"""Reading and atomically publishing models in a store directory."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

STORE_ENV = "DIGIT_MODEL_STORE"
CURRENT_FILE = "current"
MODEL_SUFFIX = ".keras"
RECORD_SUFFIX = ".json"
# Names become file names: keep them to a safe alphabet so no name can reach outside
# the store directory.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TEMP_PREFIX = ".tmp-"
# Layers whose arrays alone say what they compute (Dropout does nothing when
# predicting), and the activations a reader of those arrays knows: a model made only
# of these can be served from its arrays, without importing Keras at all.
ARRAY_LAYERS = frozenset({"InputLayer", "Dense", "Dropout"})
ARRAY_ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "tanh", "softmax"})
# A temporary file this old belongs to a publish that was killed, not one under way
# (a publish takes well under a second), so the next publish removes it.
STALE_TEMP_S = 3600


class ModelStoreError(RuntimeError):
    """A model or record is missing, damaged or foreign; the message names the file."""


@dataclass(frozen=True)
class StoredModel:
    name: str
    path: Path
    record: dict[str, Any]
    # keras.Model, typed loosely so importing the store does not load Keras; None when
    # the model was read as arrays (see `dense`).
    model: Any
    # Files that were skipped on the way to this model, each with the reason.
    skipped: tuple[str, ...] = field(default=())
    # (kernel, bias, activation) per Dense layer in float64, when read as arrays.
    dense: tuple | None = None


def default_store() -> Path:
    override = os.environ.get(STORE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "models"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise ModelStoreError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'"
        )
    return name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_directory(directory: Path) -> None:
    # Renames are durable only once the directory entry itself reaches the disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(target: Path, data: bytes) -> None:
    """Writes to a temporary name in the same directory, flushes, then renames."""
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=TEMP_PREFIX, suffix=target.suffix, delete=False
    ) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, target)


def remove_stale_temporaries(store: Path) -> None:
    cutoff = time.time() - STALE_TEMP_S
    for path in store.glob(f"{TEMP_PREFIX}*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("removed %s, left by a publish that did not finish", path)
        except OSError as error:
            log.warning("could not remove %s: %s", path, error)


def current_name(store: Path | None = None) -> str:
    store = Path(store) if store is not None else default_store()
    pointer = store / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ModelStoreError(f"cannot read {pointer}: {error.strerror}") from error
    try:
        return check_name(name)
    except ModelStoreError as error:
        raise ModelStoreError(f"{pointer} does not name a model: {error}") from error


def read_record(name: str, store: Path | None = None) -> dict[str, Any]:
    store = Path(store) if store is not None else default_store()
    path = store / f"{check_name(name)}{RECORD_SUFFIX}"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelStoreError(f"cannot read record {path}: {error.strerror}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelStoreError(f"record {path} is not valid JSON: {error}") from error
    if not isinstance(record, dict):
        raise ModelStoreError(f"record {path} is not a JSON object")
    return record


def list_records(store: Path | None = None) -> list[dict[str, Any]]:
    """The readable records in the store, oldest first; damaged ones are skipped."""
    store = Path(store) if store is not None else default_store()
    records = []
    for path in sorted(store.glob(f"*{RECORD_SUFFIX}")):
        if path.name.startswith(TEMP_PREFIX):
            continue
        try:
            records.append(read_record(path.stem, store))
        except ModelStoreError as error:
            log.warning("skipping %s", error)
    return sorted(records, key=lambda record: record.get("created", ""))


def read_dense_layers(path: Path) -> tuple | None:
    """The Dense layers of a ``.keras`` file as arrays, or None if it has other layers.

    A ``.keras`` file is a zip of ``config.json`` (the layers) and ``model.weights.h5``
    (their arrays). Only that data is read, never code, so this is as safe as Keras'
    safe mode, and it takes a third of a second where importing Keras takes seconds.
    """
    import h5py  # Installed with Keras; imported here like Keras itself.

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights_file = io.BytesIO(archive.read("model.weights.h5"))
        layers = config["config"]["layers"]
        if config.get("class_name") != "Sequential" or any(
            layer.get("class_name") not in ARRAY_LAYERS
            or layer["config"].get("activation", "linear") not in ARRAY_ACTIVATIONS
            for layer in layers
        ):
            return None
        dense = []
        with h5py.File(weights_file, "r") as weights:
            for index, layer in enumerate(
                layer for layer in layers if layer["class_name"] == "Dense"
            ):
                settings = layer["config"]
                # Keras files a Sequential model's layers by class and order, not by
                # their names: the first Dense under "dense", then "dense_1", ...
                group = "dense" if index == 0 else f"dense_{index}"
                variables = weights["layers"][group]["vars"]
                kernel = np.asarray(variables["0"], dtype=np.float64)
                if settings.get("use_bias", True):
                    bias = np.asarray(variables["1"], dtype=np.float64)
                else:
                    bias = np.zeros(kernel.shape[1])
                dense.append((kernel, bias, settings.get("activation", "linear")))
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as error:
        raise ModelStoreError(
            f"cannot read model file {path}: {type(error).__name__}: {error}"
        ) from error
    for (kernel, bias, _), following in zip(dense, [*dense[1:], None], strict=True):
        fits = kernel.ndim == 2 and bias.shape == (kernel.shape[1],)
        if not fits or (following is not None and following[0].shape[0] != len(bias)):
            raise ModelStoreError(f"model file {path} has layers that do not fit")
    return tuple(dense) if dense else None


def load(name: str, store: Path | None = None, *, arrays: bool = False) -> StoredModel:
    """Loads one model after checking it against its record.

    With ``arrays``, a model made only of Dense layers comes back as their arrays
    (`StoredModel.dense`, no Keras model); any other model, and every model without
    ``arrays``, is loaded by Keras in safe mode.
    """
    store = Path(store) if store is not None else default_store()
    record = read_record(name, store)
    path = store / f"{name}{MODEL_SUFFIX}"
    if not path.is_file():
        what = "a folder" if path.is_dir() else "missing"
        raise ModelStoreError(f"model file {path} is {what}")
    expected = record.get("file_sha256")
    if expected and file_sha256(path) != expected:
        raise ModelStoreError(
            f"model file {path} does not match its record (damaged or replaced)"
        )
    if arrays:
        dense = read_dense_layers(path)
        if dense is not None:
            return StoredModel(
                name=name, path=path, record=record, model=None, dense=dense
            )
    import keras  # Loading Keras takes seconds: only when a model is really read.

    try:
        # Safe mode refuses files that would run arbitrary code (Lambda layers and
        # pickled objects), so a model from elsewhere cannot execute anything here.
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a bad file.
        raise ModelStoreError(
            f"cannot load model file {path}: {type(error).__name__}: {error}"
        ) from error
    return StoredModel(name=name, path=path, record=record, model=model)


def load_current(
    store: Path | None = None, *, fallback: bool = True, arrays: bool = False
) -> StoredModel:
    """Loads the model ``current`` names.

    With ``fallback``, a missing or damaged current model is logged and the newest
    model that loads is served instead; `StoredModel.skipped` says what was passed
    over. Without any loadable model, the error names every file tried.
    """
    store = Path(store) if store is not None else default_store()
    problems: list[str] = []
    tried: set[str] = set()
    try:
        name = current_name(store)
        tried.add(name)
        return load(name, store, arrays=arrays)
    except ModelStoreError as error:
        if not fallback:
            raise
        problems.append(str(error))
        log.error("current model unusable: %s", error)

    for record in reversed(list_records(store)):
        candidate = record.get("name")
        if not isinstance(candidate, str) or candidate in tried:
            continue
        try:
            stored = load(candidate, store, arrays=arrays)
        except ModelStoreError as error:
            problems.append(str(error))
            continue
        log.warning("serving %s instead of the current model", candidate)
        return replace(stored, skipped=tuple(problems))
    raise ModelStoreError("no loadable model in store:\n" + "\n".join(problems))


def publish(
    model: Any,
    record: dict[str, Any],
    name: str,
    store: Path | None = None,
    *,
    make_current: bool = True,
) -> Path:
    """Writes ``NAME.keras`` and ``NAME.json``, then points ``current`` at them.

    Each file is written under a temporary name in the store directory, flushed and
    renamed, and the pointer moves last. A process killed at any moment therefore
    leaves the previous model served, and at worst a stray ``.tmp-*`` file that no
    reader opens.
    """
    store = Path(store) if store is not None else default_store()
    check_name(name)
    store.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(store)
    model_path = store / f"{name}{MODEL_SUFFIX}"
    if model_path.exists():
        # A published file is never rewritten: the app may be reading it right now.
        raise ModelStoreError(f"{model_path} exists already; choose another name")

    handle, temp_name = tempfile.mkstemp(
        dir=store, prefix=TEMP_PREFIX, suffix=MODEL_SUFFIX
    )
    os.close(handle)
    temp_model = Path(temp_name)
    try:
        model.save(temp_model)
        with open(temp_model, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temp_model, 0o644)
        full_record = {**record, "name": name, "file_sha256": file_sha256(temp_model)}
        os.replace(temp_model, model_path)
    finally:
        temp_model.unlink(missing_ok=True)

    text = json.dumps(full_record, indent=2, sort_keys=False) + "\n"
    write_atomically(store / f"{name}{RECORD_SUFFIX}", text.encode("utf-8"))
    if make_current:
        write_atomically(store / CURRENT_FILE, f"{name}\n".encode())
    fsync_directory(store)
    log.info("published %s to %s%s", name, store, " as current" if make_current else "")
    return model_path
