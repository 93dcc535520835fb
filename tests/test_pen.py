"""The pen is ready: a learner draws at once, on page load and after Clear; and the
first answer comes from the pen's own points, while the pen is still down."""

from __future__ import annotations

import re

import pytest

import app
from tests.serving import (
    PREDICTION_IDLE,
    answer_html,
    chromium_page,
    clear_canvas,
    copy_store,
    draw,
    image_square,
    is_sketchpad_event,
    running_app,
    wait_for_new_answer,
)

ONE = [[(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)]]
SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)]]
ACTIVE_TOOL = "#sketchpad .toolbar-wrap button.highlight"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pen")
    with (
        running_app(copy_store(folder / "store"), folder) as live,
        chromium_page() as opened,
    ):
        opened.goto(live.url)
        opened.wait_for_selector(".pixi-target canvas", timeout=60_000)
        yield opened


def clear(page) -> None:
    assert ["Draw a digit", 0] in clear_canvas(page)


def draw_and_read(page, strokes) -> str:
    """Draws without touching any tool and returns the answer that follows."""
    page.wait_for_selector(ACTIVE_TOOL, timeout=10_000)
    before = answer_html(page)
    draw(page, strokes, app.CANVAS_SIDE)
    return wait_for_new_answer(page, before)


def test_drawing_without_choosing_a_tool_answers_on_load_and_after_clear(page):
    assert page.inner_text("#prediction .answer") == "Draw a digit"
    assert page.locator(ACTIVE_TOOL).count() == 1
    first_tool = page.locator("#sketchpad .toolbar-wrap button").first
    assert "highlight" in first_tool.get_attribute("class")

    assert re.fullmatch(r"1 \d+% sure", draw_and_read(page, ONE))
    clear(page)
    assert re.fullmatch(r"7 \d+% sure", draw_and_read(page, SEVEN))
    clear(page)


def test_choosing_the_eraser_is_respected(page):
    eraser = page.locator("#sketchpad .toolbar-wrap button").nth(1)
    eraser.click()
    page.wait_for_timeout(300)
    assert "highlight" in eraser.get_attribute("class")
    assert page.locator(ACTIVE_TOOL).count() == 1
    # Back to the pen: clicking the active brush keeps it active.
    brush = page.locator("#sketchpad .toolbar-wrap button").first
    brush.click()
    brush.click()
    page.wait_for_timeout(300)
    assert "highlight" in brush.get_attribute("class")


ANSWER_MATCHES = """(pattern) => {
  const answer = document.querySelector('#prediction .answer');
  return answer !== null && new RegExp(pattern).test(answer.innerText);
}"""


def wait_for_answer_matching(page, pattern: str) -> str:
    page.wait_for_function(ANSWER_MATCHES, arg=pattern, timeout=30_000)
    return page.inner_text("#prediction .answer")


def test_the_answer_comes_from_the_pen_before_the_canvas_is_read_back(page):
    uploads = []
    page.on(
        "request",
        lambda request: (
            uploads.append(request.url) if "/component_server" in request.url else None
        ),
    )
    page.wait_for_selector(ACTIVE_TOOL, timeout=10_000)
    with page.expect_response(is_sketchpad_event, timeout=30_000):
        draw(page, SEVEN, app.CANVAS_SIDE, settle=False)
        wait_for_answer_matching(page, r"^7 \d+% sure$")
        # The Sketchpad has not sent its drawing yet: this answer is the fast path's.
        assert uploads == []
    page.wait_for_function(PREDICTION_IDLE, timeout=30_000)
    assert re.fullmatch(r"7 \d+% sure", page.inner_text("#prediction .answer"))
    clear(page)


def test_a_long_stroke_is_answered_while_the_pen_is_still_down(page):
    page.wait_for_selector(ACTIVE_TOOL, timeout=10_000)
    assert page.inner_text("#prediction .answer") == "Draw a digit"
    left, top, side = image_square(page, app.CANVAS_SIDE)
    page.mouse.move(left + 0.5 * side, top + 0.1 * side)
    page.mouse.down()
    for step in range(1, 9):
        page.mouse.move(left + 0.5 * side, top + (0.1 + 0.1 * step) * side)
    wait_for_answer_matching(page, r"^1 \d+% sure$")
    with page.expect_response(is_sketchpad_event, timeout=30_000):
        page.mouse.up()
    page.wait_for_function(PREDICTION_IDLE, timeout=30_000)
    clear(page)
