"""Tests for mnist_format: geometry, ink finding, stroke width, inputs and errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

import mnist_format
from mnist_format import (
    BOX_SIDE,
    FULL_SCALE,
    IMAGE_SIDE,
    MAX_INPUT_PIXELS,
    PIXEL_COUNT,
    ImageTooLarge,
    MnistDigit,
    to_mnist,
)

CANVAS = 800
CENTRE = IMAGE_SIDE / 2
# A "2": a cap, a diagonal and a base, inside a 310x420 box on an 800 canvas.
TWO = [(250, 250), (400, 180), (550, 260), (400, 420), (260, 600), (560, 600)]
TWO_HEIGHT = 420


def draw(
    points=TWO,
    pen: int = 25,
    size: tuple[int, int] = (CANVAS, CANVAS),
    mode: str = "RGB",
    background="white",
    ink="black",
) -> np.ndarray:
    """A polyline with round caps and joints, as a browser pen draws it."""
    image = Image.new(mode, size, background)
    pen_draw = ImageDraw.Draw(image)
    pen_draw.line(points, fill=ink, width=pen, joint="curve")
    for x, y in points:
        pen_draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=ink)
    return np.asarray(image)


def mass_centre(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    total = image.sum()
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def ink_extent(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(image)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def assert_mnist_like(digit: MnistDigit) -> None:
    image = digit.image
    assert image.shape == (IMAGE_SIDE, IMAGE_SIDE)
    assert image.dtype == np.float32
    assert image.min() == 0.0
    assert image.max() == pytest.approx(1.0)
    assert image.max() <= 1.0
    row, col = mass_centre(image)
    # A whole-pixel shift lands within half a pixel; a symmetric shape sits exactly on
    # the tie, where float rounding may go either way.
    assert abs(row - CENTRE) <= 0.5 + 1e-4
    assert abs(col - CENTRE) <= 0.5 + 1e-4
    assert max(ink_extent(image)) == BOX_SIDE


def sketchpad_value(ink_mask: np.ndarray) -> dict:
    """A value built like the real one Gradio 6's Sketchpad sends (see SKETCHPAD.md)."""
    height, width = ink_mask.shape
    background = np.full((height, width, 4), FULL_SCALE, dtype=np.uint8)
    layer = np.zeros((height, width, 4), dtype=np.uint8)
    layer[ink_mask] = (0, 0, 0, FULL_SCALE)
    composite = background.copy()
    composite[ink_mask] = (0, 0, 0, FULL_SCALE)
    return {"background": background, "layers": [layer], "composite": composite}


# Geometry computed by hand.


def test_solid_square_fills_the_box_and_lands_on_the_centre():
    canvas = np.full((CANVAS, CANVAS, 3), FULL_SCALE, dtype=np.uint8)
    canvas[300:500, 300:500] = 0
    image = to_mnist(canvas).image
    # A 20x20 square has its mass centre at 9.5 inside the box; 14 - 9.5 = 4.5 rounds
    # half up to 5, so rows and columns 5..24 are ink and the centre is 14.5.
    expected = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    expected[5:25, 5:25] = 1.0
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert image.sum() == pytest.approx(BOX_SIDE * BOX_SIDE, abs=1e-3)


def test_two_to_one_rectangle_keeps_its_proportions():
    canvas = np.full((CANVAS, CANVAS, 3), FULL_SCALE, dtype=np.uint8)
    canvas[200:600, 300:500] = 0
    image = to_mnist(canvas).image
    assert ink_extent(image) == (BOX_SIDE, BOX_SIDE // 2)
    # Rows 14 - 9.5 -> 5..24, columns 14 - 4.5 = 9.5 -> 10..19.
    assert np.all(image[5:25, 10:20] == pytest.approx(1.0))
    assert image.sum() == pytest.approx(BOX_SIDE * BOX_SIDE // 2, abs=1e-3)


def test_vector_is_the_c_order_row_of_the_image():
    digit = to_mnist(draw())
    assert digit.vector.shape == (1, PIXEL_COUNT)
    assert digit.vector.dtype == np.float32
    np.testing.assert_array_equal(digit.vector[0, :IMAGE_SIDE], digit.image[0])


# Random drawings.


def random_drawing(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    height, width = (int(v) for v in rng.integers(200, 900, size=2))
    points = [
        (int(rng.integers(0, width)), int(rng.integers(0, height)))
        for _ in range(rng.integers(2, 6))
    ]
    pen = int(rng.integers(3, max(4, min(height, width) // 12)))
    return draw(points, pen=pen, size=(width, height)), pen


@pytest.mark.parametrize("seed", range(25))
def test_random_drawings_are_centred_scaled_and_normalised(seed):
    canvas, _ = random_drawing(np.random.default_rng(seed))
    assert_mnist_like(to_mnist(canvas))


# The same drawing in every form gives the same digit.


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return to_mnist(draw()).vector


@pytest.mark.parametrize(
    ("mode", "background", "ink"),
    [
        ("RGBA", (0, 0, 0, 0), (0, 0, 0, FULL_SCALE)),
        ("RGBA", (FULL_SCALE,) * 4, (0, 0, 0, FULL_SCALE)),
        ("RGB", "black", "white"),
        ("RGB", (30, 120, 200), (250, 200, 0)),
        ("RGB", "white", "red"),
        ("L", 0, 200),
        ("L", FULL_SCALE, 0),
    ],
    ids=[
        "transparent",
        "white-rgba",
        "inverted",
        "coloured",
        "red",
        "grey",
        "grey-white",
    ],
)
def test_same_drawing_in_any_colours_gives_the_same_vector(
    reference, mode, background, ink
):
    canvas = draw(mode=mode, background=background, ink=ink)
    assert np.abs(to_mnist(canvas).vector - reference).max() < 0.02


def test_pil_image_float_and_bool_inputs_match_the_array(reference):
    canvas = draw()
    assert np.abs(to_mnist(Image.fromarray(canvas)).vector - reference).max() < 0.02
    # Floats and masks skip the uint8 rounding and the anti-aliased edge, and the stroke
    # step binarises at half height, so a pixel or two at an edge may move by a tenth.
    for other in (canvas.astype(np.float32) / FULL_SCALE, canvas[:, :, 0] < 128):
        difference = np.abs(to_mnist(other).vector - reference)
        assert difference.max() < 0.25
        assert difference.mean() < 0.01


def test_sketchpad_value_reads_the_layer(reference):
    ink = draw()[:, :, 0] < FULL_SCALE // 2
    value = sketchpad_value(ink)
    assert np.abs(to_mnist(value).vector - reference).max() < 0.1
    # Without layers, the composite is read.
    value["layers"] = []
    assert np.abs(to_mnist(value).vector - reference).max() < 0.1


def test_empty_sketchpad_values_mean_nothing_drawn():
    assert to_mnist({"background": None, "layers": [], "composite": None}) is None
    assert to_mnist({"background": None, "layers": None, "composite": None}) is None
    assert to_mnist({"composite": None}) is None
    blank = sketchpad_value(np.zeros((CANVAS, CANVAS), dtype=bool))
    assert to_mnist(blank) is None


@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8),
        np.full((CANVAS, CANVAS, 4), FULL_SCALE, dtype=np.uint8),
        np.full((CANVAS, CANVAS, 3), FULL_SCALE, dtype=np.uint8),
        np.zeros((CANVAS, CANVAS, 3), dtype=np.uint8),
        np.zeros((CANVAS, CANVAS), dtype=np.float32),
        np.zeros((1, 1), dtype=np.uint8),
    ],
    ids=["transparent", "white-rgba", "white", "black", "black-grey", "one-pixel"],
)
def test_blank_canvases_mean_nothing_drawn(canvas):
    assert to_mnist(canvas) is None


def test_a_stray_dot_is_nothing_but_a_thin_pen_is_seen():
    canvas = np.full((CANVAS, CANVAS, 3), FULL_SCALE, dtype=np.uint8)
    canvas[400:405, 400:405] = 0
    assert to_mnist(canvas) is None
    assert_mnist_like(to_mnist(draw(pen=3)))


def test_faint_noise_is_background():
    rng = np.random.default_rng(0)
    canvas = draw().astype(np.int16)
    canvas -= rng.integers(0, 20, size=canvas.shape[:2])[:, :, np.newaxis]
    noisy = to_mnist(np.clip(canvas, 0, FULL_SCALE).astype(np.uint8))
    assert_mnist_like(noisy)
    assert np.count_nonzero(noisy.image) < PIXEL_COUNT // 3


# Canvas shape and position.


def test_circle_on_a_wide_canvas_stays_round():
    canvas = Image.new("RGB", (CANVAS, 600), "white")
    ImageDraw.Draw(canvas).ellipse([100, 150, 400, 450], outline="black", width=20)
    image = to_mnist(np.asarray(canvas)).image
    assert ink_extent(image) == (BOX_SIDE, BOX_SIDE)
    assert_mnist_like(to_mnist(np.asarray(canvas)))


def test_digit_in_a_corner_or_touching_an_edge_ends_centred():
    corner = [(p[0] - 240, p[1] - 170) for p in TWO]
    assert_mnist_like(to_mnist(draw(corner, size=(CANVAS, 600))))
    edge = [(p[0] + 250, p[1]) for p in TWO]
    assert_mnist_like(to_mnist(draw(edge, pen=40)))


def test_tall_thin_one_keeps_its_width_in_proportion():
    image = to_mnist(draw([(400, 100), (400, 700)], pen=25)).image
    height, width = ink_extent(image)
    assert height == BOX_SIDE
    assert 2 <= width <= 4


# Stroke width.


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def aligned_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over whole-pixel shifts of up to one pixel.

    Centring moves by whole pixels, as MNIST did, so two drawings whose mass centres
    straddle a rounding boundary land one pixel apart; this separates shape from that.
    """
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return max(correlation(np.roll(a, shift, axis=(0, 1)), b) for shift in shifts)


def thin_and_thick(thick_pen: int) -> tuple[np.ndarray, np.ndarray]:
    return to_mnist(draw(pen=3)).image, to_mnist(draw(pen=thick_pen)).image


# Measured on the "2": (correlation, aligned correlation, L2 distance) between the 3 px
# pen and a thicker pen, with the stroke step and without it.
#   50 px pen:                  0.99, 0.99, 1.1   without: 0.47, 0.64, 7.9
#   105 px (a quarter of 420):  0.68, 0.97, 7.4   without: 0.36, 0.46, 11.6
@pytest.mark.parametrize(
    ("thick_pen", "least", "least_aligned", "most_l2"),
    [(50, 0.95, 0.95, 3.0), (TWO_HEIGHT // 4, 0.6, 0.93, 9.0)],
)
def test_stroke_width_normalisation_makes_thick_and_thin_pens_agree(
    monkeypatch, thick_pen, least, least_aligned, most_l2
):
    thin, thick = thin_and_thick(thick_pen)
    # The same pipeline with the stroke step switched off, for comparison.
    monkeypatch.setattr(mnist_format, "_normalise_stroke", lambda work: work)
    raw_thin, raw_thick = thin_and_thick(thick_pen)

    assert correlation(thin, thick) > least
    assert aligned_correlation(thin, thick) > least_aligned
    assert np.linalg.norm(thin - thick) < most_l2
    assert correlation(thin, thick) > correlation(raw_thin, raw_thick) + 0.3
    assert (
        aligned_correlation(thin, thick)
        > aligned_correlation(raw_thin, raw_thick) + 0.3
    )
    assert np.linalg.norm(thin - thick) < np.linalg.norm(raw_thin - raw_thick) - 4


def test_strokes_come_out_about_mnist_wide():
    for pen in (3, 25, 60, TWO_HEIGHT // 4):
        image = to_mnist(draw(pen=pen)).image
        width = mnist_format._stroke_width(image)
        assert width == pytest.approx(mnist_format.TARGET_STROKE_WIDTH, abs=0.6), pen


# Steps for the teaching view.


def test_steps_are_ordered_and_end_with_the_digit():
    digit = to_mnist(draw(size=(CANVAS, 600)), with_steps=True)
    assert list(digit.steps) == ["ink", "cropped", "box", "field", "centred"]
    assert max(digit.steps["ink"].shape) <= mnist_format.DISPLAY_SIDE
    assert max(digit.steps["box"].shape) == BOX_SIDE
    assert digit.steps["field"].shape == (IMAGE_SIDE, IMAGE_SIDE)
    np.testing.assert_array_equal(digit.steps["centred"], digit.image)
    for step in digit.steps.values():
        assert step.ndim == 2
        assert 0.0 <= step.min() and step.max() <= 1.0
    assert to_mnist(draw()).steps == {}


# Files.


def test_path_to_an_image_file_is_read(tmp_path: Path, reference):
    path = tmp_path / "two.png"
    Image.fromarray(draw()).save(path)
    assert np.abs(to_mnist(path).vector - reference).max() < 0.02
    assert np.abs(to_mnist(str(path)).vector - reference).max() < 0.02


def test_an_image_files_bytes_are_read_as_the_file_is(tmp_path: Path):
    path = tmp_path / "two.png"
    Image.fromarray(draw()).save(path)
    from_bytes = to_mnist({"layers": [path.read_bytes()], "composite": b"unread"})
    np.testing.assert_array_equal(from_bytes.vector, to_mnist(path).vector)
    with pytest.raises(ValueError) as refused:
        to_mnist(b"not an image")
    assert str(refused.value) == (
        "expected a readable image file (PNG, JPEG, ...), but the image could not be "
        "read: it is not an image, or a damaged one"
    )


def test_strokes_over_a_picture_are_read_with_the_picture():
    # An example in the background and a stroke on it: the digit is the two together.
    picture = np.full((280, 280, 4), 255, np.uint8)
    picture[40:240, 130:150, :3] = 0  # A "1".
    stroke = np.zeros((280, 280, 4), np.uint8)
    stroke[40:60, 60:150, 3] = 255  # A bar to its left, making a "7".
    composite = picture.copy()
    composite[40:60, 60:150, :3] = 0
    value = {"background": picture, "layers": [stroke], "composite": composite}
    together = to_mnist(value).vector
    np.testing.assert_array_equal(together, to_mnist(composite).vector)
    assert not np.array_equal(together, to_mnist(stroke).vector)
    # On a plain canvas the layer alone is read, as always.
    plain = dict(value, background=np.full((280, 280, 4), 255, np.uint8))
    np.testing.assert_array_equal(to_mnist(plain).vector, to_mnist(stroke).vector)


def test_unreadable_file_raises_value_error(tmp_path: Path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match="expected a readable image file"):
        to_mnist(path)
    with pytest.raises(ValueError, match="expected a readable image file"):
        to_mnist(tmp_path / "missing.png")


# Errors.


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (7, TypeError, "expected a numpy array"),
        (["a", "b"], TypeError, "expected a numpy array"),
        (None, TypeError, "got None"),
        (np.array(["a", "b"]), TypeError, "bool, integer or float"),
        (np.zeros(PIXEL_COUNT), ValueError, "reshape a flat MNIST vector"),
        (np.zeros(10), ValueError, "expected a 2-D image"),
        (np.zeros((2, 28, 28, 1)), ValueError, "expected a 2-D image"),
        (np.zeros((28, 28, 2)), ValueError, "HxWx3 or HxWx4"),
        (np.zeros((0, 28)), ValueError, "expected an image with pixels"),
        (np.full((28, 28), np.nan), ValueError, "NaN or infinity"),
        (np.full((28, 28), -1.0), ValueError, "at least 0"),
        (np.full((28, 28), 300.0), ValueError, "float pixel values in [0, 1]"),
        ({"image": np.zeros((28, 28))}, ValueError, "keys 'background', 'layers'"),
        ({"layers": "abc"}, TypeError, "'layers' to be a list"),
        ({"layers": [5]}, TypeError, "expected a numpy array"),
        ({"composite": np.zeros(3)}, ValueError, "expected a 2-D image"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_bad_input_raises_with_what_was_expected(bad, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[")):
        to_mnist(bad)


def test_too_large_image_is_refused_before_allocating():
    side = math.isqrt(MAX_INPUT_PIXELS) + 1
    # A broadcast view has the shape of a huge image but owns one byte.
    huge = np.broadcast_to(np.zeros(1, dtype=np.uint8), (side, side))
    with pytest.raises(ImageTooLarge, match="larger than the limit"):
        to_mnist(huge)
    with pytest.raises(ImageTooLarge):
        to_mnist({"background": None, "layers": [huge], "composite": None})
    ten_thousand = np.broadcast_to(np.zeros(1, dtype=np.float32), (10_000, 10_000, 3))
    with pytest.raises(ImageTooLarge, match="10000x10000"):
        to_mnist(ten_thousand)
    assert issubclass(ImageTooLarge, ValueError)


def test_too_large_pil_image_and_file_are_refused(tmp_path: Path):
    side = math.isqrt(MAX_INPUT_PIXELS) + 1
    with pytest.raises(ImageTooLarge):
        to_mnist(Image.new("1", (side, side)))
    path = tmp_path / "big.png"
    Image.new("1", (side, side)).save(path)
    with pytest.raises(ImageTooLarge):
        to_mnist(path)


def test_small_and_unusual_images_work():
    assert_mnist_like(to_mnist(np.eye(IMAGE_SIDE, dtype=np.float32)))
    dot = np.zeros((3, 3), dtype=np.uint8)
    dot[1, 1] = FULL_SCALE
    assert_mnist_like(to_mnist(dot))
    sixteen_bit = (draw()[:, :, 0].astype(np.uint16)) * 257
    assert_mnist_like(to_mnist(sixteen_bit))
    assert_mnist_like(to_mnist(Image.fromarray(draw()).convert("P")))
    assert_mnist_like(to_mnist(Image.fromarray(draw()).convert("1")))


# Whatever comes in, the answer is a digit, None, or a clear error.


def any_array():
    shapes = st.one_of(
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=40),
        st.tuples(
            st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 3, 4])
        ),
    )
    dtypes = st.sampled_from(
        [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool]
    )
    return dtypes.flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            shapes,
            elements=(
                st.one_of(
                    st.floats(-2, 300, width=32), st.sampled_from([np.nan, np.inf])
                )
                if np.dtype(dtype).kind == "f"
                else None
            ),
        )
    )


def any_input():
    image = st.one_of(st.none(), any_array(), st.integers(), st.text(max_size=5))
    sketchpad = st.fixed_dictionaries(
        {},
        optional={
            "background": image,
            "composite": image,
            "layers": st.one_of(st.none(), st.lists(image, max_size=3), image),
        },
    )
    return st.one_of(any_array(), sketchpad)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(any_input())
def test_any_input_gives_a_digit_none_or_a_clear_error(value):
    try:
        digit = to_mnist(value)
    except (ValueError, TypeError):
        return
    if digit is not None:
        assert digit.image.shape == (IMAGE_SIDE, IMAGE_SIDE)
        assert digit.image.dtype == np.float32
        assert 0.0 <= digit.image.min() and digit.image.max() <= 1.0
        assert np.isfinite(digit.image).all()
