"""The classroom: what happens inside the network, and what the class has taught it.

`build_classroom` adds three tabs to the app's page, inside `app.build_demo`'s Blocks:

- Inside the network: the first layer's weights as 28x28 maps (`teaching.weight_maps`,
  coloured by `teaching.diverging_image`), and for the current drawing the hidden
  units' activations as bars and the drawing times each map (`teaching.contributions`).
- Sensitivity: sliders that move, turn and thicken the current drawing
  (`teaching.perturb`), with the model's answer for the changed drawing.
- The class's mistakes: "that's wrong, it was N" under the answer saves the drawing with
  `feedback.FeedbackStore`; a gallery of the latest corrections, a per-digit
  scoreboard for the session and the class, and the export for
  ``python -m training --feedback FILE``.

Every text comes from `texts`, in English or Simplified Chinese: the HTML made here is
in the language the page's switch holds. Everything above `build_classroom` is a pure
function, testable without a browser.
"""

import html
import logging
import math
import reprlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import mnist_format
import teaching
from answers import Drawn, answer_html, bars_html, png_data_uri
from feedback import FeedbackError, FeedbackStore
from texts import (
    ENGLISH,
    LANGUAGE_NAMES,
    LANGUAGES,
    checked_language,
    label,
    pick_language,
    text,
)

log = logging.getLogger("digit_sketchpad")

NUM_CLASSES = 10
DIGITS = tuple(range(NUM_CLASSES))

# How many hidden units the maps and bars show: all ten of the seed model, the ten
# most informative of a wider one (see `shown_units`).
UNITS_SHOWN = teaching.MAP_COUNT
MAP_SIDE = 84  # CSS pixels of one weight or contribution map: 3 per MNIST pixel.
SEEN_SIDE = 112  # CSS pixels of the changed drawing in the sensitivity tab.
CORRECTION_THUMB_SIDE = 56
GALLERY_LIMIT = 24

# The sensitivity sliders' ranges. Four pixels is as far as MNIST's own centring
# leaves a digit from the middle; 45 degrees and two strokes' steps are beyond what a
# hand does by accident, so the class sees where the model breaks.
SHIFT_LIMIT = 6
ROTATION_LIMIT = 45
THICKNESS_LIMIT = 2

# Activations squashed into [0, 1] are drawn to that scale; others (relu) to the
# largest value shown, so the bars stay comparable with each other.
BOUNDED_ACTIVATIONS = frozenset({"sigmoid", "softmax"})


def coloured_uri(map28: np.ndarray, scale: float) -> str:
    """A weight or contribution map on the red-white-blue scale, 28x28 pixels.

    The browser enlarges it without smoothing (CSS ``image-rendering: pixelated``),
    which keeps the PNG small and shows each weight as one square.
    """
    return png_data_uri(
        teaching.diverging_image(
            map28, scale=scale if scale > 0 else 1.0, size=mnist_format.IMAGE_SIDE
        )
    )


# Inside the network.


def shown_units(weights: Sequence[teaching.DenseLayer]) -> tuple[np.ndarray, bool]:
    """The hidden units to show, and whether they are a choice among more.

    A first layer of at most `UNITS_SHOWN` units is shown whole. From a wider one the
    app shows those `teaching.informative_units` ranks first without a sample: the
    length of a unit's input weights times that of its outgoing weights. The rule with a
    sample of MNIST would be better, but the app must not load MNIST at run time (a
    Space has none), and the rule needs nothing but the weights.
    """
    units = weights[0][0].shape[1]
    if units <= UNITS_SHOWN:
        return np.arange(units), False
    return teaching.informative_units(weights, UNITS_SHOWN), True


def map_scale(maps: Sequence[np.ndarray]) -> float:
    """One colour scale for a set of maps, so that the same colour means the same."""
    largest = max((float(np.abs(single).max()) for single in maps), default=0.0)
    return largest if largest > 0 else 1.0


def legend_uri(scale: float) -> str:
    return png_data_uri(teaching.colour_legend(scale))


def weight_maps_html(served: Any, language: str) -> str:
    """The first layer's maps, a legend, and a sentence on which units these are."""
    language = checked_language(language)
    if served.weights is None:
        message = text("not_dense", language, model=served.name)
        return f'<div class="weight-maps empty">{html.escape(message)}</div>'
    units, chosen = shown_units(served.weights)
    maps = teaching.weight_maps(served.weights[0][0], order=units)
    scale = map_scale(maps)
    total = served.weights[0][0].shape[1]
    if chosen:
        how = text(
            "maps_chosen", language, count=len(units), total=total, model=served.name
        )
    else:
        how = text("maps_all", language, count=total, model=served.name)
    figures = "".join(
        f'<figure data-unit="{unit}"><img src="{coloured_uri(map28, scale)}" '
        f'width="{MAP_SIDE}" height="{MAP_SIDE}" alt="{name}">'
        f"<figcaption>{name}</figcaption></figure>"
        for unit, map28 in zip(units, maps, strict=True)
        if (name := text("unit", language, unit=unit))
    )
    return (
        f'<div class="weight-maps"><h3>{text("maps_title", language)}</h3>'
        f'<p class="how">{html.escape(how)}</p><div class="maps">{figures}</div>'
        f'<img class="legend" src="{legend_uri(scale)}" '
        f'alt="-{scale:.2g} .. +{scale:.2g}">'
        f'<p class="legend-text">{text("maps_legend", language)}</p></div>'
    )


def active_units(weights: Sequence[teaching.DenseLayer], outputs: np.ndarray):
    """The units to show for one drawing: all of a small layer, else the most active.

    In a wide relu layer most units are silent for any one drawing, so the units
    `shown_units` picks for the maps would mostly show zero bars; the drawing's own
    most active units show what it sets off. Ties go to the lower index.
    """
    if len(outputs) <= UNITS_SHOWN:
        return np.arange(len(outputs))
    return np.argsort(-outputs, kind="stable")[:UNITS_SHOWN]


def activity(served: Any, image28: np.ndarray) -> dict[str, Any]:
    """What the first layer does with one drawing, for the units `active_units` picks.

    ``activations`` are the units' outputs, ``pre_activations`` their inputs before
    the activation (kernel column . pixels + bias), ``contributions`` the 28x28 maps of
    pixel times weight, which sum with the bias to the pre-activation.
    """
    kernel, bias, activation = served.weights[0]
    vector = np.asarray(image28, dtype=np.float64).reshape(1, -1)
    outputs = teaching.hidden_activations(served.weights, vector)[0]
    units = active_units(served.weights, outputs)
    return {
        "units": units,
        "total": len(outputs),
        "activation": activation,
        "activations": outputs[units],
        "pre_activations": (vector @ kernel + bias)[0][units],
        "contributions": teaching.contributions(kernel, vector, units),
    }


def activity_html(served: Any, image28: np.ndarray | None, language: str) -> str:
    language = checked_language(language)
    if served.weights is None:
        message = text("not_dense", language, model=served.name)
        return f'<div class="activity empty">{html.escape(message)}</div>'
    if image28 is None:
        return f'<div class="activity empty">{text("activity_empty", language)}</div>'
    seen = activity(served, image28)
    values = seen["activations"]
    if seen["activation"] in BOUNDED_ACTIVATIONS:
        bar_scale = 1.0
    else:
        bar_scale = max(float(np.abs(values).max()), 1e-12)
    scale = map_scale(seen["contributions"])
    rows, figures = [], []
    for unit, value, before, picture in zip(
        seen["units"],
        values,
        seen["pre_activations"],
        seen["contributions"],
        strict=True,
    ):
        name = text("unit", language, unit=unit)
        width = min(100.0, 100.0 * abs(float(value)) / bar_scale)
        rows.append(
            f'<div class="bar" data-unit="{unit}"><span class="label">{name}</span>'
            f'<span class="track"><span class="fill" style="width:{width:.1f}%">'
            f'</span></span><span class="value">{value:.2f}</span></div>'
        )
        figures.append(
            f'<figure data-unit="{unit}"><img src="{coloured_uri(picture, scale)}" '
            f'width="{MAP_SIDE}" height="{MAP_SIDE}" alt="{name}">'
            f'<figcaption>{name}: <span class="sum">{before:+.2f}</span>'
            "</figcaption></figure>"
        )
    if len(seen["units"]) < seen["total"]:
        which = text(
            "activity_chosen", language, count=len(seen["units"]), total=seen["total"]
        )
    else:
        which = text("activity_all", language, count=seen["total"])
    return (
        f'<div class="activity"><h3>{text("activity_title", language)}</h3>'
        f'<p class="how">{html.escape(which)}</p>'
        f'<div class="unit-bars">{"".join(rows)}</div>'
        f'<div class="maps">{"".join(figures)}</div>'
        f'<p class="legend-text">{text("activity_help", language)}</p></div>'
    )


def digit_of(drawing: Any) -> mnist_format.MnistDigit | None:
    """The drawing (anything `Drawn.read` takes) in MNIST format; None when nothing
    (readable) is drawn."""
    return Drawn.read(drawing).digit


def drawing_activity_html(
    drawing: Any, choice: str | None, holder: Any, language: str
) -> str:
    """`activity_html` for the page's drawing and model."""
    digit = digit_of(drawing)
    image28 = None if digit is None else digit.image
    return activity_html(holder.get(choice), image28, language)


# Sensitivity.


def sensitivity(
    served: Any,
    image28: np.ndarray,
    *,
    shift_down: float = 0.0,
    shift_right: float = 0.0,
    rotation_deg: float = 0.0,
    thickness: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The changed digit and the model's probabilities for it.

    With no change at all the digit is the drawing itself, untouched, so the answer is
    exactly the one the page shows above.
    """
    if not (shift_down or shift_right or rotation_deg or thickness):
        changed = np.asarray(image28, dtype=np.float32)
    else:
        changed = teaching.perturb(
            image28,
            shift=(shift_down, shift_right),
            rotation_deg=rotation_deg,
            thickness=int(thickness),
        )
    vector = changed.reshape(1, mnist_format.PIXEL_COUNT)
    return changed, served.probabilities(vector)


def sensitivity_html(
    drawing: Any,
    choice: str | None,
    holder: Any,
    changes: dict[str, float],
    language: str,
) -> str:
    """`digit_sensitivity_html` for the page's drawing and model."""
    return digit_sensitivity_html(
        digit_of(drawing), holder.get(choice), changes, language
    )


def digit_sensitivity_html(
    digit: mnist_format.MnistDigit | None,
    served: Any,
    changes: dict[str, float],
    language: str,
) -> str:
    """The changed digit and ``served``'s answer for it; ``changes`` as the sliders
    set them (`slider_changes`)."""
    language = checked_language(language)
    if digit is None:
        return (
            f'<div class="sensitivity empty">{text("sensitivity_empty", language)}'
            "</div>"
        )
    changed, probabilities = sensitivity(served, digit.image, **changes)
    answer = answer_html(probabilities, language=language)
    return (
        '<div class="sensitivity">'
        f'<img class="changed" src="{png_data_uri(changed)}" width="{SEEN_SIDE}" '
        f'height="{SEEN_SIDE}" alt="{text("changed_alt", language)}">'
        f'<div class="result">{answer}{bars_html(probabilities)}</div></div>'
    )


def slider_changes(down: Any, right: Any, turn: Any, thick: Any) -> dict[str, float]:
    """The sensitivity sliders' values as `sensitivity` takes them."""
    return {
        "shift_down": float(down),
        "shift_right": float(right),
        "rotation_deg": float(turn),
        "thickness": int(thick),
    }


# Enough of a caller's value to recognise it in a message.
SHORT = reprlib.Repr()
SHORT.maxstring = SHORT.maxother = 60


def checked_sliders(sliders: Sequence[Any], values: Sequence[Any]) -> tuple[float, ...]:
    """The sliders' values as the sliders accept them; gr.Error saying what is wrong
    with any other. Gradio's own check, which a handler taking its inputs unprocessed
    skips, lets NaN through."""
    import gradio as gr

    checked = []
    for slider, value in zip(sliders, values, strict=True):
        number = isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value)
        )
        if isinstance(value, bool) or not number:
            raise gr.Error(
                f"{slider.elem_id}: expected a number, got {SHORT.repr(value)}",
                print_exception=False,
            )
        try:
            checked.append(slider.preprocess(value))  # Gradio's own range check.
        except gr.Error as error:
            message = f"{slider.elem_id}: {error.message}"
            raise gr.Error(message, print_exception=False) from None
    return tuple(checked)


@dataclass(frozen=True)
class DrawingViews:
    """The classroom's views of the current drawing, which the app's drawing events
    fill along with the answer: one event per stroke rather than three.

    `render` takes the digit, the model choice, the language and then the values of
    ``inputs``; it returns what ``outputs`` show, in order.
    """

    inputs: list[Any]
    outputs: list[Any]
    holder: Any

    def checked_inputs(self, *values: Any) -> tuple[float, ...]:
        """`checked_sliders` for the sliders of ``inputs``."""
        return checked_sliders(self.inputs, values)

    def render(
        self,
        digit: mnist_format.MnistDigit | None,
        choice: str | None,
        language: str,
        *slider_values: Any,
    ) -> tuple[str, str]:
        """The network's activity and the sensitivity view for ``digit``."""
        from model_store import ModelStoreError

        try:
            served = self.holder.get(choice)
        except ModelStoreError:
            # The answer beside these views says what is wrong with the model.
            digit, served = None, self.holder.current()
        image28 = None if digit is None else digit.image
        return (
            activity_html(served, image28, language),
            digit_sensitivity_html(
                digit, served, slider_changes(*slider_values), language
            ),
        )


# The class's corrections.


def submit_correction(
    drawing: Any,
    label: Any,
    holder: Any,
    store: FeedbackStore,
    session: str | None,
    *,
    choice: str | None = None,
    language: str = ENGLISH,
) -> str:
    """Saves "that's wrong, it was ``label``" for ``drawing``; returns the message.

    The model's answer is computed again from the drawing with the model the page
    shows, so the row holds what the student saw. "Saved: ..." on success; "Not saved:
    ..." when there is nothing to save or the database refuses the row, in which case
    every earlier correction stays as it was.
    """
    return correct(
        drawing, label, holder, store, session, choice=choice, language=language
    )[1]


def correct(
    drawing: Any,
    label: Any,
    holder: Any,
    store: FeedbackStore,
    session: str | None,
    *,
    choice: str | None = None,
    language: str = ENGLISH,
) -> tuple[bool, str]:
    """`submit_correction`, also saying whether the row was saved."""
    language = checked_language(language)

    def refused(reason: str, **values: Any) -> tuple[bool, str]:
        return False, text(
            "not_saved", language, reason=text(reason, language, **values)
        )

    try:
        label = int(label)
    except (TypeError, ValueError):
        return refused("reason_no_label")
    if label not in DIGITS:
        return refused("reason_no_label")
    drawn = Drawn.read(drawing)
    if drawn.error is not None:
        return refused("reason_unreadable", error=drawn.error)
    digit = drawn.digit
    if digit is None:
        return refused("reason_nothing_drawn")
    served = holder.get(choice)
    predicted = int(np.argmax(served.probabilities(digit.vector)))
    if label == predicted:
        return refused("reason_was_right", digit=label)
    try:
        store.save(
            digit.image,
            label,
            predicted,
            served.name,
            session=session,
            original=drawn.original,
        )
    except FeedbackError as error:
        return False, text("not_saved", language, reason=error.reason)
    except ValueError as error:
        return False, text("not_saved", language, reason=str(error))
    try:
        return True, text("saved", language, count=store.count())
    except FeedbackError:
        # Saved all the same: only the count could not be read back.
        return True, text("saved_uncounted", language)


def status_html(saved: bool, message: str) -> str:
    kind = "saved" if saved else "refused"
    return f'<div class="correction-status {kind}">{html.escape(message)}</div>'


def mistakes_html(
    store: FeedbackStore, language: str, limit: int = GALLERY_LIMIT
) -> str:
    """The latest corrections, newest first: the 28x28 form and who said what."""
    language = checked_language(language)
    try:
        corrections = store.recent(limit)
    except FeedbackError as error:
        message = text("unavailable", language, error=str(error))
        return f'<div class="mistakes error">{html.escape(message)}</div>'
    title = f"<h3>{text('mistakes_title', language)}</h3>"
    if not corrections:
        return (
            f'<div class="mistakes">{title}'
            f'<p class="empty">{text("mistakes_empty", language)}</p></div>'
        )
    figures = []
    for correction in corrections:
        predicted = (
            text("no_answer", language)
            if correction.predicted is None
            else correction.predicted
        )
        caption = text(
            "mistake_caption", language, label=correction.label, predicted=predicted
        )
        figures.append(
            f'<figure data-id="{correction.id}" data-label="{correction.label}">'
            f'<img src="{png_data_uri(correction.image)}" '
            f'width="{CORRECTION_THUMB_SIDE}" height="{CORRECTION_THUMB_SIDE}" '
            f'alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    gallery = "".join(figures)
    return f'<div class="mistakes">{title}<div class="gallery">{gallery}</div></div>'


def scoreboard_html(store: FeedbackStore, session: str | None, language: str) -> str:
    """Per digit: how often it was misread in this session and by the class."""
    language = checked_language(language)
    try:
        mine = store.scoreboard(session) if session else None
        everyone = store.scoreboard(None)
    except FeedbackError as error:
        message = text("unavailable", language, error=str(error))
        return f'<div class="scoreboard error">{html.escape(message)}</div>'
    header = "".join(
        f"<th>{text(key, language)}</th>"
        for key in (
            "scoreboard_digit",
            "scoreboard_session",
            "scoreboard_class",
            "scoreboard_answer",
        )
    )
    rows = []
    for digit in DIGITS:
        own = mine[digit]["wrong"] if mine else 0
        entry = everyone[digit]
        answer = entry.get("answer")
        read_as = "" if answer is None else f"{answer} ({entry['answer_count']})"
        rows.append(
            f'<tr data-digit="{digit}"><th>{digit}</th><td class="session">{own}</td>'
            f'<td class="class">{entry["wrong"]}</td><td>{read_as}</td></tr>'
        )
    return (
        f'<div class="scoreboard"><h3>{text("scoreboard_title", language)}</h3>'
        f"<table><tr>{header}</tr>{''.join(rows)}</table></div>"
    )


def export_corrections(
    store: FeedbackStore, folder: Path | None = None
) -> tuple[Path, int]:
    """Writes the corrections as ``corrections.npz`` in a new temporary folder.

    The file is for ``python -m training --feedback FILE``; it goes to a temporary
    folder, never into the repository or the data directory.
    """
    folder = (
        Path(folder)
        if folder is not None
        else Path(tempfile.mkdtemp(prefix="digit-sketchpad-export-"))
    )
    path = folder / "corrections.npz"
    return path, store.export_npz(path)


# The page.

CSS = """
#language { max-width: 22rem; }
#classroom img { image-rendering: pixelated; }
#classroom .maps, #mistakes .gallery { display: flex; flex-wrap: wrap; gap: 0.5rem; }
#classroom figure { margin: 0; font-size: 0.75rem; text-align: center; }
#classroom .maps img { border: 1px solid #ccc; }
#classroom .how, #classroom .legend-text { font-size: 0.85rem; color: #555; }
#activity .bar { display: flex; align-items: center; gap: 0.5rem; margin: 2px 0; }
#activity .label { width: 4.5rem; font-size: 0.8rem; text-align: right; }
#activity .track { flex: 1; background: #eee; height: 0.9rem; border-radius: 3px; }
#activity .fill { display: block; height: 100%; background: #8aa4c8;
  border-radius: 3px; }
#activity .value { width: 3rem; text-align: right; font-variant-numeric: tabular-nums; }
#sensitivity .sensitivity { display: flex; gap: 1rem; align-items: flex-start; }
#sensitivity img.changed { background: #000; border: 1px solid #ccc; }
#sensitivity .result { flex: 1; }
#sensitivity .answer { font-size: 1.2rem; }
#sensitivity .digit { font-size: 2.5rem; font-weight: 700; margin-right: 0.4rem; }
#sensitivity .bar { display: flex; align-items: center; gap: 0.5rem; margin: 1px 0; }
#sensitivity .label { width: 1.2rem; font-weight: 600; text-align: right; }
#sensitivity .track { flex: 1; background: #eee; height: 0.9rem; border-radius: 3px; }
#sensitivity .fill { display: block; height: 100%; background: #8aa4c8;
  border-radius: 3px; }
#sensitivity .top .fill { background: #e4572e; }
#sensitivity .value { width: 3.6rem; text-align: right; }
#correction-status .saved { color: #1b7a1b; }
#correction-status .refused { color: #b00020; }
#mistakes img { background: #000; }
#scoreboard td, #scoreboard th { padding: 2px 8px; text-align: right; }
"""

# Runs in the browser when the language switch changes. Gradio's own translations
# follow its locale store, which only Gradio's settings panel sets; the module that
# panel imports exports the setter (`changeLocale`), found here by the hashed file name
# it was loaded from. Without it, the server-made texts still switch. The choice is
# remembered in this browser for the next visit.
SET_LOCALE_JS = """
async (language) => {
  try { localStorage.setItem("digit-sketchpad-language", language); } catch {}
  const core = performance.getEntriesByType("resource").map((entry) => entry.name)
    .find((name) => /\\/assets\\/core-[\\w-]+\\.js(\\?.*)?$/.test(name));
  if (core) {
    try { (await import(core)).changeLocale(language); }
    catch (error) { console.warn("language switch:", error); }
  }
  return [];
}
"""
# On load: the language chosen here before, else the browser's, best first.
BROWSER_LANGUAGES_JS = """
() => {
  let chosen = null;
  try { chosen = localStorage.getItem("digit-sketchpad-language"); } catch {}
  return [chosen || navigator.languages.join(",") || navigator.language];
}
"""


def language_switch():
    """The switch between English and Simplified Chinese, for the top of the page."""
    import gradio as gr

    return gr.Radio(
        choices=[(LANGUAGE_NAMES[code], code) for code in LANGUAGES],
        value=ENGLISH,
        label=label("language"),
        elem_id="language",
        container=False,
    )


def correction_controls():
    """The digit picker for "that's wrong, it was N", its button and its message."""
    import gradio as gr

    with gr.Group(elem_id="correction"):
        picker = gr.Radio(
            choices=[str(digit) for digit in DIGITS],
            value=None,
            label=label("it_was"),
            elem_id="correction-digit",
        )
        button = gr.Button(
            label("save_correction"), elem_id="correction-save", size="sm"
        )
    status = gr.HTML("", elem_id="correction-status")
    return picker, button, status


def build_classroom(
    drawing: Any,
    chooser: Any,
    holder: Any,
    *,
    language: Any,
    correction: tuple,
    feedback_store: FeedbackStore | None = None,
) -> DrawingViews:
    """The classroom's tabs and events, inside the app's ``gr.Blocks``.

    ``drawing`` holds the page's drawing (the app keeps the last stroke's `Drawn` in a
    ``gr.State``), ``language`` is the switch from `language_switch`, ``correction``
    what `correction_controls` made. The app's events that answer a new drawing (a
    stroke, an example) fill the views of the drawing that this returns.
    """
    import gradio as gr

    store = feedback_store if feedback_store is not None else FeedbackStore()
    picker, save_button, status = correction
    session_of: Callable[[Any], str | None] = lambda request: getattr(  # noqa: E731
        request, "session_hash", None
    )

    # Accordions, not tabs: Gradio 6 translates a tab's name only while it is
    # selected when the language changes on an open page; accordions follow at once.
    with gr.Column(elem_id="classroom"):
        gr.Markdown(label("classroom_intro"))
        with gr.Accordion(label("tab_inside"), open=True, elem_id="inside"):
            maps = gr.HTML(elem_id="weight-maps")
            inside = gr.HTML(elem_id="activity")
        with gr.Accordion(
            label("tab_sensitivity"), open=False, elem_id="sensitivity-panel"
        ):
            gr.Markdown(label("sensitivity_help"))

            def centred_slider(limit: int, step: int, key: str, elem_id: str):
                return gr.Slider(
                    -limit, limit, value=0, step=step, label=label(key), elem_id=elem_id
                )

            with gr.Row():
                shift_down = centred_slider(SHIFT_LIMIT, 1, "shift_down", "shift-down")
                shift_right = centred_slider(
                    SHIFT_LIMIT, 1, "shift_right", "shift-right"
                )
            with gr.Row():
                rotation = centred_slider(ROTATION_LIMIT, 5, "rotation", "rotation")
                thickness = centred_slider(THICKNESS_LIMIT, 1, "thickness", "thickness")
            reset = gr.Button(label("reset"), size="sm")
            changed = gr.HTML(elem_id="sensitivity")
        with gr.Accordion(label("tab_mistakes"), open=True, elem_id="mistakes-panel"):
            with gr.Row():
                scoreboard = gr.HTML(elem_id="scoreboard")
                mistakes = gr.HTML(elem_id="mistakes")
            with gr.Row():
                refresh = gr.Button(label("refresh"), size="sm")
                export_button = gr.Button(label("export"), size="sm", elem_id="export")
            export_note = gr.HTML(elem_id="export-note")
            export_file = gr.File(
                label=label("export_file"),
                interactive=False,
                height=90,
                elem_id="export-file",
            )
    sliders = [shift_down, shift_right, rotation, thickness]

    def show_maps(choice, language_code):
        return weight_maps_html(holder.get(choice), language_code)

    def show_activity(drawing, choice, language_code):
        return drawing_activity_html(drawing, choice, holder, language_code)

    def show_changed(drawing, choice, down, right, turn, thick, language_code):
        values = checked_sliders(sliders, (down, right, turn, thick))
        changes = slider_changes(*values)
        return sensitivity_html(drawing, choice, holder, changes, language_code)

    def show_class(language_code, request: gr.Request):
        session = session_of(request)
        return (
            scoreboard_html(store, session, language_code),
            mistakes_html(store, language_code),
        )

    def save(drawing, digit, choice, language_code, request: gr.Request):
        session = session_of(request)
        saved, message = correct(
            drawing,
            digit,
            holder,
            store,
            session,
            choice=choice,
            language=language_code,
        )
        return (
            status_html(saved, message),
            scoreboard_html(store, session, language_code),
            mistakes_html(store, language_code),
        )

    def export(language_code):
        try:
            path, count = export_corrections(store)
        except (FeedbackError, OSError) as error:
            message = text("unavailable", language_code, error=str(error))
            return None, status_html(False, message)
        if count == 0:
            return None, f"<p>{text('export_empty', language_code)}</p>"
        note = html.escape(text("exported", language_code, count=count))
        return str(path), f"<p>{note}</p>"

    private = {"api_visibility": "private", "show_progress": "hidden"}
    activity_inputs = [drawing, chooser, language]
    changed_inputs = [drawing, chooser, *sliders, language]
    gr.on(
        [chooser.change, language.change],
        show_maps,
        [chooser, language],
        [maps],
        **private,
    ).then(show_activity, activity_inputs, [inside], **private)
    gr.on(
        [chooser.change, language.change, *(slider.release for slider in sliders)],
        show_changed,
        changed_inputs,
        [changed],
        trigger_mode="always_last",
        **private,
    )
    reset.click(lambda: [0] * len(sliders), None, sliders, **private).then(
        show_changed, changed_inputs, [changed], **private
    )
    save_button.click(
        save,
        [drawing, picker, chooser, language],
        [status, scoreboard, mistakes],
        concurrency_limit=None,
        **private,
    )
    gr.on(
        [refresh.click, language.change],
        show_class,
        [language],
        [scoreboard, mistakes],
        **private,
    )
    export_button.click(export, [language], [export_file, export_note], **private)
    language.change(None, [language], None, js=SET_LOCALE_JS, **private)

    # The browser's language first; the views then read it, so that they come in the
    # language the page will show. A change of language re-renders them as well.
    demo = gr.context.Context.root_block
    browser_languages = gr.Textbox(visible=False)
    demo.load(
        pick_language,
        [browser_languages],
        [language],
        js=BROWSER_LANGUAGES_JS,
        **private,
    ).then(show_maps, [chooser, language], [maps], **private).then(
        show_activity, activity_inputs, [inside], **private
    ).then(show_class, [language], [scoreboard, mistakes], **private)
    return DrawingViews(inputs=sliders, outputs=[inside, changed], holder=holder)
