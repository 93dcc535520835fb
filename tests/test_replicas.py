"""Past one machine: two copies of the app over one model store agree.

The app keeps no state two replicas could disagree on, so it scales out behind a load
balancer; this runs two real app processes on two ports over one store, publishes a
new model into it, and checks that both serve it.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from PIL import Image

import app
from model_store import load, publish
from tests.serving import copy_store, running_app

NEW_MODEL = "replicated-seed"


def example(digit: int) -> str:
    return next(path for path in app.example_paths() if path.endswith(f"-{digit}.png"))


def probabilities(client, path: str) -> np.ndarray:
    from gradio_client import handle_file

    result = client.predict(handle_file(path), api_name="/probabilities")
    return np.array([result[str(digit)] for digit in range(app.NUM_CLASSES)])


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two app processes on two ports, both over one copy of the committed store."""
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("replicas")
    store = copy_store(folder / "store")
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(running_app(store, folder)) for _ in range(2)]
        clients = [Client(replica.url, verbose=False) for replica in running]
        yield store, running, clients


def test_replicas_listen_on_two_ports(replicas):
    _, running, _ = replicas
    assert running[0].url != running[1].url


def test_both_replicas_serve_a_model_published_into_the_shared_store(replicas):
    store, _, clients = replicas
    path = example(6)
    before = [probabilities(client, path) for client in clients]
    np.testing.assert_allclose(before[0], before[1], atol=1e-5)

    seed_name = next(model.stem for model in store.glob("seed-*.keras"))
    seed = load(seed_name, store)
    publish(seed.model, {**seed.record, "name": None}, NEW_MODEL, store)

    digit = app.mnist_format.to_mnist(Image.open(path))
    expected = seed.model.predict(digit.vector, verbose=0)[0]
    for client in clients:
        after = probabilities(client, path)
        np.testing.assert_allclose(after, expected, atol=1e-5)
        assert not np.allclose(after, before[0], atol=1e-3)
