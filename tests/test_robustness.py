"""Bad input: in-process, through both HTTP endpoints, in the browser, and fuzzed.

Every case ends in a clear message or a correct answer, and the next request works.
The digits drawn here are the MNIST examples the app ships, which the default model
reads with over 95% confidence, so "correct" has one meaning.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import app
from mnist_format import MAX_INPUT_PIXELS, ImageTooLarge
from tests.conftest import COMMITTED_STORE
from tests.serving import (
    answer_html,
    chromium_page,
    clear_canvas,
    copy_store,
    draw,
    running_app,
    wait_for_new_answer,
)
from tests.test_mnist_format import any_array, any_input

SIDE = 400
DIGIT = 7  # The example drawn in every "correct answer" case.
EMPTY = "Draw a digit"
SCRIBBLE = "Not sure: this does not look like a digit"
UNREADABLE = "Could not read this drawing: "
TOO_LARGE = (
    f"image of 10000x10000 pixels is larger than the limit of {MAX_INPUT_PIXELS} "
    "pixels; downscale it first"
)
NOT_AN_IMAGE = (
    "expected a readable image file (PNG, JPEG, ...), but notes.png could not be "
    "read: it is not an image, or a damaged one"
)


def example_ink(digit: int = DIGIT, side: int = SIDE) -> np.ndarray:
    """The example digit's ink in [0, 255], scaled up to ``side`` (white on black;
    the example files are black on white, as drawn)."""
    path = next(p for p in app.example_paths() if p.endswith(f"-{digit}.png"))
    image = Image.open(path).convert("L").resize((side, side), Image.BILINEAR)
    return 255 - np.asarray(image)


def rgba(red: int, green: int, blue: int, alpha: int, shape=(SIDE, SIDE)):
    canvas = np.empty((*shape, 4), np.uint8)
    canvas[:] = (red, green, blue, alpha)
    return canvas


def transparent_with_black_ink() -> np.ndarray:
    canvas = rgba(0, 0, 0, 0)
    canvas[..., 3] = example_ink()
    return canvas


def white_ink_on_black() -> np.ndarray:
    canvas = rgba(0, 0, 0, 255)
    canvas[..., :3] = example_ink()[..., None]
    return canvas


def wide_canvas() -> np.ndarray:
    """800x600 white with the digit drawn black, off centre."""
    canvas = np.full((600, 800), 255, np.uint8)
    canvas[100:500, 350:750] = 255 - example_ink()
    return canvas


def scribble() -> np.ndarray:
    canvas = Image.new("L", (SIDE, SIDE), 255)
    pen = ImageDraw.Draw(canvas)
    for row in range(10, SIDE, 30):
        pen.line([(10, row), (SIDE - 10, row + 15)], fill=0, width=22)
    return np.asarray(canvas)


BLACK_GREY = np.zeros((SIDE, SIDE), np.uint8)

# Each case: the value, what predict_digit gives (a digit, None, or the exception and
# its exact message), and whether the value can travel over HTTP as an image file.
CASES = {
    "empty canvas": ({"background": None, "layers": [], "composite": None}, None),
    "all black opaque canvas": (rgba(0, 0, 0, 255), None),
    "all white canvas": (rgba(255, 255, 255, 255), None),
    "transparent canvas with black ink": (transparent_with_black_ink(), DIGIT),
    "white ink on black": (white_ink_on_black(), DIGIT),
    "greyscale sketchpad all black": (
        {"background": BLACK_GREY, "layers": [BLACK_GREY], "composite": BLACK_GREY},
        None,
    ),
    "800x600 canvas": (wide_canvas(), DIGIT),
    "1x1 image": (np.zeros((1, 1), np.uint8), None),
    "10000x10000 image": (
        np.broadcast_to(np.zeros(1, np.uint8), (10_000, 10_000)),
        (ImageTooLarge, TOO_LARGE),
    ),
    "float image with NaN": (
        np.where(example_ink(side=28) > 0, np.nan, 0.0),
        (
            ValueError,
            "expected finite pixel values in [0, 1] or [0, 255], got NaN or infinity",
        ),
    ),
    "28x28 array": (example_ink(side=28).astype(np.float32) / 255, DIGIT),
    "784 vector": (
        np.zeros(784, np.float32),
        (
            ValueError,
            "expected a 2-D image of shape HxW, HxWx1, HxWx3 or HxWx4, got shape "
            "(784,); reshape a flat MNIST vector to (28, 28) first",
        ),
    ),
    "3-D array with 2 channels": (
        np.zeros((28, 28, 2), np.uint8),
        (
            ValueError,
            "expected a 2-D image of shape HxW, HxWx1, HxWx3 or HxWx4, got shape "
            "(28, 28, 2)",
        ),
    ),
    "dict with every key None": (
        {"background": None, "layers": None, "composite": None},
        None,
    ),
    "string": (
        "hello",
        (
            ValueError,
            "expected a readable image file (PNG, JPEG, ...), but hello could not "
            "be read: No such file or directory",
        ),
    ),
}


@pytest.fixture(scope="module")
def holder():
    return app.ModelHolder(COMMITTED_STORE)


def page_text(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text).replace("&#x27;", "'")


def expected_page(outcome) -> str | re.Pattern:
    if outcome is None:
        return EMPTY
    if isinstance(outcome, int):
        return re.compile(rf"{outcome} \d+% sure")
    return UNREADABLE + outcome[1]


def assert_page(shown: str, outcome) -> None:
    expected = expected_page(outcome)
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(shown), shown
    else:
        assert shown == expected


def assert_next_request_works(holder) -> None:
    assert int(np.argmax(app.predict_digit(white_ink_on_black(), holder))) == DIGIT


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_in_process(holder, case):
    value, outcome = CASES[case]
    if isinstance(outcome, tuple):
        error, message = outcome
        with pytest.raises(error) as caught:
            app.predict_digit(value, holder)
        assert str(caught.value) == message
    else:
        probabilities = app.predict_digit(value, holder)
        if outcome is None:
            assert probabilities is None
        else:
            assert int(np.argmax(probabilities)) == outcome
            assert probabilities.max() > 0.9
    answer, bars, view = app.classify(value, None, holder)
    assert_page(page_text(answer), outcome)
    assert isinstance(bars, str) and isinstance(view, str)
    assert_next_request_works(holder)


def test_a_file_that_is_not_an_image_in_process(holder, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture")
    with pytest.raises(ValueError) as caught:
        app.predict_digit(str(path), holder)
    assert str(caught.value) == NOT_AN_IMAGE
    assert page_text(app.classify(str(path), None, holder)[0]) == (
        UNREADABLE + NOT_AN_IMAGE
    )
    assert_next_request_works(holder)


def test_a_scribble_over_the_whole_canvas_is_unsure(holder):
    assert page_text(app.classify(scribble(), None, holder)[0]) == SCRIBBLE


# Fuzzing the page's function: whatever arrives, three strings and a known state.

ANSWER_STATES = re.compile(
    r"Draw a digit"
    r"|\d \d+% sure"
    r"|Not sure: maybe \d \(\d+%\) or \d \(\d+%\)"
    r"|Not sure: this does not look like a digit"
    r"|Could not read this drawing: .+",
    re.DOTALL,
)


def odd_values():
    return st.one_of(
        any_input(),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.integers()),
            st.one_of(st.none(), any_array(), st.text(max_size=5)),
            max_size=3,
        ),
        st.text(max_size=20).filter(lambda text: "\x00" not in text),
        st.integers(),
        st.floats(),
        st.none(),
        st.lists(st.integers(0, 255), max_size=5),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(value=odd_values(), choice=st.sampled_from([None, "", app.FOLLOW_CURRENT]))
def test_classify_answers_any_value_with_three_strings_in_a_known_state(
    holder, value, choice
):
    shown = app.classify(value, choice, holder)
    assert len(shown) == 3 and all(isinstance(part, str) for part in shown)
    assert ANSWER_STATES.fullmatch(page_text(shown[0])), shown[0]
    assert "Traceback" not in shown[0]


# Through HTTP: the same cases as files, to both endpoints of the running app.


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robustness")
    with running_app(copy_store(folder / "store"), folder) as running:
        yield running


@pytest.fixture(scope="module")
def client(live):
    from gradio_client import Client

    return Client(live.url, verbose=False)


# The cases an image file can carry; NaN only exists in-process (a PNG holds integers;
# a float TIFF can hold NaN, and /probabilities reads it, see below).
FILE_CASES = [
    "all black opaque canvas",
    "all white canvas",
    "transparent canvas with black ink",
    "white ink on black",
    "800x600 canvas",
    "1x1 image",
    "28x28 array",
]


def image_file(folder, name: str, value) -> str:
    path = folder / f"{re.sub(r'[^a-z0-9]+', '-', name)}.png"
    pixels = np.asarray(value)
    if pixels.dtype != np.uint8:
        pixels = (pixels * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def probabilities_over_http(client, path: str):
    from gradio_client import handle_file

    result = client.predict(handle_file(path), api_name="/probabilities")
    if result == {"nothing_drawn": True}:
        return None
    return int(max(result, key=result.get))


def page_over_http(client, drawing) -> str:
    answer, *views = client.predict(drawing, "current", api_name="/predict")
    assert len(views) == 4 and all(isinstance(view, str) for view in views)
    return page_text(answer)


def as_composite(path: str) -> dict:
    from gradio_client import handle_file

    return {"background": None, "layers": [], "composite": handle_file(path)}


def test_bad_input_over_http_gives_a_clear_answer_and_the_next_works(client, tmp_path):
    for case in FILE_CASES:
        value, outcome = CASES[case]
        path = image_file(tmp_path, case, value)
        assert probabilities_over_http(client, path) == outcome, case
        assert_page(page_over_http(client, as_composite(path)), outcome)
    empty = {"background": None, "layers": [], "composite": None}
    assert page_over_http(client, empty) == EMPTY
    assert (
        page_over_http(client, as_composite(image_file(tmp_path, "s", scribble())))
        == SCRIBBLE
    )
    good = image_file(tmp_path, "good", white_ink_on_black())
    assert probabilities_over_http(client, good) == DIGIT


def app_error(client, *arguments, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(*arguments, api_name=api_name)
    return str(caught.value)


def test_files_the_app_cannot_read_get_a_clear_message_over_http(
    client, live, tmp_path
):
    from gradio_client import handle_file

    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 10_000)).save(huge)  # 12 kB on disk.
    notes = tmp_path / "notes.png"
    notes.write_text("this is text, not a picture")
    nan = tmp_path / "nan.tiff"
    Image.fromarray(np.where(example_ink(side=28) > 0, np.nan, 0.0).astype(np.float32),
                    mode="F").save(nan)  # fmt: skip

    peak_before = peak_memory_kb(live)
    assert app_error(client, handle_file(str(huge)), api_name="/probabilities") == (
        f"image file huge.png is larger than the limit of {MAX_INPUT_PIXELS} pixels; "
        "downscale it first"
    )
    assert app_error(
        client, as_composite(str(huge)), "current", api_name="/predict"
    ) == (
        f"Could not read this drawing: it has more than {MAX_INPUT_PIXELS} pixels; "
        "downscale it first"
    )
    # Refused from the header: decoding it would have taken 100 MB per channel.
    assert peak_memory_kb(live) - peak_before < 50_000

    assert app_error(client, handle_file(str(notes)), api_name="/probabilities") == (
        NOT_AN_IMAGE
    )
    assert app_error(
        client, as_composite(str(notes)), "current", api_name="/predict"
    ) == (
        "Could not read this drawing: one of its files is not an image, or is damaged"
    )
    assert app_error(client, handle_file(str(nan)), api_name="/probabilities") == (
        "expected finite pixel values in [0, 1] or [0, 255], got NaN or infinity"
    )
    good = image_file(tmp_path, "good", white_ink_on_black())
    assert probabilities_over_http(client, good) == DIGIT


def test_slider_values_and_layers_out_of_bounds_are_refused_over_http(client, tmp_path):
    # /predict takes its values unprocessed (app.on_stroke): the bounds are checked
    # by the app, with the sliders' own check. A thickness of a billion would
    # otherwise mean a billion dilations.
    good = as_composite(image_file(tmp_path, "good", white_ink_on_black()))
    assert app_error(
        client, good, "current", "en", 0, 0, 0, 1_000_000_000, api_name="/predict"
    ) == ("thickness: Value 1000000000 is greater than maximum value 2.")
    assert app_error(
        client, good, "current", "en", -7, 0, 0, 0, api_name="/predict"
    ) == ("shift-down: Value -7 is less than minimum value -6.")
    assert app_error(
        client, good, "current", "en", 0, "abc", 0, 0, api_name="/predict"
    ) == ("shift-right: expected a number, got 'abc'")
    assert app_error(
        client, good, "current", "en", 0, 0, 10**400, 0, api_name="/predict"
    ) == (f"rotation: Value {10**400} is greater than maximum value 45.")
    many = dict(good, layers=[good["composite"]] * (app.MAX_LAYERS + 1))
    assert app_error(client, many, "current", api_name="/predict") == (
        f"Could not read this drawing: it has {app.MAX_LAYERS + 1} layers; at most "
        f"{app.MAX_LAYERS} are read"
    )
    answer, *_ = client.predict(
        good, "current", "en", 6, -6, 45, 2, api_name="/predict"
    )
    assert re.fullmatch(rf"{DIGIT} \d+% sure", page_text(answer))
    # Over app.INLINE_MAX_PIXELS: answered in a worker thread, the same way.
    large = tmp_path / "large.png"
    Image.open(good["composite"]["path"]).resize((1100, 1100)).save(large)
    assert 1100 * 1100 > app.INLINE_MAX_PIXELS
    answer, *_ = client.predict(as_composite(str(large)), api_name="/predict")
    assert re.fullmatch(rf"{DIGIT} \d+% sure", page_text(answer))


def test_an_event_naming_thousands_of_files_is_refused_before_gradio_reads_them(
    live, client, tmp_path
):
    # Gradio checks each file an event names, on the event loop, before the app's
    # own limit (app.MAX_LAYERS) can refuse them: the body size is refused first.
    import httpx

    good = image_file(tmp_path, "good", white_ink_on_black())
    with httpx.Client(base_url=live.url, timeout=30) as http:
        with open(good, "rb") as opened:
            (path,) = http.post(
                "/gradio_api/upload", files=[("files", ("good.png", opened))]
            ).json()
        layer = {
            "path": path,
            "orig_name": "good.png",
            "meta": {"_type": "gradio.FileData"},
        }
        config = http.get("/config").json()
        (fn_index,) = [
            d["id"] for d in config["dependencies"] if d["api_name"] == "predict"
        ]
        many = {"background": None, "layers": [layer] * 5000, "composite": None}
        sent = http.post(
            "/gradio_api/run/predict",
            json={"data": [many, "current"], "fn_index": fn_index, "session_hash": "x"},
        )
    assert (sent.status_code, sent.text) == (413, "Content Too Large")
    answer, *_ = client.predict(as_composite(good), api_name="/predict")
    assert re.fullmatch(rf"{DIGIT} \d+% sure", page_text(answer))


def test_images_sent_ahead_with_a_huge_layer_index_or_size_are_refused(
    live, client, tmp_path
):
    # Gradio's own Sketchpad would grow a list to the index named: 24 GB for this one.
    import httpx

    good = image_file(tmp_path, "good", white_ink_on_black())
    before = peak_memory_kb(live)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        config = http.get("/config").json()
        (sketchpad,) = [
            c["id"]
            for c in config["components"]
            if c.get("props", {}).get("elem_id") == "sketchpad"
        ]

        def send(index: str, file: bytes):
            fields = {
                "id": "drawing",
                "type": "layer",
                "index": index,
                "component_id": str(sketchpad),
                "fn_name": "accept_blobs",
                "session_hash": "x",
            }
            return http.post(
                "/gradio_api/component_server/",
                data=fields,
                files={"file": ("layer.png", file, "image/png")},
            )

        huge = send("3000000000", open(good, "rb").read())
        large = send("0", bytes(2 * app.BLOB_BODY_LIMIT))
    reason = f"layer index 3000000000 is not below {app.MAX_LAYERS}"
    assert (huge.status_code, huge.json()) == (
        400,
        {"detail": f"Refused image: {reason}"},
    )
    assert (large.status_code, large.text) == (413, "Content Too Large")
    assert peak_memory_kb(live) - before < 50_000
    answer, *_ = client.predict(as_composite(good), api_name="/predict")
    assert re.fullmatch(rf"{DIGIT} \d+% sure", page_text(answer))


def test_a_model_that_cannot_be_used_is_named_as_such_over_http(client, tmp_path):
    good = as_composite(image_file(tmp_path, "good", white_ink_on_black()))
    for choice, error in [
        ("no-such-model", "cannot read record no-such-model.json"),
        (["current"], "invalid model name ['current']: expected a string"),
    ]:
        answer, bars, *_ = client.predict(good, choice, api_name="/predict")
        assert page_text(answer).startswith(f"This model cannot be used: {error}")
        assert bars == app.bars_html(None)
    answer, *_ = client.predict(good, "no-such-model", "zh-CN", api_name="/predict")
    assert page_text(answer).startswith("无法使用这个模型：")  # noqa: RUF001


def test_a_dict_with_every_key_none_over_http_is_refused_cleanly(client, tmp_path):
    # Gradio's own schema wants a list for "layers"; the app says so, and the next
    # request works.
    for value in (
        {"background": None, "layers": None, "composite": None},
        {"background": 7, "layers": [], "composite": None},
        {"foo": "bar"},
        {},
        None,
    ):
        message = app_error(client, value, "current", api_name="/predict")
        assert message == f"Could not read this drawing: {app.NOT_A_VALUE}"
    good = image_file(tmp_path, "good", white_ink_on_black())
    assert re.fullmatch(
        rf"{DIGIT} \d+% sure", page_over_http(client, as_composite(good))
    )


def peak_memory_kb(live) -> int:
    status = open(f"/proc/{live.process.pid}/status").read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


# In the browser: what the page shows.

SCRIBBLE_STROKES = [
    [(0.05, 0.05), (0.95, 0.2), (0.05, 0.35), (0.95, 0.5), (0.05, 0.65),
     (0.95, 0.8), (0.05, 0.95), (0.95, 0.95)],
    [(0.1, 0.05), (0.3, 0.95), (0.5, 0.05), (0.7, 0.95), (0.9, 0.05)],
]  # fmt: skip


def test_the_page_shows_unsure_for_a_scribble_and_empty_after_clear(live):
    with chromium_page() as page:
        page.goto(live.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        page.click("#sketchpad button[aria-label='Brush']")
        before = answer_html(page)
        draw(page, SCRIBBLE_STROKES, app.CANVAS_SIDE)
        assert wait_for_new_answer(page, before) == SCRIBBLE

        assert [EMPTY, 0] in clear_canvas(page)
        assert "Traceback" not in page.content()
