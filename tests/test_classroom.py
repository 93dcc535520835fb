"""The classroom: the maps are the weights, the views are the arithmetic, the class's
corrections are kept, and the page speaks English and Simplified Chinese."""

# The Chinese texts expected here use full-width commas, colons and brackets.
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import threading
from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from scipy import special

import answers
import app
import classroom
import mnist_format
import teaching
import texts
from feedback import DATABASE_FILE, FeedbackStore
from model_store import load_current
from tests.conftest import COMMITTED_STORE, ROOT
from tests.serving import (
    answer_html,
    chromium_page,
    copy_store,
    draw,
    running_app,
    wait_for_new_answer,
)

EMPTY_SKETCHPAD = {"background": None, "layers": [], "composite": None}
SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)]]


@pytest.fixture(scope="module")
def holder():
    return app.ModelHolder(COMMITTED_STORE)


def model_named(holder, prefix: str):
    return next(
        holder.get(choice)
        for _, choice in holder.choices()
        if choice.startswith(f"{prefix}-")
    )


@pytest.fixture(scope="module")
def seed(holder):
    return model_named(holder, "seed")


@pytest.fixture(scope="module")
def mlp(holder):
    return model_named(holder, "mlp")


@pytest.fixture(scope="module")
def seed_kernel_and_bias(seed):
    """The seed model's first layer, read from its .keras file by Keras itself."""
    import keras

    model = keras.saving.load_model(COMMITTED_STORE / f"{seed.name}.keras")
    dense = next(
        layer for layer in model.layers if isinstance(layer, keras.layers.Dense)
    )
    kernel, bias = dense.get_weights()
    return kernel.astype(np.float64), bias.astype(np.float64)


def example_drawing(digit: int) -> np.ndarray:
    path = next(p for p in app.example_paths() if p.endswith(f"-{digit}.png"))
    return np.asarray(Image.open(path).convert("RGB"))


def decoded(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


def plain(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)


# Seeing inside.


def test_slider_values_are_checked_as_the_sliders_would_and_nan_too():
    import gradio as gr

    thickness = gr.Slider(-2, 2, value=0, step=1, elem_id="thickness")
    assert classroom.checked_sliders([thickness], [1]) == (1,)
    for value, message in [
        (3, "thickness: Value 3 is greater than maximum value 2."),
        (float("nan"), "thickness: expected a number, got nan"),
        (True, "thickness: expected a number, got True"),
        ("x" * 100, "thickness: expected a number, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ]:
        with pytest.raises(gr.Error) as caught:
            classroom.checked_sliders([thickness], [value])
        assert caught.value.message.startswith(message)


def test_the_seed_maps_are_the_first_layer_weights_of_the_keras_file(
    seed, seed_kernel_and_bias
):
    kernel, _ = seed_kernel_and_bias
    page = classroom.weight_maps_html(seed, "en")
    figures = re.findall(r'<figure data-unit="(\d+)"><img src="([^"]+)"', page)
    assert [int(unit) for unit, _ in figures] == list(range(10))
    scale = float(np.abs(kernel).max())
    for unit, uri in figures:
        weights = kernel[:, int(unit)].reshape(28, 28)
        np.testing.assert_allclose(
            teaching.weight_maps(seed.weights[0][0], order=[int(unit)])[0],
            weights,
            rtol=1e-6,
        )
        shown = decoded(uri).astype(int)
        assert shown.shape == (28, 28, 3)
        np.testing.assert_array_equal(shown, teaching.diverging_colours(weights, scale))
        red, blue = shown[..., 0], shown[..., 2]
        strong = np.abs(weights) > 0.05 * scale
        assert (red[strong & (weights > 0)] > blue[strong & (weights > 0)]).all()
        assert (blue[strong & (weights < 0)] > red[strong & (weights < 0)]).all()
    assert "All 10 hidden units of seed-" in page
    assert 'class="legend"' in page


def test_the_wide_model_shows_the_units_the_weight_rule_picks_and_says_how(mlp):
    units, chosen = classroom.shown_units(mlp.weights)
    assert chosen
    kernel, outgoing = mlp.weights[0][0], mlp.weights[1][0]
    scores = np.linalg.norm(kernel, axis=0) * np.linalg.norm(outgoing, axis=1)
    np.testing.assert_array_equal(units, np.argsort(-scores, kind="stable")[:10])
    page = classroom.weight_maps_html(mlp, "en")
    shown = [int(unit) for unit in re.findall(r'<figure data-unit="(\d+)"', page)]
    assert shown == list(units)
    assert f"10 of the 512 hidden units of {mlp.name}" in plain(page)
    chinese = plain(classroom.weight_maps_html(mlp, "zh-CN"))
    assert f"{mlp.name} 的 512 个隐藏单元中的 10 个" in chinese


def test_activations_and_contributions_are_the_arithmetic_of_the_first_layer(
    seed, seed_kernel_and_bias
):
    kernel, bias = seed_kernel_and_bias
    image = mnist_format.to_mnist(example_drawing(3)).image
    pixels = image.astype(np.float64).reshape(784)
    before = pixels @ kernel + bias
    seen = classroom.activity(seed, image)
    np.testing.assert_array_equal(seen["units"], np.arange(10))
    np.testing.assert_allclose(seen["pre_activations"], before, rtol=1e-6)
    np.testing.assert_allclose(seen["activations"], special.expit(before), rtol=1e-6)
    for unit, picture in zip(seen["units"], seen["contributions"], strict=True):
        np.testing.assert_allclose(
            picture, (pixels * kernel[:, unit]).reshape(28, 28), rtol=1e-6
        )
        assert picture.sum() + bias[unit] == pytest.approx(before[unit], rel=1e-6)

    page = classroom.activity_html(seed, image, "en")
    values = re.findall(r'<span class="value">([^<]+)</span>', page)
    assert values == [f"{value:.2f}" for value in special.expit(before)]
    sums = re.findall(r'<span class="sum">([^<]+)</span>', page)
    assert sums == [f"{value:+.2f}" for value in before]


def test_a_wide_model_shows_the_drawings_most_active_units(mlp):
    image = mnist_format.to_mnist(example_drawing(5)).image
    seen = classroom.activity(mlp, image)
    kernel, bias, _ = mlp.weights[0]
    outputs = np.maximum(image.reshape(784).astype(np.float64) @ kernel + bias, 0)
    assert list(seen["units"]) == list(np.argsort(-outputs, kind="stable")[:10])
    np.testing.assert_allclose(seen["activations"], np.sort(outputs)[::-1][:10])
    assert "The 10 most active of the 512 hidden units" in plain(
        classroom.activity_html(mlp, image, "en")
    )


def test_with_nothing_drawn_the_activity_asks_for_a_digit(seed):
    assert plain(classroom.activity_html(seed, None, "en")) == (
        "Draw a digit to see the hidden units respond."
    )
    assert plain(classroom.activity_html(seed, None, "zh-CN")) == (
        "画一个数字，看看隐藏单元如何反应。"
    )


# Sensitivity.


def test_no_change_gives_exactly_the_answer_of_the_page(holder, mlp):
    drawing = example_drawing(9)
    digit = mnist_format.to_mnist(drawing)
    changed, probabilities = classroom.sensitivity(mlp, digit.image)
    np.testing.assert_array_equal(changed, digit.image)
    np.testing.assert_array_equal(probabilities, mlp.probabilities(digit.vector))

    still = {"shift_down": 0, "shift_right": 0, "rotation_deg": 0, "thickness": 0}
    page = classroom.sensitivity_html(drawing, None, holder, still, "en")
    answer, bars, _ = app.classify(drawing, None, holder)
    assert answer in page and bars in page


def test_moving_the_drawing_moves_the_probabilities(holder, mlp):
    drawing = example_drawing(9)
    image = mnist_format.to_mnist(drawing).image
    _, unchanged = classroom.sensitivity(mlp, image)
    changed, moved = classroom.sensitivity(mlp, image, shift_down=5, shift_right=-5)
    np.testing.assert_array_equal(changed, teaching.perturb(image, shift=(5, -5)))
    assert np.abs(moved - unchanged).max() > 0.05
    turned = {"shift_down": 0, "shift_right": 0, "rotation_deg": 45, "thickness": 2}
    page = classroom.sensitivity_html(drawing, None, holder, turned, "en")
    _, expected = classroom.sensitivity(mlp, image, rotation_deg=45, thickness=2)
    assert app.bars_html(expected) in page


# The app's answers in both languages.


def test_a_chinese_page_gets_the_same_verdicts_in_chinese(holder):
    drawings = [example_drawing(d) for d in (0, 4, 8)]
    drawings += [EMPTY_SKETCHPAD, "not an image", np.zeros((3, 3, 2))]
    for drawing in drawings:
        english = app.classify(drawing, None, holder)
        chinese = app.classify(drawing, None, holder, "zh-CN")
        assert chinese[1] == english[1]  # The bars are numbers only.
        digit = re.match(r"\d ", plain(english[0]))
        if digit:
            assert plain(chinese[0]).startswith(digit.group())
        else:
            assert plain(chinese[0]) != plain(english[0])
    answer, _, view = app.classify(example_drawing(4), None, holder, "zh-CN")
    assert re.fullmatch(r"4 把握 \d+%", plain(answer))
    assert "<figcaption>1. 找到墨迹</figcaption>" in view


def test_the_answers_in_chinese():
    def answer(probabilities, scribble=False):
        return plain(answers.answer_html(probabilities, scribble, "zh-CN"))

    probabilities = np.full(10, 0.01)
    probabilities[3] = 0.91
    assert answer(probabilities) == "3 把握 91%"
    assert answer(probabilities, scribble=True) == "不确定：这看起来不像数字"
    unsure = np.zeros(10)
    unsure[[4, 9, 0]] = [0.45, 0.40, 0.15]
    assert answer(unsure) == "不确定：可能是 4（45%）或 9（40%）"
    assert answer(None) == "画一个数字"


def test_every_text_is_in_both_languages_with_the_same_placeholders():
    english, chinese = texts.TEXTS["en"], texts.TEXTS["zh-CN"]
    assert english.keys() == chinese.keys()
    for key in english:
        assert set(re.findall(r"\{(\w+)\}", english[key])) == set(
            re.findall(r"\{(\w+)\}", chinese[key])
        ), key
    sent = texts.make_i18n().translations_dict
    assert set(sent) == {"en", "zh-CN"}
    assert sent["zh-CN"]["draw_here"] == "在这里画"
    assert not any("{" in value for table in sent.values() for value in table.values())


def test_the_language_follows_the_browsers_preferences():
    pick = texts.pick_language
    assert pick("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert pick(["zh", "en-US"]) == "zh-CN"
    assert pick("en-GB,zh-CN;q=0.5") == "en"
    assert pick("zh-TW") == "en"  # Traditional Chinese: we have no translation.
    assert pick("fr-FR") == "en"
    assert pick(None) == "en"


# The class's corrections.


def test_a_correction_is_saved_with_what_the_model_said(holder, mlp, tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    drawing = example_drawing(7)
    message = classroom.submit_correction(drawing, "1", holder, store, "session-a")
    assert message == "Saved: thanks, 1 corrections so far"
    (row,) = store.recent()
    assert (row.label, row.predicted, row.model_name) == (1, 7, mlp.name)
    assert row.session == "session-a"
    expected = mnist_format.to_mnist(drawing).image
    np.testing.assert_allclose(row.image, expected, atol=0.5 / 255)
    assert Image.open(io.BytesIO(row.original_png)).size == (280, 280)

    message = classroom.submit_correction(
        drawing, 2, holder, store, "session-b", language="zh-CN"
    )
    assert message == "已保存：谢谢，目前共有 2 条纠正"


def test_a_correction_that_cannot_be_made_says_why(holder, tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    seven = example_drawing(7)

    def submit(drawing, label, language="en"):
        return classroom.submit_correction(
            drawing, label, holder, store, None, language=language
        )

    assert submit(EMPTY_SKETCHPAD, 3) == "Not saved: draw a digit first"
    assert submit(seven, None) == "Not saved: pick the digit it was"
    assert submit(seven, 7) == "Not saved: the model already said 7"
    assert submit(seven, 7, "zh-CN") == "未保存：模型已经答了 7"
    assert store.count() == 0

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    broken = FeedbackStore(blocked / DATABASE_FILE)
    message = classroom.submit_correction(seven, 1, holder, broken, None)
    assert message.startswith("Not saved: ")
    assert "the correction was not saved" not in message


def test_many_students_saving_at_once_lose_no_row(holder, tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    drawing = example_drawing(7)
    messages: list[str] = []
    start = threading.Barrier(8)

    def student(number: int) -> None:
        start.wait()
        for _ in range(5):
            messages.append(
                classroom.submit_correction(
                    drawing, 1, holder, store, f"student-{number}"
                )
            )

    threads = [threading.Thread(target=student, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(messages) == 40
    assert all(message.startswith("Saved: thanks") for message in messages)
    assert store.count() == 40
    board = store.scoreboard("student-3")
    assert board[1] == {"wrong": 5, "answer": 7, "answer_count": 5}


def test_the_gallery_and_scoreboard_show_the_corrections(holder, tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    assert "No corrections yet." in plain(classroom.mistakes_html(store, "en"))
    for label, session in ((1, "me"), (2, "me"), (1, "someone")):
        classroom.submit_correction(example_drawing(7), label, holder, store, session)
    page = classroom.mistakes_html(store, "en")
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", page)
    assert captions == [
        "true 1, model said 7",
        "true 2, model said 7",
        "true 1, model said 7",
    ]
    chinese = classroom.mistakes_html(store, "zh-CN")
    assert "正确 1，模型答 7" in chinese
    board = classroom.scoreboard_html(store, "me", "en")
    rows = {
        int(digit): (int(mine), int(everyone))
        for digit, mine, everyone in re.findall(
            r'<tr data-digit="(\d)"><th>\d</th><td class="session">(\d+)</td>'
            r'<td class="class">(\d+)</td>',
            board,
        )
    }
    assert rows[1] == (1, 2) and rows[2] == (1, 1) and rows[0] == (0, 0)


def test_the_export_trains_in_a_dry_run(holder, tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    for label in (1, 2, 3):
        classroom.submit_correction(example_drawing(7), label, holder, store, None)
    path, count = classroom.export_corrections(store, tmp_path)
    assert count == 3 and path.parent == tmp_path
    with np.load(path, allow_pickle=False) as exported:
        assert exported["x"].shape == (3, 28, 28)
        assert list(exported["y"]) == [1, 2, 3]
        assert list(exported["predicted"]) == [7, 7, 7]

    models = tmp_path / "models"
    command = [
        sys.executable, "-m", "training", "--arch", "seed", "--dry-run",
        "--store", str(models), "--feedback", str(path),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_current(models).record["feedback_examples"] == 3


def test_the_export_goes_to_a_temporary_folder_not_the_repository(tmp_path):
    store = FeedbackStore(tmp_path / DATABASE_FILE)
    path, count = classroom.export_corrections(store)
    try:
        assert count == 0
        assert ROOT not in path.parents
    finally:
        path.unlink(missing_ok=True)
        path.parent.rmdir()


# The page in a browser.


def visible_texts(page) -> list[str]:
    return page.eval_on_selector_all(
        "label, .label-wrap span, button, [data-testid='block-info']",
        "nodes => nodes.map(n => n.innerText.trim()).filter(t => t)",
    )


@pytest.fixture(scope="module")
def classroom_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classroom")
    store = copy_store(folder / "store")
    data = folder / "data"
    with running_app(store, folder, {"DIGIT_SKETCHPAD_DATA": str(data)}) as running:
        running.data = data
        yield running


def test_the_language_switch_translates_the_page_and_back(classroom_app):
    with chromium_page() as page:
        page.goto(classroom_app.url)
        page.wait_for_selector("#weight-maps .weight-maps", timeout=60_000)
        texts = visible_texts(page)
        assert {"Draw here", "Save the correction", "What the model sees"} <= set(texts)
        assert page.inner_text("#prediction .answer") == "Draw a digit"

        page.click("#language label:has-text('简体中文')")
        page.wait_for_function(
            "() => document.querySelector('#prediction .answer').innerText"
            " === '画一个数字'",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => document.querySelector('#weight-maps h3').innerText"
            " === '每个隐藏单元在找什么'",
            timeout=30_000,
        )
        # Gradio loads its own Chinese texts before it shows ours.
        page.wait_for_selector("#correction-save:has-text('保存纠正')", timeout=30_000)
        texts = visible_texts(page)
        assert {
            "在这里画",
            "保存纠正",
            "模型看到的",
            "网络内部",
            "敏感度",
        } <= set(texts)
        assert "Draw here" not in texts

        page.click("#language label:has-text('English')")
        page.wait_for_function(
            "() => document.querySelector('#prediction .answer').innerText"
            " === 'Draw a digit'",
            timeout=30_000,
        )
        page.wait_for_selector(
            "#correction-save:has-text('Save the correction')", timeout=30_000
        )
        assert {"Draw here", "Inside the network"} <= set(visible_texts(page))


def test_a_chinese_browser_gets_chinese_and_saves_a_correction(classroom_app):
    with chromium_page(locale="zh-CN") as page:
        page.goto(classroom_app.url)
        page.wait_for_selector(".pixi-target canvas", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('#weight-maps h3')?.innerText"
            " === '每个隐藏单元在找什么'",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => document.querySelector('#prediction .answer').innerText"
            " !== 'Draw a digit'",
            timeout=30_000,
        )
        assert page.inner_text("#prediction .answer") == "画一个数字"
        assert {"在这里画", "答错了，应该是", "保存纠正"} <= set(visible_texts(page))
        assert page.is_checked("#language input[value='zh-CN']")

        # Gradio has no Chinese name for the brush tool: its label stays English.
        page.click("#sketchpad button[aria-label='Brush']")
        before = answer_html(page)
        draw(page, SEVEN, app.CANVAS_SIDE)
        text = wait_for_new_answer(page, before)
        assert re.fullmatch(r"7 把握 \d+%", text), text

        assert page.locator("#mistakes figure").count() == 0
        page.click("#correction-digit label:has-text('1')")
        page.click("#correction-save")
        page.wait_for_selector("#correction-status .saved", timeout=30_000)
        assert (
            page.inner_text("#correction-status") == "已保存：谢谢，目前共有 1 条纠正"
        )
        page.wait_for_selector("#mistakes figure", timeout=30_000)
        assert page.inner_text("#mistakes figcaption") == "正确 1，模型答 7"

    (row,) = FeedbackStore(classroom_app.data / DATABASE_FILE).recent()
    assert (row.label, row.predicted) == (1, 7)
    assert row.model_name.startswith("mlp-") and row.session
    assert datetime.fromisoformat(row.created).tzinfo is not None
