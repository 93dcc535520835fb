"""The training entry point, its augmentation, and what it publishes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_store import current_name, load_current
from tests.conftest import ROOT
from training.augment import AugmentSettings, augment
from training.train import settings_for

RECORD_KEYS = {
    "name", "arch", "architecture", "parameters", "summary", "settings", "history",
    "test_accuracy", "per_class_accuracy", "confusion_matrix", "data_sha256",
    "versions", "created", "training_seconds", "file_sha256", "training_images",
    "feedback_examples",
}  # fmt: skip


def run_training(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_shows_the_defaults():
    result = run_training("--help")
    assert result.returncode == 0
    assert "{mlp,seed}" in result.stdout and "(default: mlp)" in result.stdout
    assert "--dry-run" in result.stdout and "--feedback" in result.stdout


def test_bad_arguments_are_refused_with_a_message():
    result = run_training("--epochs", "0")
    assert result.returncode == 2
    assert "--epochs must be at least 1" in result.stderr
    result = run_training("--feedback-weight", "0.5")
    assert result.returncode == 2
    assert "--feedback-weight must be at least 1" in result.stderr


@pytest.mark.parametrize("arch", ["seed", "mlp"])
def test_dry_run_publishes_a_loadable_model_and_complete_record(arch, tmp_path):
    result = run_training("--arch", arch, "--dry-run", "--store", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 1/1" in result.stderr and "test accuracy" in result.stderr
    stored = load_current(tmp_path)
    assert stored.name == current_name(tmp_path)
    assert stored.name.startswith(f"{arch}-") and stored.name.endswith("-dry-run")
    record = stored.record
    assert RECORD_KEYS <= set(record)
    assert record["parameters"] == stored.model.count_params()
    assert np.array(record["confusion_matrix"]).sum() == 500
    assert len(record["per_class_accuracy"]) == 10
    assert set(record["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 1 for values in record["history"].values())
    assert record["settings"]["arch"] == arch and record["settings"]["dry_run"]
    if arch == "seed":
        assert record["parameters"] == 7_960


def test_a_dry_run_without_store_leaves_the_apps_models_alone():
    from tests.conftest import COMMITTED_STORE

    before = sorted(path.name for path in COMMITTED_STORE.iterdir())
    pointer = (COMMITTED_STORE / "current").read_text()
    result = run_training("--arch", "seed", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in COMMITTED_STORE.iterdir()) == before
    assert (COMMITTED_STORE / "current").read_text() == pointer
    folder = re.search(
        r"dry run: publishing into (\S+), not the app's store", result.stderr
    )
    assert folder, result.stderr[-2000:]
    assert load_current(Path(folder.group(1))).name.endswith("-dry-run")
    shutil.rmtree(folder.group(1))


def test_seed_settings_are_the_lessons_recipe():
    settings = settings_for("seed")
    assert (settings.epochs, settings.batch_size, settings.augment) == (10, 32, False)
    assert settings_for("seed", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="unknown arch 'cnn'"):
        settings_for("cnn")


def test_augmentation_keeps_range_shape_and_some_originals(mnist):
    (x_train, _), _ = mnist
    images = x_train[:2000].astype(np.float32) / 255.0
    settings = AugmentSettings()
    distorted = augment(images, np.random.default_rng(0), settings)
    assert distorted.shape == images.shape and distorted.dtype == np.float32
    assert distorted.min() >= 0.0 and distorted.max() <= 1.0
    unchanged = np.all(distorted == images, axis=(1, 2)).mean()
    assert unchanged == pytest.approx(settings.untouched_fraction, abs=0.04)
    # Distortions move ink around but keep most of it on the field.
    kept = distorted.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert 0.7 < np.median(kept) < 1.3
    again = augment(images, np.random.default_rng(0), settings)
    np.testing.assert_array_equal(distorted, again)
