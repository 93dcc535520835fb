"""What the page shows for one drawing: the answer, the ten bars and the model's view.

`classify` turns a drawing into these three pieces of HTML, in English or Chinese
(`texts`). The pictures travel inline as small PNGs, so a stroke's answer costs the
browser no extra request. `Drawn` is a drawing as it was read, which the page's events
that do not start from a stroke answer again.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

import feedback
import mnist_format
from texts import ENGLISH, checked_language, text

NUM_CLASSES = 10
DIGITS = tuple(range(NUM_CLASSES))

# Below this top probability the answer says it is unsure instead of naming a digit.
# At 0.6 the default model is unsure on 0.5% of the MNIST test digits (a third of
# which it would get wrong), and on most drawings that are not digits at all.
UNSURE_BELOW = 0.6
# Share of the 28x28 field inked above half strength: 13% for an average MNIST
# training digit and at most 40% for any of the 60,000. More is a scribble.
SCRIBBLE_INK_FRACTION = 0.45
# Most scribbles are caught by both of these together: over 45% of the ink's square box
# inked as drawn, and over 20% of the 28x28 field once thinned. Of 12,000 MNIST training
# digits 5 pass both (0.04%); random scribbles of 30 strokes or more with the app's pen
# and a zigzag over the canvas (tests/test_robustness.py) all do.
SCRIBBLE_DRAWN_FRACTION = 0.45
SCRIBBLE_THINNED_FRACTION = 0.2
ENLARGED_SIDE = 168  # How big "what the model sees" is drawn, in CSS pixels.

# The preprocessing steps shown, by the keys of `mnist_format.MnistDigit.steps`.
STEP_KEYS = ("ink", "cropped", "box", "field", "centred")


@dataclass(frozen=True)
class Drawn:
    """A drawing as it was read: its MNIST form with the steps that made it, or why it
    could not be read, and the picture as drawn.

    The page keeps the last stroke's `Drawn` for its other events (another model or
    language, a slider, "that's wrong"): asking the browser for the Sketchpad's value
    again costs it a read-back of the canvas and the server three uploads (app.py).
    ``digit`` is None when nothing is drawn, or when ``error`` says what is wrong;
    ``original`` is the drawing's composite image, which a correction keeps.
    """

    digit: mnist_format.MnistDigit | None = None
    original: np.ndarray | Image.Image | None = None  # See kept_original.
    error: str | None = None

    @classmethod
    def read(cls, drawing: Any) -> Drawn:
        """Anything `mnist_format.to_mnist` takes; a `Drawn` comes back as it is."""
        if isinstance(drawing, Drawn):
            return drawing
        try:
            digit = mnist_format.to_mnist(drawing, with_steps=True)
        except (ValueError, TypeError) as error:
            return cls(error=str(error))
        original = drawing.get("composite") if isinstance(drawing, dict) else drawing
        return cls(digit, kept_original(original))


def kept_original(original: Any) -> np.ndarray | Image.Image | None:
    """The composite as a `Drawn` keeps it, for a correction: a path or a file dict
    is not kept (the 28x28 form is what matters); encoded bytes are kept as they came,
    decoded only if a correction keeps them; a decoded picture larger than what a
    correction stores is reduced now (every n-th pixel), since every tab
    keeps its last drawing in memory and a 4000x4000 one would hold 64 MB.
    """
    if isinstance(original, bytes):
        try:
            return Image.open(io.BytesIO(original))
        except (OSError, Image.DecompressionBombError):
            return None
    if isinstance(original, Image.Image):
        side = max(original.size)
    elif isinstance(original, np.ndarray) and original.ndim >= 2:
        side = max(original.shape[:2])
    else:
        return None
    factor = -(-side // feedback.ORIGINAL_MAX_SIDE)
    if factor <= 1:
        return original
    if isinstance(original, Image.Image):
        return original.reduce(factor)  # A box average, in C.
    return np.ascontiguousarray(original[::factor, ::factor])


def is_scribble(image28: np.ndarray, drawn: np.ndarray | None = None) -> bool:
    """Too much ink for a digit; ``drawn`` is the ink as drawn, cropped to its box.

    Thinning the strokes to MNIST's width turns a dense scribble into a web of thin
    lines, so the 28x28 ink alone misses most scribbles; with the ink as drawn, a
    scribble is dense in its box and still inky after thinning.
    """
    inked = float((image28 > 0.5).mean())
    if inked > SCRIBBLE_INK_FRACTION:
        return True
    if drawn is None:
        return False
    covered = float((drawn > 0.5).sum()) / max(drawn.shape) ** 2
    return covered > SCRIBBLE_DRAWN_FRACTION and inked > SCRIBBLE_THINNED_FRACTION


def png_data_uri(pixels: np.ndarray) -> str:
    """A greyscale image in [0, 1] or an RGB uint8 image as an inline PNG."""
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255).round()
        picture = Image.fromarray(array.astype(np.uint8), mode="L")
    else:
        picture = Image.fromarray(np.asarray(array, dtype=np.uint8), mode="RGB")
    buffer = io.BytesIO()
    # A stroke's answer holds 17 of these small pictures: zlib's fastest level makes
    # it 10% quicker than the default level, for 5% more bytes.
    picture.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def answer_html(
    probabilities: np.ndarray | None,
    scribble: bool = False,
    language: str = ENGLISH,
) -> str:
    """The big answer: the digit first, then how sure the model is."""
    if probabilities is None:
        return f'<div class="answer empty">{text("draw_a_digit", language)}</div>'
    if scribble:
        return f'<div class="answer unsure">{text("scribble", language)}</div>'
    ranked = np.argsort(probabilities)[::-1]
    top, runner_up = int(ranked[0]), int(ranked[1])
    if probabilities[top] < UNSURE_BELOW:
        maybe = text(
            "maybe",
            language,
            first=top,
            first_percent=f"{probabilities[top]:.0%}",
            second=runner_up,
            second_percent=f"{probabilities[runner_up]:.0%}",
        )
        return f'<div class="answer unsure">{maybe}</div>'
    sure = text("sure", language, percent=f"{probabilities[top]:.0%}")
    return (
        f'<div class="answer"><span class="digit">{top}</span> '
        f'<span class="confidence">{sure}</span></div>'
    )


def bars_html(probabilities: np.ndarray | None) -> str:
    """All ten digits in order with their probability in percent, the top one marked;
    numbers only, so the same in every language."""
    if probabilities is None:
        return '<div class="bars empty"></div>'
    top = int(np.argmax(probabilities))
    rows = []
    for digit in DIGITS:
        percent = 100.0 * float(probabilities[digit])
        kind = "bar top" if digit == top else "bar"
        rows.append(
            f'<div class="{kind}" data-digit="{digit}">'
            f'<span class="label">{digit}</span>'
            f'<span class="track"><span class="fill" style="width:{percent:.1f}%">'
            f'</span></span><span class="value">{percent:.1f}%</span></div>'
        )
    return '<div class="bars">' + "".join(rows) + "</div>"


def model_view_html(
    digit: mnist_format.MnistDigit | None, language: str = ENGLISH
) -> str:
    """The 28x28 input enlarged without smoothing, and the steps that made it."""
    if digit is None:
        return f'<div class="model-view empty">{text("sees_nothing", language)}</div>'
    steps = "".join(
        f'<figure><img src="{png_data_uri(image)}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for key in STEP_KEYS
        if (image := digit.steps.get(key)) is not None
        and (title := text(f"step_{key}", language))
    )
    alt = html.escape(text("input_alt", language))
    return (
        '<div class="model-view">'
        f'<img class="seen" src="{png_data_uri(digit.image)}" width="{ENLARGED_SIDE}"'
        f' height="{ENLARGED_SIDE}" alt="{alt}">'
        f'<div class="steps">{steps}</div></div>'
    )


def error_html(message: str, language: str = ENGLISH, key: str = "unreadable") -> str:
    escaped = html.escape(text(key, language, error=message))
    return f'<div class="answer error">{escaped}</div>'


def classify(
    drawing: Any, choice: str | None, holder: Any, language: str = ENGLISH
) -> tuple[str, str, str]:
    """What the page shows for one drawing: answer, bars, and the model's view.

    ``drawing`` is anything `Drawn.read` takes. ``holder`` is the app's
    `app.ModelHolder`; ``choice`` the model picked on the page.
    """
    drawn = Drawn.read(drawing)
    if drawn.error is not None:
        return unreadable(drawn.error, language)
    return classify_digit(drawn.digit, choice, holder, language)


def unreadable(error: Exception | str, language: str = ENGLISH) -> tuple[str, str, str]:
    """`classify`'s answer for a drawing `mnist_format.to_mnist` could not read."""
    language = checked_language(language)
    return (
        error_html(str(error), language),
        bars_html(None),
        model_view_html(None, language),
    )


def classify_digit(
    digit: mnist_format.MnistDigit | None,
    choice: str | None,
    holder: Any,
    language: str = ENGLISH,
) -> tuple[str, str, str]:
    """`classify` for a drawing already in MNIST format, with its steps."""
    from model_store import ModelStoreError

    language = checked_language(language)
    nothing = model_view_html(None, language)
    if digit is None:
        return answer_html(None, language=language), bars_html(None), nothing
    try:
        served = holder.get(choice)
    except ModelStoreError as error:
        # A model chosen on the page whose file has since been damaged.
        message = holder.for_page(str(error))
        return error_html(message, language, "model_unusable"), bars_html(None), nothing
    probabilities = served.probabilities(digit.vector)
    scribble = is_scribble(digit.image, digit.steps.get("cropped"))
    return (
        answer_html(probabilities, scribble, language),
        bars_html(probabilities),
        model_view_html(digit, language),
    )
