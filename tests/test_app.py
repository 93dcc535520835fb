"""The app's functions: predictions, what the page shows, and serving a new model."""

# The Chinese texts take full-width colons, as Chinese should.
# ruff: noqa: RUF001

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import answers
import app
import mnist_format
from model_store import load, publish
from model_store.store import CURRENT_FILE
from tests.conftest import COMMITTED_STORE, ROOT
from tests.serving import copy_store
from training.train import build_model, settings_for

EMPTY_SKETCHPAD = {"background": None, "layers": [], "composite": None}


@pytest.fixture(scope="module")
def holder():
    return app.ModelHolder(COMMITTED_STORE)


def sketchpad_value(image28: np.ndarray, side: int = 400) -> dict:
    """An MNIST digit as the browser's Sketchpad sends it: black ink on white RGBA."""
    ink = Image.fromarray(image28).resize((side, side), Image.BILINEAR)
    alpha = np.asarray(ink)
    layer = np.zeros((side, side, 4), np.uint8)
    layer[..., 3] = alpha
    composite = np.full((side, side, 4), 255, np.uint8)
    composite[..., :3] = 255 - alpha[..., None]
    background = np.full((side, side, 4), 255, np.uint8)
    return {"background": background, "layers": [layer], "composite": composite}


def test_examples_are_recognised(holder):
    paths = app.example_paths()
    assert len(paths) == 10
    for path in paths:
        expected = int(re.search(r"digit-(\d)\.png$", path).group(1))
        probabilities = app.predict_digit(Image.open(path), holder)
        assert probabilities.shape == (10,)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert int(probabilities.argmax()) == expected, path


def test_sketchpad_values_of_mnist_test_digits_are_recognised(holder, mnist):
    _, (x_test, y_test) = mnist
    correct = sum(
        int(app.predict_digit(sketchpad_value(x_test[i]), holder).argmax()) == y_test[i]
        for i in range(200)
    )
    assert correct / 200 >= 0.97


def test_nothing_drawn_gives_none(holder):
    assert app.predict_digit(EMPTY_SKETCHPAD, holder) is None
    blank = np.full((400, 400, 4), 255, np.uint8)
    assert app.predict_digit(blank, holder) is None


def test_numpy_forward_pass_equals_keras(holder, mnist):
    _, (x_test, _) = mnist
    batch = x_test[:64].reshape(64, -1).astype(np.float32) / 255.0
    for name in ("seed", "mlp"):
        served = next(
            holder.get(choice)
            for _, choice in holder.choices()
            if choice.startswith(f"{name}-")
        )
        assert served.keras_model is None  # Served from its arrays alone.
        keras_model = load(served.name, COMMITTED_STORE).model
        keras_out = keras_model.predict(batch, verbose=0)
        numpy_out = np.stack([served.probabilities(row[None]) for row in batch])
        np.testing.assert_allclose(numpy_out, keras_out, atol=1e-5)


def test_answer_states_the_digit_and_its_confidence():
    probabilities = np.full(10, 0.01)
    probabilities[3] = 0.91
    text = re.sub(r"<[^>]+>", "", app.answer_html(probabilities))
    assert text == "3 91% sure"


def test_answer_is_unsure_below_the_threshold():
    probabilities = np.zeros(10)
    probabilities[[4, 9]] = [0.45, 0.40]
    probabilities[0] = 0.15
    text = re.sub(r"<[^>]+>", "", app.answer_html(probabilities))
    assert text == "Not sure: maybe 4 (45%) or 9 (40%)"


def test_empty_and_scribble_answers():
    assert re.sub(r"<[^>]+>", "", app.answer_html(None)) == "Draw a digit"
    probabilities = np.eye(10)[8]
    text = re.sub(r"<[^>]+>", "", app.answer_html(probabilities, scribble=True))
    assert text == "Not sure: this does not look like a digit"


def test_a_scribble_over_the_canvas_is_not_a_confident_digit(holder):
    rng = np.random.default_rng(3)
    canvas = Image.new("RGB", (400, 400), "white")
    from PIL import ImageDraw

    pen = ImageDraw.Draw(canvas)
    points = [tuple(point) for point in rng.integers(10, 390, size=(60, 2))]
    pen.line(points, fill="black", width=22)
    answer, bars, _ = app.classify(np.asarray(canvas), None, holder)
    assert "Not sure" in answer
    assert bars.count("data-digit=") == 10


def test_bars_list_all_digits_in_order_with_the_top_marked():
    probabilities = np.array([0.0, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.05, 0.0])
    page = app.bars_html(probabilities)
    rows = re.findall(r'<div class="(bar(?: top)?)" data-digit="(\d)">', page)
    assert [digit for _, digit in rows] == [str(d) for d in range(10)]
    assert [digit for kind, digit in rows if kind == "bar top"] == ["7"]
    values = re.findall(r'<span class="value">([^<]+)</span>', page)
    assert values[7] == "90.0%" and values[1] == "5.0%" and values[0] == "0.0%"
    assert app.bars_html(None) == '<div class="bars empty"></div>'


def test_classify_shows_the_model_view_and_steps(holder, mnist):
    _, (x_test, _) = mnist
    answer, bars, view = app.classify(sketchpad_value(x_test[0]), None, holder)
    assert re.sub(r"<[^>]+>", "", answer).startswith("7 ")
    assert 'class="bar top" data-digit="7"' in bars
    assert view.count("<figure>") == len(answers.STEP_KEYS)
    assert 'class="seen"' in view and "data:image/png;base64," in view


def test_bad_input_gives_a_message_not_a_crash(holder):
    answer, bars, view = app.classify("not an image", None, holder)
    assert answer.startswith('<div class="answer error">Could not read this drawing')
    assert bars == app.bars_html(None) and view == app.model_view_html(None)
    answer, _, _ = app.classify(np.zeros((3, 3, 2)), None, holder)
    assert "Could not read this drawing" in answer


def test_model_info_names_the_seed_parameters(holder):
    seed = next(
        holder.get(choice)
        for _, choice in holder.choices()
        if choice.startswith("seed-")
    )
    info = app.model_info_markdown(seed)
    assert "**Parameters:** 7,960" in info
    assert "784 → 10 sigmoid → 10 softmax" in info
    frame = app.history_frame(seed.record, "accuracy")
    assert len(frame) == 20 and set(frame["data"]) == {"training", "validation"}
    assert app.confusion_html(seed.record).count("<td") == 100
    chinese = app.model_info_markdown(seed, language="zh-CN")
    assert (
        "**参数个数：** 7,960" in chinese and "**结构：** 784 → 10 sigmoid" in chinese
    )
    assert set(app.history_frame(seed.record, "loss", "zh-CN")["data"]) == {
        "训练集",
        "验证集",
    }
    assert "<caption>行：真实数字" in app.confusion_html(seed.record, "zh-CN")


def test_choices_list_current_then_both_models(holder):
    choices = holder.choices()
    assert choices[0][1] == app.FOLLOW_CURRENT
    arches = sorted(name.split("-")[0] for _, name in choices[1:])
    assert arches == ["mlp", "seed"]


# A new model published while the app serves.


def seed_name_in(store: Path) -> str:
    return next(path.stem for path in store.glob("seed-*.keras"))


def test_next_prediction_comes_from_a_newly_published_model(tmp_path, mnist):
    store = copy_store(tmp_path / "store")
    holder = app.ModelHolder(store)
    _, (x_test, _) = mnist
    drawing = sketchpad_value(x_test[5])
    before = app.predict_digit(drawing, holder)
    assert holder.current().name.startswith("mlp-")

    new_model = build_model(settings_for("seed"))  # Untrained: its answers differ.
    publish(new_model, {"arch": "seed", "created": "2027-01-01"}, "fresh", store)
    after = app.predict_digit(drawing, holder)
    assert holder.current().name == "fresh"
    vector = mnist_format.to_mnist(drawing).vector
    np.testing.assert_allclose(
        after, new_model.predict(vector, verbose=0)[0], atol=1e-5
    )
    assert not np.allclose(before, after, atol=1e-3)


def test_a_broken_publish_is_refused_and_the_served_model_stays(tmp_path):
    store = copy_store(tmp_path / "store")
    holder = app.ModelHolder(store)
    served = holder.current().name
    (store / "broken.keras").write_bytes(b"garbage")
    (store / "broken.json").write_text('{"name": "broken"}')
    (store / CURRENT_FILE).write_text("broken\n")
    assert holder.current().name == served
    assert any("broken.keras" in problem for problem in holder.problems)


def test_predictions_during_a_swap_all_succeed_and_come_from_one_model(tmp_path, mnist):
    store = copy_store(tmp_path / "store")
    holder = app.ModelHolder(store)
    _, (x_test, _) = mnist
    drawing = sketchpad_value(x_test[7])
    vector = mnist_format.to_mnist(drawing).vector
    old = holder.current().probabilities(vector)
    new_model = build_model(settings_for("seed"))
    new = new_model.predict(vector, verbose=0)[0]

    answers, errors = [], []
    stop = threading.Event()

    def keep_predicting():
        while not stop.is_set():
            try:
                answers.append(app.predict_digit(drawing, holder))
            except Exception as error:  # noqa: BLE001 - any failure fails the test.
                errors.append(error)

    threads = [threading.Thread(target=keep_predicting) for _ in range(4)]
    for thread in threads:
        thread.start()
    publish(new_model, {"arch": "seed"}, "swapped-in", store)
    deadline = time.monotonic() + 60
    while holder.current().name != "swapped-in" and time.monotonic() < deadline:
        pass
    # Each thread may still finish one answer it began with the old model.
    swapped_at = len(answers) + len(threads)
    while len(answers) < swapped_at + 20 and not errors:
        if time.monotonic() > deadline:
            break
    stop.set()
    for thread in threads:
        thread.join()
    assert holder.current().name == "swapped-in", holder.problems
    assert errors == []
    assert len(answers) >= swapped_at + 20
    for answer in answers:
        assert np.allclose(answer, old, atol=1e-5) or np.allclose(
            answer, new, atol=1e-5
        )
    assert all(np.allclose(answer, new, atol=1e-5) for answer in answers[swapped_at:])


def test_pinned_model_is_served_by_build_demo():
    seed = load(seed_name_in(COMMITTED_STORE), COMMITTED_STORE)
    demo = app.build_demo(seed.model)
    assert demo is not None
    api_names = {
        fn.api_name for fn in demo.fns.values() if getattr(fn, "api_name", None)
    }
    assert {"predict", "probabilities"} <= api_names


def test_queue_summarises_events_once_in_a_thousand(monkeypatch, holder):
    # Gradio's default is after every event, over up to 10,000 of them.
    variable = "GRADIO_ANALYTICS_CACHE_FREQUENCY"
    monkeypatch.setenv(variable, "1")  # Restored, or removed, after the test.
    monkeypatch.delenv(variable)
    demo = app.with_queue(app.build_demo(holder.current()))
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == 1000
    monkeypatch.setenv(variable, "50")  # A host's own setting wins.
    demo = app.with_queue(app.build_demo(holder.current()))
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == 50


def test_server_settings_default_to_loopback(monkeypatch):
    for name in ("PORT", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert app.server_settings() == {"server_name": "127.0.0.1", "server_port": 7860}
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7000")
    assert app.server_settings()["server_port"] == 7000
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert app.server_settings() == {"server_name": "0.0.0.0", "server_port": 8123}


def test_importing_app_starts_nothing():
    import subprocess
    import sys

    code = (
        "import sys, app; "
        "assert 'keras' not in sys.modules, 'keras loaded at import'; "
        "assert app._default_holder is None; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_no_server_event_takes_or_writes_the_sketchpad(holder):
    # Gradio's page asks every component a server event took as input for its value
    # again on each status message, and for the Sketchpad that is a canvas read-back
    # and three uploads; an event writing it gives the tab its own copy of it.
    config = app.build_demo(holder.current()).get_config_file()
    (sketchpad,) = [
        component["id"]
        for component in config["components"]
        if component.get("props", {}).get("elem_id") == "sketchpad"
    ]
    touching = [
        dependency
        for dependency in config["dependencies"]
        if sketchpad in dependency["inputs"] or sketchpad in dependency["outputs"]
    ]
    assert len(touching) == 2
    assert all(not d["backend_fn"] and d["js"] and not d["queue"] for d in touching)
    (copy,) = [d for d in touching if sketchpad in d["inputs"]]
    assert [tuple(t) for t in copy["targets"]] == [(sketchpad, "change")]
    (value,) = copy["outputs"]
    answering = [
        d
        for d in config["dependencies"]
        if (value, "change") in map(tuple, d["targets"])
    ]
    assert [(d["api_name"], d["backend_fn"]) for d in answering] == [("predict", True)]


def png_of(size: int) -> bytes:
    """A PNG of exactly ``size`` bytes: one white pixel, then padding after its end."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), "white").save(buffer, format="PNG")
    return buffer.getvalue().ljust(size, b"\0")


def blobs_request(drawing: str, kind: str, file: bytes, index="null"):
    from gradio.data_classes import DataWithFiles

    fields = {"type": kind, "index": index, "id": drawing, "file": b""}
    return DataWithFiles(data=fields, files=[(f"{kind}.png", file)])


def test_the_sketchpad_refuses_layer_indices_past_the_limit(holder):
    from fastapi import HTTPException

    demo = app.build_demo(holder.current())
    (sketchpad,) = [b for b in demo.blocks.values() if b.elem_id == "sketchpad"]
    for index, reason in [
        ("100000000", f"layer index 100000000 is not below {app.MAX_LAYERS}"),
        ("-1", f"layer index -1 is not below {app.MAX_LAYERS}"),
        ("null", "layer index 'null' is not a number"),
    ]:
        with pytest.raises(HTTPException) as refused:
            sketchpad.accept_blobs(blobs_request("a", "layer", b"png", index))
        assert (refused.value.status_code, refused.value.detail) == (
            400,
            f"Refused image: {reason}",
        )
    with pytest.raises(HTTPException, match="unknown kind 'mask'"):
        sketchpad.accept_blobs(blobs_request("a", "mask", b"png"))
    for drawing in ("", "x" * 65, None):
        with pytest.raises(HTTPException, match="expected an id of 1 to 64 char"):
            sketchpad.accept_blobs(blobs_request(drawing, "composite", b"png"))
    with pytest.raises(HTTPException, match="expected a multipart form"):
        sketchpad.accept_blobs({"type": "composite"})
    assert sketchpad.blob_storage == {}
    sketchpad.accept_blobs(blobs_request("a", "layer", b"layer", "7"))
    sketchpad.accept_blobs(blobs_request("a", "composite", b"composite"))
    kept = sketchpad.blob_storage["a"]
    assert (kept.layers, kept.composite) == ([None] * 7 + [b"layer"], b"composite")


def test_the_sketchpad_keeps_the_newest_drawings_within_its_bytes():
    import gradio as gr
    from gradio.components.image_editor import EditorData

    sketchpad = gr.Sketchpad()
    app.guard_sketchpad_blobs(sketchpad, max_bytes=12_000)
    kept = sketchpad.blob_storage
    entry = app.BLOB_ENTRY_BYTES
    for number in range(5):
        for kind in ("background", "composite"):
            sketchpad.accept_blobs(blobs_request(f"d{number}", kind, png_of(2_000)))
    # Two drawings of 4,000 bytes (and an entry's own) fit, a third would not.
    assert (list(kept), kept.total) == (["d3", "d4"], 2 * (4_000 + entry))
    # An event reads d3 and releases it: room for d5 and d6, then d4 goes.
    sketchpad.preprocess(EditorData(id="d3", background=None, layers=[]))
    assert (list(kept), kept.total) == (["d4"], 4_000 + entry)
    for name in ("d5", "d6"):
        sketchpad.accept_blobs(blobs_request(name, "composite", png_of(3_500)))
    assert (list(kept), kept.total) == (["d5", "d6"], 2 * (3_500 + entry))
    # One drawing larger than the bound is kept until the next comes.
    sketchpad.accept_blobs(blobs_request("large", "composite", png_of(20_000)))
    assert (list(kept), kept.total) == (["large"], 20_000 + entry)
    # Empty images count too: a flood of them cannot grow the store for good.
    for number in range(100):
        sketchpad.accept_blobs(blobs_request(f"e{number}", "composite", b""))
    assert len(kept) == 12_000 // entry


def test_a_drawing_sent_ahead_is_answered_as_the_same_drawing_uploaded(
    holder, mnist, tmp_path
):
    import asyncio

    demo = app.build_demo(holder.current())
    (sketchpad,) = [b for b in demo.blocks.values() if b.elem_id == "sketchpad"]
    (predict,) = [fn for fn in demo.fns.values() if fn.api_name == "predict"]
    rest = ["current", "en"] + [0] * (len(predict.inputs) - 3)
    _, (x_test, y_test) = mnist
    for image28, label in zip(x_test[:3], y_test[:3], strict=True):
        value = sketchpad_value(image28, side=app.CANVAS_SIDE)
        files = {}
        for part, index in (
            ("background", "null"),
            ("layers", "0"),
            ("composite", "null"),
        ):
            pixels = value[part][0] if part == "layers" else value[part]
            path = tmp_path / f"{part}.png"
            Image.fromarray(pixels).save(path)
            files[part] = {"path": str(path), "meta": {"_type": "gradio.FileData"}}
            kind = "layer" if part == "layers" else part
            sketchpad.accept_blobs(blobs_request("d", kind, path.read_bytes(), index))
        uploaded = dict(files, layers=[files["layers"]])
        sent = asyncio.run(predict.fn({"id": "d"}, *rest))
        assert sketchpad.blob_storage == {}
        assert sent[:-1] == asyncio.run(predict.fn(uploaded, *rest))[:-1]
        assert re.sub(r"<[^>]+>", "", sent[0]).startswith(f"{label} ")


def test_the_upload_age_is_an_hour_unless_set(monkeypatch):
    monkeypatch.delenv("DIGIT_UPLOAD_MAX_AGE", raising=False)
    assert app.upload_max_age() == 3600
    monkeypatch.setenv("DIGIT_UPLOAD_MAX_AGE", "120")
    assert app.upload_max_age() == 120
    for setting in ("1h", "0", "-5"):
        monkeypatch.setenv("DIGIT_UPLOAD_MAX_AGE", setting)
        with pytest.raises(ValueError) as refused:
            app.upload_max_age()
        assert str(refused.value) == (
            "DIGIT_UPLOAD_MAX_AGE must be a whole number of seconds above 0, "
            f"got {setting!r}"
        )


def test_a_large_drawing_is_kept_for_a_correction_at_the_size_one_stores():
    large = np.zeros((4000, 4000, 4), np.uint8)
    large[1000:3000, 1900:2100] = 255
    drawn = answers.Drawn.read({"layers": [large], "composite": large})
    assert drawn.original.shape == (267, 267, 4)  # Every 15th pixel of 4000.
    np.testing.assert_array_equal(drawn.original, large[::15, ::15])
    small = np.zeros((280, 280, 4), np.uint8)
    assert answers.Drawn.read({"layers": [large], "composite": small}).original is small
