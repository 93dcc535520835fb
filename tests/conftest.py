"""Shared fixtures: real MNIST and the committed model store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keras and TensorFlow log at start-up; tests read their own output, not that.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_STORE = ROOT / "model_store" / "models"


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST from the verified cache (filled by ``python -m training.data``)."""
    from training.data import load_mnist

    return load_mnist()
