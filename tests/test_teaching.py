"""The teaching views: weight maps, their colours, the numpy network, perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from model_store import list_records, load
from teaching import (
    NEGATIVE_RGB,
    POSITIVE_RGB,
    colour_legend,
    contributions,
    dense_weights,
    diverging_image,
    forward,
    hidden_activations,
    informative_units,
    perturb,
    weight_maps,
)
from tests.conftest import COMMITTED_STORE
from training.data import IMAGE_SIDE, NUM_CLASSES

PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
WHITE = (255, 255, 255)
HIDDEN = 3


def hand_made_weights() -> list[np.ndarray]:
    """A 784-3-10 network whose every weight is known: kernel[p, j] = (p % 7 - 3) j."""
    pixels = np.arange(PIXEL_COUNT)[:, None]
    first = ((pixels % 7 - 3) * np.arange(1, HIDDEN + 1) / 100).astype(np.float32)
    second = np.arange(HIDDEN * NUM_CLASSES, dtype=np.float32).reshape(HIDDEN, -1)
    return [
        first,
        np.array([0.5, -0.5, 0.0], np.float32),
        (second - second.mean()) / 10,
        np.linspace(-1, 1, NUM_CLASSES, dtype=np.float32),
    ]


@pytest.fixture(scope="module")
def tiny_model():
    """784-3(sigmoid)-Dropout-10(softmax), shaped like the seed model, known weights."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(PIXEL_COUNT,)),
            keras.layers.Dense(HIDDEN, activation="sigmoid"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )
    model.set_weights(hand_made_weights())
    return model


def digit(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, PIXEL_COUNT), dtype=np.float32)


def test_dense_weights_are_the_dense_layers_in_order(tiny_model):
    weights = dense_weights(tiny_model)
    assert [activation for _, _, activation in weights] == ["sigmoid", "softmax"]
    for (kernel, bias, _), kernel_set, bias_set in zip(
        weights, hand_made_weights()[::2], hand_made_weights()[1::2], strict=True
    ):
        np.testing.assert_array_equal(kernel, kernel_set)
        np.testing.assert_array_equal(bias, bias_set)


def test_weight_maps_are_the_kernel_columns_as_images(tiny_model):
    kernel = dense_weights(tiny_model)[0][0]
    maps = weight_maps(kernel)
    assert len(maps) == HIDDEN
    for unit, weight_map in enumerate(maps):
        assert weight_map.shape == (IMAGE_SIDE, IMAGE_SIDE)
        np.testing.assert_array_equal(weight_map.ravel(), kernel[:, unit])
    # Row-major, as Keras flattens: pixel (1, 2) is input 30, whose 30 % 7 - 3 is -1.
    assert maps[1][1, 2] == pytest.approx(-1 * 2 / 100)
    chosen = weight_maps(kernel, 2, order=[2, 0, 1])
    assert len(chosen) == 2
    np.testing.assert_array_equal(chosen[0].ravel(), kernel[:, 2])
    with pytest.raises(ValueError, match=r"shape \(784, units\)"):
        weight_maps(kernel[:100])


def test_weight_colours_are_red_for_blue_against_white_for_zero():
    weight_map = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    weight_map[0, 0], weight_map[0, 1], weight_map[0, 2] = 0.8, -0.8, 0.4
    picture = diverging_image(weight_map, size=4 * IMAGE_SIDE)
    assert picture.shape == (4 * IMAGE_SIDE, 4 * IMAGE_SIDE, 3)
    assert picture.dtype == np.uint8
    # Each weight is a 4x4 block of one colour: no smoothing between weights.
    assert tuple(picture[0, 0]) == tuple(picture[3, 3]) == POSITIVE_RGB
    assert tuple(picture[0, 4]) == tuple(picture[3, 7]) == NEGATIVE_RGB
    assert tuple(picture[0, 8]) == (228, 128, 144)  # Halfway from white to red.
    assert tuple(picture[20, 20]) == WHITE
    # With a larger scale the same weight is paler; the limits stay symmetric.
    paler = diverging_image(weight_map, scale=1.6, size=IMAGE_SIDE)
    assert tuple(paler[0, 0]) == (228, 128, 144)
    assert tuple(diverging_image(np.zeros((2, 2)), size=2)[0, 0]) == WHITE
    with pytest.raises(ValueError, match="NaN"):
        diverging_image(np.full((2, 2), np.nan))


def test_colour_legend_runs_blue_to_white_to_red_with_labels():
    legend = colour_legend(0.25, size=(201, 40))
    assert legend.shape == (40, 201, 3) and legend.dtype == np.uint8
    assert tuple(legend[0, 0]) == NEGATIVE_RGB
    assert tuple(legend[0, 100]) == WHITE
    assert tuple(legend[0, 200]) == POSITIVE_RGB
    assert (legend[20:] < 128).any()  # The labels are drawn in dark text.


def test_numpy_forward_matches_keras(tiny_model):
    vectors = np.concatenate([digit(seed) for seed in range(4)])
    expected = tiny_model.predict(vectors, verbose=0)
    np.testing.assert_allclose(
        forward(dense_weights(tiny_model), vectors), expected, atol=1e-5
    )


COMMITTED = [record["name"] for record in list_records(COMMITTED_STORE)]


@pytest.mark.skipif(not COMMITTED, reason=f"no models committed in {COMMITTED_STORE}")
@pytest.mark.parametrize("name", COMMITTED)
def test_numpy_forward_matches_the_committed_models(name):
    model = load(name, COMMITTED_STORE).model
    vectors = np.concatenate([digit(seed) for seed in range(4)])
    np.testing.assert_allclose(
        forward(dense_weights(model), vectors),
        model.predict(vectors, verbose=0),
        atol=1e-5,
    )


def test_hidden_activations_match_a_hand_computation(tiny_model):
    # Ink only on pixel 3 (3 % 7 - 3 = 0) and pixel 6 (6 % 7 - 3 = 3), at 1.0 and 0.5:
    # unit j's input is 0.5 * 3 * j / 100 + bias_j.
    vector = np.zeros((1, PIXEL_COUNT))
    vector[0, 3], vector[0, 6] = 1.0, 0.5
    by_hand = [
        1 / (1 + np.exp(-(0.015 * j + b))) for j, b in [(1, 0.5), (2, -0.5), (3, 0)]
    ]
    activations = hidden_activations(dense_weights(tiny_model), vector)
    assert activations.shape == (1, HIDDEN)
    np.testing.assert_allclose(activations[0], by_hand, rtol=1e-6)
    # A 28x28 image is the same input as its flattened vector.
    np.testing.assert_allclose(
        hidden_activations(
            dense_weights(tiny_model), vector.reshape(IMAGE_SIDE, IMAGE_SIDE)
        ),
        activations,
    )


def test_contributions_add_up_to_the_units_input(tiny_model):
    (kernel, bias, _), _ = dense_weights(tiny_model)
    vector = digit(3)
    maps = contributions(kernel, vector, [2, 0])
    assert [m.shape for m in maps] == [(IMAGE_SIDE, IMAGE_SIDE)] * 2
    np.testing.assert_allclose(
        [m.sum() for m in maps], (vector @ kernel)[0, [2, 0]], rtol=1e-5
    )
    np.testing.assert_allclose(maps[1].ravel(), vector[0] * kernel[:, 0], rtol=1e-6)
    assert bias.shape == (HIDDEN,)


def one_pixel(row: int, col: int) -> np.ndarray:
    image = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    image[row, col] = 1.0
    return image


def test_shifting_by_one_row_moves_the_ink_down_one_pixel():
    moved = perturb(one_pixel(10, 12), shift=(1, 0))
    np.testing.assert_array_equal(moved, one_pixel(11, 12))
    assert moved.dtype == np.float32
    half = perturb(one_pixel(10, 12), shift=(0, 0.5))
    assert half[10, 12] == pytest.approx(0.5) and half[10, 13] == pytest.approx(0.5)


def test_rotation_turns_anticlockwise_about_the_centre():
    image = np.random.default_rng(0).random((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    np.testing.assert_array_equal(perturb(image, rotation_deg=0.0), image)
    # Right of the centre (13.5, 13.5) by 6.5 columns turns to above it by 6.5 rows.
    turned = perturb(one_pixel(13, 20), rotation_deg=90)
    np.testing.assert_allclose(turned, one_pixel(7, 13), atol=1e-6)


def test_thickness_grows_or_shrinks_the_ink():
    image = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    image[6:22, 12:16] = 0.9  # A vertical bar four pixels wide, like a "1".
    area = np.count_nonzero(image)
    thicker, thinner = perturb(image, thickness=1), perturb(image, thickness=-1)
    assert np.count_nonzero(thicker) == area + 2 * 16 + 2 * 4  # A pixel on each side.
    assert np.count_nonzero(thinner) == 14 * 2
    assert np.count_nonzero(perturb(image, thickness=2)) > np.count_nonzero(thicker)
    assert thicker.max() == pytest.approx(0.9) and thicker.min() == 0.0


def test_perturb_keeps_values_in_range():
    image = np.ones((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    result = perturb(image, shift=(0.3, -1.7), rotation_deg=33, thickness=2)
    assert result.min() >= 0.0 and result.max() <= 1.0
    with pytest.raises(ValueError, match="whole number"):
        perturb(image, thickness=0.5)


def test_informative_units_are_distinct_and_skip_silent_units(tiny_model):
    weights = dense_weights(tiny_model)
    chosen = informative_units(weights, 2)
    assert len(chosen) == 2 and len(set(chosen.tolist())) == 2
    # Input norms grow as 1 : 2 : 3; outgoing norms are 3.29, 0.91 and 3.29.
    assert chosen.tolist() == [2, 0]

    (kernel, bias, hidden), (out_kernel, out_bias, last) = weights
    silent = out_kernel.copy()
    silent[2] = 0.0  # Unit 2 reads the image strongly but nothing listens to it.
    muted = [(kernel, bias, hidden), (silent, out_bias, last)]
    assert 2 not in informative_units(muted, 2).tolist()
    assert informative_units(muted, HIDDEN).tolist() == [0, 1]
    sample = np.concatenate([digit(seed) for seed in range(20)])
    assert 2 not in informative_units(muted, HIDDEN, sample=sample).tolist()


def test_informative_units_on_a_sample_ignore_units_that_never_change():
    rng = np.random.default_rng(1)
    kernel = rng.normal(scale=0.01, size=(PIXEL_COUNT, 5))
    kernel[:, 4] = 0.0  # Reads nothing: the same output for every digit.
    weights = [
        # Unit 3's bias keeps its ReLU at zero for every digit: a dead unit.
        (kernel, np.array([0.5, 0.5, 0.5, -100.0, 2.0]), "relu"),
        (rng.normal(size=(5, NUM_CLASSES)), np.zeros(NUM_CLASSES), "softmax"),
    ]
    sample = rng.random((50, PIXEL_COUNT))
    assert sorted(informative_units(weights, 5, sample=sample).tolist()) == [0, 1, 2]
    # Without a sample, only the unit that reads nothing is known to be silent.
    assert sorted(informative_units(weights, 5).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="count must be at least 1"):
        informative_units(weights, 0)
