"""The corrections store, its npz export, and mixing the export into training."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from feedback import (
    DATA_ENV,
    DATABASE_FILE,
    ORIGINAL_MAX_SIDE,
    PIXEL_MAX,
    FeedbackError,
    FeedbackStore,
    default_data_dir,
)
from model_store import load_current
from model_store.store import file_sha256
from tests.conftest import ROOT
from training.data import IMAGE_SIDE
from training.feedback import mix_in_feedback

PIXEL_STEP = 1 / PIXEL_MAX


def digit_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(
        (IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32
    )


@pytest.fixture
def store(tmp_path):
    return FeedbackStore(tmp_path / DATABASE_FILE)


def test_a_saved_correction_reads_back_exactly(store):
    image = digit_image()
    before = datetime.now(UTC).replace(microsecond=0)
    identifier = store.save(image, 7, 1, "seed-test", session="class-3b")
    after = datetime.now(UTC)

    assert store.count() == 1
    [correction] = store.recent()
    assert correction.id == identifier
    assert correction.image.shape == (IMAGE_SIDE, IMAGE_SIDE)
    assert correction.image.dtype == np.float32
    np.testing.assert_allclose(correction.image, image, atol=PIXEL_STEP / 2 + 1e-7)
    assert (correction.label, correction.predicted) == (7, 1)
    assert (correction.model_name, correction.session) == ("seed-test", "class-3b")
    assert correction.original_png is None
    created = datetime.fromisoformat(correction.created)
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= after


def test_unknown_answer_and_session_are_kept_as_none(store):
    store.save(np.zeros((IMAGE_SIDE, IMAGE_SIDE)), np.int64(3), None, "mlp")
    [correction] = store.recent()
    assert (correction.label, correction.predicted, correction.session) == (
        3,
        None,
        None,
    )
    assert correction.image.max() == 0.0


def test_the_drawing_is_kept_as_a_png_at_most_280_px(store):
    drawing = np.zeros((400, 600, 4), dtype=np.uint8)
    drawing[100:300, 250:280] = (0, 0, 0, 255)  # A black stroke on transparency.
    store.save(digit_image(), 1, 7, "mlp", original=drawing)
    store.save(digit_image(), 1, 7, "mlp", original=Image.new("L", (100, 50), 128))

    pil_saved, array_saved = store.recent()
    shrunk = Image.open(io.BytesIO(array_saved.original_png))
    assert shrunk.format == "PNG"
    assert shrunk.size == (ORIGINAL_MAX_SIDE, round(400 * ORIGINAL_MAX_SIDE / 600))
    assert shrunk.mode == "RGBA"
    # The stroke's middle is still opaque black; the corner still transparent.
    pixels = np.asarray(shrunk)
    assert tuple(pixels[shrunk.height // 2, round(265 * ORIGINAL_MAX_SIDE / 600)]) == (
        0,
        0,
        0,
        255,
    )
    assert pixels[0, 0, 3] == 0
    small = Image.open(io.BytesIO(pil_saved.original_png))
    assert small.size == (100, 50)  # Small drawings are kept at their own size.
    assert np.all(np.asarray(small) == 128)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"label": 10}, r"label must be a digit 0\.\.9, got 10"),
        ({"label": -1}, "label must be a digit"),
        ({"label": 3.0}, "label must be a digit"),
        ({"label": True}, "label must be a digit"),
        ({"predicted": "4"}, "predicted must be a digit"),
        ({"image": np.zeros((IMAGE_SIDE**2,))}, r"image must be 28x28.*\(784,\)"),
        ({"image": np.full((IMAGE_SIDE, IMAGE_SIDE), np.nan)}, "NaN"),
        ({"image": np.full((IMAGE_SIDE, IMAGE_SIDE), 255.0)}, r"\[0, 1\], got 255"),
        ({"model_name": ""}, "model_name must be a non-empty string"),
        ({"session": 12}, "session must be a string or None"),
        ({"original": np.zeros((5, 5, 2))}, "original must be a PIL image"),
    ],
)
def test_bad_input_is_refused_with_a_message(store, arguments, message):
    values = {"image": digit_image(), "label": 2, "predicted": 5, "model_name": "mlp"}
    values |= arguments
    session = values.pop("session", None)
    original = values.pop("original", None)
    with pytest.raises(ValueError, match=message):
        store.save(**values, session=session, original=original)
    assert store.count() == 0


def test_simultaneous_saves_from_many_threads_lose_nothing(store):
    threads, saves = 8, 25
    start = threading.Barrier(threads)
    identifiers: list[int] = []
    failures: list[BaseException] = []

    def student(number: int) -> None:
        start.wait()
        try:
            for index in range(saves):
                identifiers.append(
                    store.save(
                        digit_image(index),
                        index % 10,
                        number % 10,
                        "mlp",
                        session=f"student-{number}",
                    )
                )
        except BaseException as error:  # noqa: BLE001 - reported by the assertion.
            failures.append(error)

    workers = [threading.Thread(target=student, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert store.count() == threads * saves
    assert len(set(identifiers)) == threads * saves
    assert store.scoreboard("student-3")[3] == {
        "wrong": 3,
        "answer": 3,
        "answer_count": 3,
    }


def test_a_locked_database_says_not_saved_and_keeps_earlier_rows(tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE, timeout=0.2)
    store.save(digit_image(1), 4, 9, "mlp")
    store.save(digit_image(2), 5, 6, "mlp")
    holder = sqlite3.connect(store.path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(FeedbackError, match=r"not saved: .*locked"):
            store.save(digit_image(3), 6, 0, "mlp")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.count() == 2
    assert [c.label for c in store.recent()] == [5, 4]
    store.save(digit_image(3), 6, 0, "mlp")
    assert store.count() == 3


def test_an_unwritable_location_says_not_saved(tmp_path):
    # Tests run as root, whom permissions do not stop: a file where the directory
    # should be stops everyone.
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    store = FeedbackStore(blocker / DATABASE_FILE)
    with pytest.raises(FeedbackError, match="the correction was not saved"):
        store.save(digit_image(), 1, 2, "mlp")
    assert store.count() == 0 and store.recent() == []


def test_reading_an_unused_store_creates_nothing(tmp_path):
    store = FeedbackStore(tmp_path / "later" / DATABASE_FILE)
    assert store.count() == 0 and store.recent() == []
    assert store.scoreboard() == {digit: {"wrong": 0} for digit in range(10)}
    assert not (tmp_path / "later").exists()


def test_the_data_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert default_data_dir() == ROOT / "data"
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    assert FeedbackStore().path == tmp_path / DATABASE_FILE


def test_recent_is_newest_first_and_limited(store):
    for label in range(5):
        store.save(digit_image(label), label, None, "mlp")
    assert [c.label for c in store.recent(3)] == [4, 3, 2]
    assert store.recent(0) == []
    with pytest.raises(ValueError, match="limit"):
        store.recent(-1)


def test_scoreboard_counts_misreadings_per_digit(store):
    for label, predicted, session in [
        (4, 9, "a"), (4, 9, "b"), (4, 1, "a"), (7, 1, "a"), (7, None, "b"), (2, 7, "b"),
    ]:  # fmt: skip
        store.save(digit_image(), label, predicted, "mlp", session=session)
    board = store.scoreboard()
    assert board[4] == {"wrong": 3, "answer": 9, "answer_count": 2}
    assert board[7] == {"wrong": 2, "answer": 1, "answer_count": 1}
    assert board[0] == {"wrong": 0}
    assert sum(entry["wrong"] for entry in board.values()) == 6
    in_a = store.scoreboard("a")
    assert in_a[4] == {"wrong": 2, "answer": 1, "answer_count": 1}  # Tie: lower digit.
    assert in_a[2] == {"wrong": 0}
    assert store.scoreboard("b")[7] == {"wrong": 1}


def test_export_is_mnist_like_and_loads_without_pickle(store, tmp_path):
    images = [digit_image(seed) for seed in range(3)]
    store.save(images[0], 3, 8, "seed-a")
    store.save(images[1], 0, None, "mlp-b")
    store.save(images[2], 9, 4, "mlp-b")
    target = tmp_path / "corrections.npz"
    assert store.export_npz(target) == 3

    with np.load(target, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert arrays["x"].shape == (3, IMAGE_SIDE, IMAGE_SIDE)
    assert arrays["x"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x"][1], np.rint(images[1] * PIXEL_MAX))
    assert arrays["y"].dtype == np.uint8 and arrays["y"].tolist() == [3, 0, 9]
    assert arrays["predicted"].dtype == np.int16
    assert arrays["predicted"].tolist() == [8, -1, 4]
    assert arrays["model"].dtype.kind == "U"
    assert arrays["model"].tolist() == ["seed-a", "mlp-b", "mlp-b"]
    # Written under a temporary name and renamed: nothing else is left behind.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_empty_export_still_has_every_array(store, tmp_path):
    assert store.export_npz(tmp_path / "none.npz") == 0
    with np.load(tmp_path / "none.npz", allow_pickle=False) as npz:
        assert npz["x"].shape == (0, IMAGE_SIDE, IMAGE_SIDE)
        assert npz["y"].shape == npz["predicted"].shape == npz["model"].shape == (0,)


def write_corrections(path, labels, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    np.savez(path, x=images, y=np.array(labels, dtype=np.uint8))
    return images


def test_mixing_prepends_rounded_copies_of_each_correction(tmp_path):
    path = tmp_path / "corrections.npz"
    images = write_corrections(path, [1, 2, 3])
    x_train = np.full((10, IMAGE_SIDE, IMAGE_SIDE), 7, dtype=np.uint8)
    y_train = np.full(10, 5, dtype=np.uint8)

    x, y, count = mix_in_feedback(x_train, y_train, path, 2.4)
    assert count == 3
    assert x.shape == (16, IMAGE_SIDE, IMAGE_SIDE) and x.dtype == np.uint8
    assert y.tolist() == [1, 2, 3, 1, 2, 3] + [5] * 10
    np.testing.assert_array_equal(x[:6], np.concatenate([images, images]))
    np.testing.assert_array_equal(x[6:], x_train)  # Validation (the end) unchanged.

    x, y, count = mix_in_feedback(x_train, y_train, path, 1.0)
    assert (len(x), count) == (13, 3)
    with pytest.raises(ValueError, match="weight must be a number >= 1"):
        mix_in_feedback(x_train, y_train, path, 0.5)


def test_mixing_refuses_a_bad_file_and_names_it(tmp_path):
    x_train = np.zeros((4, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    y_train = np.zeros(4, dtype=np.uint8)
    cases = {
        "labels.npz": (
            {"x": np.zeros((2, IMAGE_SIDE, IMAGE_SIDE), np.uint8), "y": [3, 10]},
            r"labels must be 0\.\.9, found \[10\]",
        ),
        "shape.npz": (
            {"x": np.zeros((2, IMAGE_SIDE**2), np.uint8), "y": [3, 4]},
            r"'x' must be \(N, 28, 28\) uint8",
        ),
        "floats.npz": (
            {"x": np.zeros((2, IMAGE_SIDE, IMAGE_SIDE)), "y": [3, 4]},
            "uint8, got .* float64",
        ),
        "count.npz": (
            {"x": np.zeros((2, IMAGE_SIDE, IMAGE_SIDE), np.uint8), "y": [3]},
            "'y' must be 2 integer labels",
        ),
        "missing.npz": ({"images": np.zeros(3)}, "lacks the array"),
        "pickled.npz": (
            {"x": np.array([{"a": 1}], dtype=object), "y": [1]},
            "cannot be read: .*allow_pickle",
        ),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ValueError, match=message) as raised:
            mix_in_feedback(x_train, y_train, tmp_path / name)
        assert name in str(raised.value)
    (tmp_path / "text.npz").write_text("x,y\n")
    with pytest.raises(ValueError, match=r"text\.npz is not an npz"):
        mix_in_feedback(x_train, y_train, tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match=r"absent\.npz does not exist"):
        mix_in_feedback(x_train, y_train, tmp_path / "absent.npz")


def test_a_dry_run_with_feedback_records_how_many_corrections_it_used(tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    for seed in range(12):
        store.save(digit_image(seed), seed % 10, (seed + 1) % 10, "seed-test")
    exported = tmp_path / "corrections.npz"
    count = store.export_npz(exported)

    models = tmp_path / "models"
    command = [
        sys.executable, "-m", "training", "--arch", "seed", "--dry-run",
        "--store", str(models), "--feedback", str(exported), "--feedback-weight", "3",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mixed in 12 corrections" in result.stderr
    record = load_current(models).record
    assert record["feedback_examples"] == count == 12
    assert record["settings"]["feedback_path"] == str(exported)
    assert record["settings"]["feedback_weight"] == 3.0
    assert record["feedback_repeats"] == 3
    assert record["feedback_sha256"] == file_sha256(exported)
