"""The running app: a real browser draws on it, a real client calls its API."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

import answers
import app
from model_store import load, publish
from tests.serving import (
    answer_html,
    chromium_page,
    clear_canvas,
    copy_store,
    draw,
    running_app,
    shown_bars,
    wait_for_new_answer,
)

# Strokes in [0, 1] coordinates of the drawing surface.
ONE = [[(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)]]
SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)]]
ZERO = [
    [
        (0.5, 0.15), (0.7, 0.25), (0.75, 0.5), (0.7, 0.75), (0.5, 0.85),
        (0.3, 0.75), (0.25, 0.5), (0.3, 0.25), (0.5, 0.15),
    ]
]  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    store = copy_store(folder / "store")
    with running_app(store, folder) as running:
        running.store = store
        yield running


@pytest.fixture(scope="module")
def client(live):
    from gradio_client import Client

    return Client(live.url, verbose=False)


def example(digit: int) -> str:
    return next(path for path in app.example_paths() if path.endswith(f"-{digit}.png"))


def client_probabilities(client, path: str) -> np.ndarray:
    from gradio_client import handle_file

    result = client.predict(handle_file(path), api_name="/probabilities")
    return np.array([result[str(digit)] for digit in range(10)])


def test_drawing_in_the_browser_shows_the_digit_and_bars(live):
    with chromium_page() as page:
        page.goto(live.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        assert page.inner_text("#prediction .answer") == "Draw a digit"
        assert shown_bars(page) == []

        for strokes, digit in ((ONE, "1"), (SEVEN, "7"), (ZERO, "0")):
            page.click("#sketchpad button[aria-label='Brush']")
            before = answer_html(page)
            draw(page, strokes, app.CANVAS_SIDE)
            text = wait_for_new_answer(page, before)
            assert re.fullmatch(rf"{digit} \d+% sure", text), text
            bars = shown_bars(page)
            assert [label for label, _, _ in bars] == [str(d) for d in range(10)]
            assert [label for label, _, top in bars if top] == [digit]
            assert all(re.fullmatch(r"\d+\.\d%", value) for _, value, _ in bars)
            total = sum(float(value.rstrip("%")) for _, value, _ in bars)
            assert total == pytest.approx(100.0, abs=0.6)
            assert page.locator("#model-view img.seen").count() == 1

            assert ["Draw a digit", 0] in clear_canvas(page)


def test_client_gets_the_same_probabilities_as_the_function(client):
    holder = app.ModelHolder(None)
    for digit in (2, 5, 8):
        over_http = client_probabilities(client, example(digit))
        assert int(over_http.argmax()) == digit
        direct = app.predict_digit(Image.open(example(digit)), holder)
        np.testing.assert_allclose(over_http, direct, atol=1e-6)


def test_client_page_endpoint_returns_the_answer_html(client):
    from gradio_client import handle_file

    drawing = {"background": handle_file(example(4)), "layers": [], "composite": None}
    answer, bars, view, inside, changed = client.predict(
        drawing, "current", api_name="/predict"
    )
    assert re.sub(r"<[^>]+>", "", answer).startswith("4 ")
    assert bars.count("data-digit=") == 10
    assert view.count("<figure>") == len(answers.STEP_KEYS)
    # The classroom's views come with it: the hidden units for this drawing, and
    # with the sliders at rest the sensitivity view repeats the answer exactly.
    assert 'class="activity"' in inside and 'class="unit-bars"' in inside
    assert answer in changed and bars in changed


def test_client_gets_a_clear_error_for_a_file_that_is_not_an_image(client, tmp_path):
    from gradio_client import handle_file

    not_image = tmp_path / "notes.png"
    not_image.write_text("this is text, not a picture")
    with pytest.raises(Exception, match="image") as caught:
        client.predict(handle_file(str(not_image)), api_name="/probabilities")
    assert "Traceback" not in str(caught.value)
    # The next request still works.
    assert int(client_probabilities(client, example(3)).argmax()) == 3


def test_running_app_serves_a_newly_published_model(live, client):
    before = client_probabilities(client, example(6))
    seed_name = next(path.stem for path in live.store.glob("seed-*.keras"))
    seed = load(seed_name, live.store)
    publish(seed.model, {**seed.record, "name": None}, "republished-seed", live.store)
    after = client_probabilities(client, example(6))
    digit = app.mnist_format.to_mnist(Image.open(example(6)))
    expected = seed.model.predict(digit.vector, verbose=0)[0]
    np.testing.assert_allclose(after, expected, atol=1e-5)
    assert not np.allclose(before, after, atol=1e-3)

    # Put the default model back for the tests that share this app.
    mlp_name = next(path.stem for path in live.store.glob("mlp-*.keras"))
    mlp = load(mlp_name, live.store)
    publish(mlp.model, {**mlp.record, "name": None}, "republished-mlp", live.store)
    np.testing.assert_allclose(
        client_probabilities(client, example(6)), before, atol=1e-6
    )


def test_clicking_an_example_shows_its_digit(live):
    paths = app.example_paths()
    with chromium_page() as page:
        page.goto(live.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        for digit in (4, 9):
            position = paths.index(example(digit))
            before = answer_html(page)
            page.locator("button.gallery-item").nth(position).click()
            text = wait_for_new_answer(page, before)
            assert re.fullmatch(rf"{digit} \d+% sure", text), text


def test_a_stroke_costs_the_server_three_uploads_and_one_event(live):
    # The Sketchpad's three images go ahead to its own store, and are uploaded once
    # more when the page reads its value after the copy; not once per status message
    # of every event (app.COPY_VALUE_JS). Both events go outside the queue: the
    # Sketchpad's, naming the images sent ahead, and the fast path's pictures.
    def kind(request) -> str:
        path = request.url.removeprefix(live.url).split("?")[0]
        if path == "gradio_api/run/predict":
            body = request.post_data or ""
            return "stroke" if body.startswith('{"data":[{"id":') else "fast"
        return path

    with chromium_page() as page:
        page.goto(live.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        posts: list[str] = []
        page.on(
            "request",
            lambda request: request.method == "POST" and posts.append(kind(request)),
        )
        for strokes, digit in ((SEVEN, "7"), (ONE, "1"), (SEVEN, "7")):
            page.click("#sketchpad button[aria-label='Brush']")
            posts.clear()
            draw(page, strokes, app.CANVAS_SIDE)
            page.wait_for_timeout(1500)  # Anything the answer's status sets off.
            text = page.inner_text("#prediction .answer")
            assert re.fullmatch(rf"{digit} \d+% sure", text), text
            counts = Counter(posts)
            fast = counts.pop("fast", 0)
            assert counts == {
                "gradio_api/upload": 3,
                "gradio_api/component_server/": 3,
                "stroke": 1,
            }, posts
            assert 1 <= fast <= 6, posts
            clear_canvas(page)
