"""Starting the real app on a free loopback port, and a real browser to open it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import COMMITTED_STORE, ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 120
ANSWER_TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_store(target: Path) -> Path:
    """A private copy of the committed models, so a test may publish into it."""
    shutil.copytree(COMMITTED_STORE, target)
    return target


class RunningApp:
    def __init__(self, process: subprocess.Popen, url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop(process: subprocess.Popen) -> None:
    """Ends a server politely, and for good if it does not listen."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_app(
    store: Path,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    script: str = "app.py",
) -> Iterator[RunningApp]:
    """Runs ``python app.py`` (or another ``script`` of the repository) exactly as a
    user would, on 127.0.0.1 and a free port."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "DIGIT_MODEL_STORE": str(store),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(extra_env or {}),
    }
    env.pop("PORT", None)
    log_path = log_dir / f"{Path(script).stem}-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, script],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    app = RunningApp(process, url, log_path)
    try:
        wait_until_up(app)
        yield app
    finally:
        stop(process)


def wait_until_up(app: RunningApp) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"app exited early:\n{app.log()[-3000:]}")
        try:
            if httpx.get(app.url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"app did not answer within {START_TIMEOUT_S} s:\n{app.log()}")


@contextlib.contextmanager
def chromium_page(viewport=(1280, 900), locale: str = "en-US"):
    """A page in Debian's Chromium, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--lang={locale}"],
        )
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, locale=locale
            )
            yield context.new_page()
        finally:
            browser.close()


# Drawing on the Sketchpad with the mouse.

ANSWER_READY = """(previous) => {
  const answer = document.querySelector('#prediction .answer');
  return answer !== null && answer.outerHTML !== previous;
}"""


def image_square(page, canvas_side: int) -> tuple[float, float, float]:
    """Where the drawing surface is on screen: left, top and side in CSS pixels.

    The canvas element is larger than the image and shows it centred at the zoom the
    toolbar displays, so points are mapped into that square, not the element's box.
    """
    left, top, width, height = page.eval_on_selector(
        ".pixi-target canvas",
        "e => { const r = e.getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; }",
    )
    zoom_text = page.inner_text("#sketchpad")
    zoom = float(re.search(r"(\d+)%", zoom_text).group(1)) / 100
    side = canvas_side * zoom
    return left + (width - side) / 2, top + (height - side) / 2, side


# The answer is pending while the status tracker of #prediction is translucent.
PREDICTION_IDLE = """() => {
  const tracker = document.querySelector('#prediction [data-testid=status-tracker]');
  return tracker !== null && !tracker.classList.contains('translucent');
}"""


def is_sketchpad_event(response) -> bool:
    """The stroke's event, sent outside the queue: its first input is the Sketchpad's
    value as the page copies it (app.COPY_VALUE_JS), the id of the images the
    Sketchpad sent ahead or the files it uploaded."""
    body = response.request.post_data or ""
    return "/run/predict" in response.url and (
        body.startswith('{"data":[{"id":') or '"composite"' in body
    )


def draw(page, strokes, canvas_side: int, *, settle: bool = True) -> None:
    """Draws strokes given as lists of (x, y) in [0, 1] of the drawing surface.

    The app answers twice: first from the pen's points (``fast_path.py``), then from
    the Sketchpad's own event. With ``settle`` this returns once the Sketchpad's
    answer is on the page, so that what the page shows next is the final answer.
    """
    left, top, side = image_square(page, canvas_side)
    for number, points in enumerate(strokes, start=1):
        (x, y), rest = points[0], points[1:]
        page.mouse.move(left + x * side, top + y * side)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(left + x * side, top + y * side, steps=2)
        if not settle or number < len(strokes):
            page.mouse.up()
            continue
        # The Sketchpad reads the canvas back after the pen lifts, so its event for
        # the whole drawing joins the queue after the last mouse-up.
        with page.expect_response(is_sketchpad_event, timeout=ANSWER_TIMEOUT_MS):
            page.mouse.up()
        page.wait_for_function(PREDICTION_IDLE, timeout=ANSWER_TIMEOUT_MS)


def answer_html(page) -> str:
    return page.eval_on_selector("#prediction .answer", "e => e.outerHTML")


def wait_for_new_answer(page, previous: str, timeout_s: float = 30) -> str:
    page.wait_for_function(ANSWER_READY, arg=previous, timeout=timeout_s * 1000)
    return page.inner_text("#prediction .answer")


# From now on, every (answer, number of bars) the page shows, in window.shownStates.
RECORD_STATES = """() => {
  window.stateObserver?.disconnect();
  window.shownStates = [];
  const record = () => {
    const answer = document.querySelector('#prediction .answer');
    const state = [answer ? answer.innerText : null,
                   document.querySelectorAll('#bars .bar').length];
    const last = window.shownStates[window.shownStates.length - 1];
    if (!last || last[0] !== state[0] || last[1] !== state[1])
      window.shownStates.push(state);
  };
  window.stateObserver = new MutationObserver(record);
  window.stateObserver.observe(document.body,
    {subtree: true, childList: true, characterData: true});
}"""


def clear_canvas(page) -> list[list]:
    """Clicks Clear and waits for the empty answer; returns every (answer, number of
    bars) shown since the click.

    Gradio's Sketchpad can send the drawing from before the click once more after
    it (README, Known limitations), so the empty answer is looked for among all the
    page showed, not only in what it shows last.
    """
    page.evaluate(RECORD_STATES)
    page.click("#sketchpad button[aria-label='Clear canvas']")
    page.wait_for_function(
        "() => window.shownStates.some(([answer]) => answer === 'Draw a digit')",
        timeout=ANSWER_TIMEOUT_MS,
    )
    return page.evaluate("window.shownStates")


def shown_bars(page) -> list[tuple[str, str, bool]]:
    return page.eval_on_selector_all(
        "#bars .bar",
        "rows => rows.map(r => [r.querySelector('.label').innerText,"
        " r.querySelector('.value').innerText, r.classList.contains('top')])",
    )
