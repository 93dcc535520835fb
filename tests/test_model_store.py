"""The model store: atomic publishing, safe loading, and the committed models."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from model_store import (
    CURRENT_FILE,
    ModelStoreError,
    current_name,
    list_records,
    load,
    load_current,
    publish,
    read_record,
)
from model_store.store import file_sha256
from tests.conftest import COMMITTED_STORE, ROOT
from training.train import build_model, settings_for


@pytest.fixture(scope="module")
def seed_model():
    return build_model(settings_for("seed"))


def test_publish_then_load_gives_the_same_weights(tmp_path, seed_model):
    publish(seed_model, {"created": "2026-01-01T00:00:00+00:00"}, "first", tmp_path)
    assert current_name(tmp_path) == "first"
    stored = load_current(tmp_path)
    assert stored.name == "first" and stored.skipped == ()
    assert stored.record["file_sha256"] == file_sha256(tmp_path / "first.keras")
    for saved, original in zip(
        stored.model.get_weights(), seed_model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(saved, original)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "current",
        "first.json",
        "first.keras",
    ]


def test_a_published_name_is_never_overwritten(tmp_path, seed_model):
    publish(seed_model, {}, "taken", tmp_path)
    with pytest.raises(ModelStoreError, match=r"taken\.keras exists already"):
        publish(seed_model, {}, "taken", tmp_path)


def test_names_cannot_leave_the_store(tmp_path, seed_model):
    for name in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ModelStoreError, match="invalid model name"):
            publish(seed_model, {}, name, tmp_path)


CRASH_BEFORE_POINTER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from model_store import store
    from training.train import build_model, settings_for

    real_write = store.write_atomically

    def dying_write(target, data):
        if target.name == store.CURRENT_FILE:
            os._exit(9)  # The process dies the way a kill would: no cleanup runs.
        real_write(target, data)

    store.write_atomically = dying_write
    store.publish(build_model(settings_for("seed")), {{}}, "second", {store!r})
    """
)


def test_crash_before_the_pointer_moves_keeps_the_old_model(tmp_path, seed_model):
    publish(seed_model, {"created": "2026-01-01T00:00:00+00:00"}, "first", tmp_path)
    script = CRASH_BEFORE_POINTER.format(root=str(ROOT), store=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    assert (tmp_path / "second.keras").is_file()
    assert current_name(tmp_path) == "first"
    assert load_current(tmp_path).name == "first"


def test_truncated_model_file_is_named(tmp_path, seed_model):
    path = publish(seed_model, {}, "cut", tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(
        ModelStoreError, match=re.escape(f"model file {path} does not match")
    ):
        load("cut", tmp_path)


def test_garbage_without_checksum_is_named(tmp_path, seed_model):
    path = publish(seed_model, {}, "junk", tmp_path)
    record = read_record("junk", tmp_path)
    del record["file_sha256"]
    (tmp_path / "junk.json").write_text(json.dumps(record))
    path.write_bytes(b"not a keras archive at all")
    with pytest.raises(
        ModelStoreError, match=re.escape(f"cannot load model file {path}")
    ):
        load("junk", tmp_path)


def test_missing_folder_and_bad_record_are_named(tmp_path, seed_model):
    path = publish(seed_model, {}, "gone", tmp_path)
    path.unlink()
    with pytest.raises(
        ModelStoreError, match=re.escape(f"model file {path} is missing")
    ):
        load("gone", tmp_path)
    path.mkdir()
    with pytest.raises(
        ModelStoreError, match=re.escape(f"model file {path} is a folder")
    ):
        load("gone", tmp_path)
    (tmp_path / "gone.json").write_text("{broken")
    with pytest.raises(ModelStoreError, match=r"gone\.json is not valid JSON"):
        read_record("gone", tmp_path)
    (tmp_path / CURRENT_FILE).unlink()
    with pytest.raises(
        ModelStoreError, match=re.escape(f"cannot read {tmp_path / 'current'}")
    ):
        current_name(tmp_path)


def test_foreign_model_with_code_is_refused(tmp_path):
    import keras

    inputs = keras.Input(shape=(784,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    (tmp_path / "lambda.json").write_text(json.dumps({"name": "lambda"}))
    with pytest.raises(ModelStoreError, match=r"lambda\.keras: ValueError.*Lambda"):
        load("lambda", tmp_path)


def test_damaged_current_falls_back_to_newest_good_model(tmp_path, seed_model):
    publish(seed_model, {"created": "2026-01-01T00:00:00+00:00"}, "old", tmp_path)
    publish(seed_model, {"created": "2026-02-01T00:00:00+00:00"}, "newer", tmp_path)
    broken = publish(
        seed_model, {"created": "2026-03-01T00:00:00+00:00"}, "bad", tmp_path
    )
    broken.write_bytes(b"garbage")
    stored = load_current(tmp_path)
    assert stored.name == "newer"
    assert len(stored.skipped) == 1 and str(broken) in stored.skipped[0]
    with pytest.raises(ModelStoreError, match=re.escape(str(broken))):
        load_current(tmp_path, fallback=False)


def test_no_loadable_model_lists_every_problem(tmp_path, seed_model):
    only = publish(seed_model, {}, "only", tmp_path)
    only.write_bytes(b"garbage")
    with pytest.raises(ModelStoreError, match="no loadable model in store"):
        load_current(tmp_path)


# The committed store: what a fresh clone serves without any training.


def committed_records():
    return {record["name"]: record for record in list_records(COMMITTED_STORE)}


def test_committed_store_has_both_models_and_serves_the_default():
    records = committed_records()
    arches = sorted(record["arch"] for record in records.values())
    assert arches == ["mlp", "seed"]
    assert records[current_name(COMMITTED_STORE)]["arch"] == "mlp"


def test_committed_seed_is_the_lessons_network():
    (seed,) = [r for r in committed_records().values() if r["arch"] == "seed"]
    assert seed["parameters"] == 7_960
    assert "7,960" in seed["summary"]
    assert [layer.get("units") for layer in seed["architecture"]] == [10, 10]
    assert [layer.get("activation") for layer in seed["architecture"]] == [
        "sigmoid",
        "softmax",
    ]
    assert seed["settings"]["batch_size"] == 32 and seed["settings"]["epochs"] == 10
    assert 0.87 <= seed["test_accuracy"] <= 0.92


@pytest.mark.parametrize("arch", ["seed", "mlp"])
def test_committed_record_agrees_with_its_file(arch, mnist):
    (record,) = [r for r in committed_records().values() if r["arch"] == arch]
    stored = load(record["name"], COMMITTED_STORE)
    assert stored.model.count_params() == record["parameters"]
    (_, _), (x_test, y_test) = mnist
    inputs = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0
    predicted = stored.model.predict(inputs, batch_size=2048, verbose=0).argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-4)
    confusion = np.array(record["confusion_matrix"])
    assert confusion.sum() == 10_000
    assert confusion.trace() / 10_000 == pytest.approx(accuracy, abs=1e-4)
    assert len(record["history"]["val_accuracy"]) == record["settings"]["epochs"]
    if arch == "mlp":
        assert accuracy >= 0.985


def test_publish_removes_temporaries_left_by_killed_publishes(tmp_path, seed_model):
    import os
    import time

    from model_store.store import STALE_TEMP_S

    stale = tmp_path / ".tmp-killed.keras"
    stale.write_bytes(b"half a model")
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    fresh = tmp_path / ".tmp-under-way.keras"
    fresh.write_bytes(b"being written right now")
    publish(seed_model, {}, "after", tmp_path)
    assert not stale.exists()
    assert fresh.exists()


def test_dense_models_are_read_as_arrays_whatever_their_layer_names(tmp_path):
    build_model(settings_for("mlp"))  # Makes the next model's layers dense_3, ...
    model = build_model(settings_for("mlp"))
    assert model.layers[0].name != "dense"
    publish(model, {}, "renamed", tmp_path)
    stored = load("renamed", tmp_path, arrays=True)
    assert stored.model is None and len(stored.dense) == 3
    expected = model.get_weights()
    for (kernel, bias, _), (want_kernel, want_bias) in zip(
        stored.dense, zip(expected[::2], expected[1::2], strict=True), strict=True
    ):
        np.testing.assert_array_equal(kernel, want_kernel)
        np.testing.assert_array_equal(bias, want_bias)
    assert [layer[2] for layer in stored.dense] == ["relu", "relu", "softmax"]


def test_other_layers_are_left_to_keras(tmp_path):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(8),
            keras.layers.LayerNormalization(),
        ]
    )
    publish(model, {}, "normalised", tmp_path)
    stored = load("normalised", tmp_path, arrays=True)
    assert stored.dense is None and stored.model is not None
