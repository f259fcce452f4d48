"""Exact figures of mlspec.library.image_perturbations, written from its mutation survivors
(docs/mutation.md): each perturbation compared value for value with a reference that draws
from the same generator (numpy) or computes the same filter (scipy.ndimage), every message
in full, and the boundaries of each check."""

import math

import numpy as np
import pytest
from scipy import ndimage

from mlspec.library import image_perturbations as ip
from mlspec.library.image_perturbations import (
    blur,
    brightness,
    contrast,
    gaussian_noise,
    invert,
    occlude,
    rotate,
    rotate_by,
    salt_pepper,
    shift_by,
    translate,
    uniform_noise,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def batch(n=3, shape=(2, 5, 7), low=0.0, high=1.0, seed=1):
    return rng(seed).uniform(low, high, size=(n, *shape)).astype(np.float32)


def message(call) -> str:
    with pytest.raises(ValueError) as raised:
        call()
    return str(raised.value)


# --- checks and their messages ---------------------------------------------------------


def test_range_and_shape_messages():
    images = batch()
    assert message(lambda: invert(images, rng(), 1.0, 1.0)) == "invert: low must be below high, got low=1.0, high=1.0"
    assert message(lambda: blur(images, rng(), 2, 1, sigma=1.0)) == "blur: low must be below high, got low=2, high=1"
    assert message(lambda: invert(np.zeros((4, 5)), rng(), 0.0, 1.0)) == (
        "invert: images must be [n, height, width] or [n, channels, height, width], got shape (4, 5)")
    assert message(lambda: shift_by(np.zeros(3), 1, 1, 0.0, 1.0)) == (
        "translate: images must be [n, height, width] or [n, channels, height, width], got shape (3,)")
    assert message(lambda: rotate_by(np.zeros((2, 2)), [0.0, 0.0], 0.0, 1.0)).startswith("rotate: images must be")
    # three axes are enough
    assert invert(np.zeros((1, 2, 2)), rng(), 0.0, 1.0).tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    assert invert(np.zeros((1, 2, 2)), rng(), -0.5, 0.5).tolist() == [[[0.0, 0.0], [0.0, 0.0]]]


def test_parameter_messages_in_full():
    images = batch()
    assert message(lambda: gaussian_noise(images, rng(), 0.0, 1.0, std=0.0)) == "gaussian_noise: std must be > 0, got 0.0"
    assert message(lambda: uniform_noise(images, rng(), 0.0, 1.0, eps=-0.5)) == "uniform_noise: eps must be >= 0, got -0.5"
    assert message(lambda: salt_pepper(images, rng(), 0.0, 1.0, amount=1.01)) == (
        "salt_pepper: amount must be between 0 and 1, got 1.01")
    assert message(lambda: salt_pepper(images, rng(), 0.0, 1.0, amount=-0.01)) == (
        "salt_pepper: amount must be between 0 and 1, got -0.01")
    assert message(lambda: contrast(images, rng(), 0.0, 1.0, factor=-1.0)) == "contrast: factor must be > 0, got -1.0"
    assert message(lambda: blur(images, rng(), 0.0, 1.0, sigma=0.0)) == "blur: sigma must be > 0, got 0.0"
    assert message(lambda: rotate(images, rng(), 0.0, 1.0, degrees=-1.0)) == "rotate: degrees must be >= 0, got -1.0"
    assert message(lambda: translate(images, rng(), 0.0, 1.0, dx=-1)) == (
        "translate: dx and dy must be whole numbers >= 0, got dx=-1, dy=0")
    assert message(lambda: translate(images, rng(), 0.0, 1.0, dy=-1)) == (
        "translate: dx and dy must be whole numbers >= 0, got dx=0, dy=-1")
    assert message(lambda: translate(images, rng(), 0.0, 1.0, dx=1.5)) == (
        "translate: dx and dy must be whole numbers >= 0, got dx=1.5, dy=0")
    assert message(lambda: translate(images, rng(), 0.0, 1.0, dy=0.5)) == (
        "translate: dx and dy must be whole numbers >= 0, got dx=0, dy=0.5")
    assert message(lambda: translate(images, rng(), 0.0, 1.0)) == "translate: at least one of dx and dy must be > 0"
    assert message(lambda: occlude(images, rng(), 0.0, 1.0, size=0)) == "occlude: size must be a whole number >= 1, got 0"
    assert message(lambda: occlude(images, rng(), 0.0, 1.0, size=1.5)) == "occlude: size must be a whole number >= 1, got 1.5"
    assert message(lambda: occlude(images, rng(), 0.0, 1.0, size=6)) == "occlude: size 6 does not fit in a 5x7 image"
    wide = batch(shape=(7, 5))
    assert message(lambda: occlude(wide, rng(), 0.0, 1.0, size=6)) == "occlude: size 6 does not fit in a 7x5 image"


def test_boundary_parameters_are_accepted():
    images = batch()
    np.testing.assert_array_equal(uniform_noise(images, rng(), 0.0, 1.0, eps=0.0), images)
    np.testing.assert_array_equal(salt_pepper(images, rng(), 0.0, 1.0, amount=0.0), images)
    assert set(np.unique(salt_pepper(images, rng(), 0.0, 1.0, amount=1.0))) <= {0.0, 1.0}
    np.testing.assert_array_equal(rotate(images, rng(), 0.0, 1.0, degrees=0.0), images)
    assert occlude(images, rng(), 0.0, 1.0, size=5).shape == images.shape  # as tall as the image
    assert gaussian_noise(images, rng(), 0.0, 1.0, std=1e-30).shape == images.shape
    assert translate(images, rng(), 0.0, 1.0, dx=1.0).shape == images.shape  # a whole float is whole
    assert occlude(images, rng(), 0.0, 1.0, size=2.0).shape == images.shape


# --- noise, value for value ---------------------------------------------------------------


def clipped(values, low, high):
    return np.clip(values, low, high).astype(np.float32)


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0)])
def test_gaussian_noise_is_the_generators_draws(low, high):
    images = batch(low=low, high=high)
    expected = images + rng(4).standard_normal(images.shape, dtype=np.float32) * np.float32(0.3)
    np.testing.assert_array_equal(gaussian_noise(images, rng(4), low, high, std=0.3), clipped(expected, low, high))


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0)])
def test_uniform_noise_is_the_generators_draws(low, high):
    images = batch(low=low, high=high)
    draw = rng(5).random(images.shape, dtype=np.float32)
    expected = images + (draw * np.float32(0.4) - np.float32(0.2))
    np.testing.assert_array_equal(uniform_noise(images, rng(5), low, high, eps=0.2), clipped(expected, low, high))


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 2.0)])
def test_salt_pepper_is_the_generators_draws(low, high):
    images = batch(n=4, shape=(3, 6, 6), low=low, high=high)
    draw = rng(6).random((4, 1, 6, 6))
    expected = images.copy()
    for i, c, y, x in np.ndindex(*images.shape):
        if draw[i, 0, y, x] < 0.15:
            expected[i, c, y, x] = low
        elif draw[i, 0, y, x] < 0.3:
            expected[i, c, y, x] = high
    np.testing.assert_array_equal(salt_pepper(images, rng(6), low, high, amount=0.3), expected)
    flat = batch(n=4, shape=(6, 6), low=low, high=high)
    expected = np.where(draw[:, 0] < 0.15, low, np.where(draw[:, 0] < 0.3, high, flat)).astype(np.float32)
    np.testing.assert_array_equal(salt_pepper(flat, rng(6), low, high, amount=0.3), expected)


# --- intensity -------------------------------------------------------------------------------


def test_brightness_and_invert_values():
    images = batch(low=-1.0, high=1.0)
    np.testing.assert_array_equal(brightness(images, rng(), -1.0, 1.0, delta=0.25), clipped(images + np.float32(0.5), -1.0, 1.0))
    np.testing.assert_array_equal(brightness(images, rng(), -1.0, 1.0, delta=-0.1), clipped(images - np.float32(0.2), -1.0, 1.0))
    np.testing.assert_array_equal(invert(images, rng(), -1.0, 3.0), clipped(np.float32(2.0) - images, -1.0, 3.0))


def test_contrast_against_each_images_own_mean():
    images = batch(n=4, shape=(3, 4, 5))
    out = contrast(images, rng(), 0.0, 1.0, factor=1.5)
    for i in range(4):
        mean = np.float32(images[i].astype(np.float64).mean())
        np.testing.assert_allclose(out[i], np.clip(mean + 1.5 * (images[i] - mean), 0.0, 1.0), atol=1e-6)
    flat = batch(n=2, shape=(4, 5))
    low_contrast = contrast(flat, rng(), 0.0, 1.0, factor=0.5)
    for i in range(2):
        np.testing.assert_allclose(low_contrast[i], flat[i].mean() + 0.5 * (flat[i] - flat[i].mean()), atol=1e-6)


# --- blur against scipy ------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 1.5, 2.0])
def test_blur_is_scipys_gaussian_filter_with_mirror_edges(sigma):
    # numpy's "reflect" padding is scipy's "mirror"; radius ceil(3 sigma) is scipy's
    # int(truncate * sigma + 0.5) with truncate = 3 for these sigmas.
    assert math.ceil(3 * sigma) == int(3 * sigma + 0.5)
    images = batch(n=2, shape=(2, 11, 13), low=0.2, high=0.8)
    expected = ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(blur(images, rng(), 0.0, 1.0, sigma=sigma), expected, atol=2e-6)


def test_gaussian_kernel_and_blur_matrix():
    kernel = ip._gaussian_kernel(1.0)
    assert len(kernel) == 7
    offsets = np.arange(-3, 4)
    weights = np.exp(-(offsets**2) / 2.0)
    np.testing.assert_allclose(kernel, weights / weights.sum(), rtol=1e-15)
    assert len(ip._gaussian_kernel(0.34)) == 5  # radius ceil(1.02) = 2
    assert len(ip._gaussian_kernel(1.0 / 3)) == 3  # radius ceil(1.0) = 1
    kernel = np.array([0.25, 0.5, 0.25])
    matrix = ip._blur_matrix(4, kernel)
    np.testing.assert_array_equal(matrix, [
        [0.5, 0.5, 0.0, 0.0],   # pixel -1 reads pixel 1
        [0.25, 0.5, 0.25, 0.0],
        [0.0, 0.25, 0.5, 0.25],
        [0.0, 0.0, 0.5, 0.5],
    ])
    big = ip._blur_matrix(3, np.array([0.1, 0.2, 0.4, 0.2, 0.1]))  # radius 2 on 3 pixels: both ends reflect
    np.testing.assert_allclose(big, [[0.4, 0.4, 0.2], [0.2, 0.6, 0.2], [0.2, 0.4, 0.4]], atol=1e-15)


def test_blur_of_a_three_axis_batch():
    images = batch(n=2, shape=(6, 9))
    expected = ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, 1.0, 1.0), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(blur(images, rng(), 0.0, 1.0, sigma=1.0), expected, atol=2e-6)


# --- rotate against a per-pixel reference ------------------------------------------------------


def rotated(image: np.ndarray, angle: float, low: float) -> np.ndarray:
    """Bilinear rotation of one [height, width] image, counter-clockwise as displayed, pixel by pixel."""
    height, width = image.shape
    cy, cx = (height - 1) / 2, (width - 1) / 2
    t = math.radians(angle)
    out = np.empty((height, width))

    def at(y, x):
        return float(image[y, x]) if 0 <= y < height and 0 <= x < width else low

    for row in range(height):
        for column in range(width):
            u, v = column - cx, cy - row
            sx = math.cos(t) * u + math.sin(t) * v + cx
            sy = cy - (-math.sin(t) * u + math.cos(t) * v)
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - x0, sy - y0
            top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
            bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
            out[row, column] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0)])
def test_rotate_by_matches_the_reference_on_a_non_square_batch(low, high):
    images = batch(n=3, shape=(2, 6, 9), low=low, high=high)
    angles = np.array([17.0, -40.0, 123.0])
    out = rotate_by(images, angles, low, high)
    for i in range(3):
        for c in range(2):
            np.testing.assert_allclose(out[i, c], rotated(images[i, c], angles[i], low), atol=1e-5)


def test_rotate_by_ninety_on_a_non_square_image():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4) / 12
    out = rotate_by(image, 90.0, 0.0, 1.0)[0]
    np.testing.assert_allclose(out, rotated(image[0], 90.0, 0.0), atol=1e-6)


def test_rotate_by_empty_and_broadcast_angles():
    out = rotate_by(np.zeros((0, 4, 4)), [], 0.0, 1.0)
    assert out.shape == (0, 4, 4) and out.dtype == np.float32
    images = batch(n=2, shape=(5, 5))
    np.testing.assert_allclose(rotate_by(images, 30.0, 0.0, 1.0)[1], rotated(images[1], 30.0, 0.0), atol=1e-5)


def test_rotate_draws_its_angles_from_the_generator():
    images = batch(n=4, shape=(1, 7, 7))
    angles = rng(9).uniform(-25.0, 25.0, size=4)
    np.testing.assert_array_equal(rotate(images, rng(9), 0.0, 1.0, degrees=25.0), rotate_by(images, angles, 0.0, 1.0))


# --- translate and occlude ---------------------------------------------------------------------


def shifted(image: np.ndarray, dx: int, dy: int, low: float) -> np.ndarray:
    height, width = image.shape
    out = np.full((height, width), low, dtype=np.float32)
    for row in range(height):
        for column in range(width):
            if 0 <= row - dy < height and 0 <= column - dx < width:
                out[row, column] = image[row - dy, column - dx]
    return out


def test_shift_by_matches_the_reference_for_every_offset():
    images = batch(n=1, shape=(2, 4, 5), low=0.1)
    for dx in range(-6, 7):
        for dy in range(-5, 6):
            out = shift_by(images, dx, dy, 0.0, 1.0)[0]
            for c in range(2):
                np.testing.assert_array_equal(out[c], shifted(images[0, c], dx, dy, 0.0), err_msg=f"{dx}, {dy}")


def test_translate_draws_x_then_y_from_the_generator():
    images = batch(n=6, shape=(2, 5, 6), low=0.1)
    draws = rng(8)
    dx, dy = draws.integers(-2, 3, size=6), draws.integers(-1, 2, size=6)
    out = translate(images, rng(8), -1.0, 1.0, dx=2, dy=1)
    for i in range(6):
        for c in range(2):
            np.testing.assert_array_equal(out[i, c], shifted(images[i, c], dx[i], dy[i], -1.0))
    draws = rng(8)
    dx, dy = draws.integers(-3, 4, size=6), draws.integers(0, 1, size=6)
    np.testing.assert_array_equal(translate(images, rng(8), 0.0, 1.0, dx=3.0), shift_by(images, dx, dy, 0.0, 1.0))


def test_occlude_paints_where_the_generator_says():
    images = batch(n=5, shape=(2, 6, 8), low=0.1)
    draws = rng(2)
    top, left = draws.integers(0, 6 - 3 + 1, size=5), draws.integers(0, 8 - 3 + 1, size=5)
    out = occlude(images, rng(2), -1.0, 1.0, size=3)
    for i in range(5):
        expected = images[i].copy()
        expected[:, top[i] : top[i] + 3, left[i] : left[i] + 3] = -1.0
        np.testing.assert_array_equal(out[i], expected)


def test_occlude_a_whole_image_and_a_single_pixel():
    images = batch(n=2, shape=(4, 4), low=0.1)
    np.testing.assert_array_equal(occlude(images, rng(), 0.0, 1.0, size=4), np.zeros((2, 4, 4)))
    draws = rng(3)
    top, left = draws.integers(0, 4, size=2), draws.integers(0, 4, size=2)
    out = occlude(images, rng(3), 0.0, 1.0, size=1)
    for i in range(2):
        expected = images[i].copy()
        expected[top[i], left[i]] = 0.0
        np.testing.assert_array_equal(out[i], expected)


# --- more than one channel axis ---------------------------------------------------------------------


def test_middle_axes_all_count_as_channels():
    images = batch(n=2, shape=(2, 3, 5, 6))
    assert ip._as_nchw(images).shape == (2, 6, 5, 6)
    assert ip._as_nchw(np.zeros((3, 5, 6))).shape == (3, 1, 5, 6)
    flat = images.reshape(2, 6, 5, 6)
    draw = rng(1).random((2, 1, 5, 6))
    expected = np.where(draw < 0.25, 0.0, np.where(draw < 0.5, 1.0, flat)).astype(np.float32).reshape(images.shape)
    np.testing.assert_array_equal(salt_pepper(images, rng(1), 0.0, 1.0, amount=0.5), expected)
    np.testing.assert_array_equal(shift_by(images, 1, -1, 0.0, 1.0), shift_by(flat, 1, -1, 0.0, 1.0).reshape(images.shape))
    np.testing.assert_allclose(rotate_by(images, [20.0, 50.0], 0.0, 1.0),
                               rotate_by(flat, [20.0, 50.0], 0.0, 1.0).reshape(images.shape), atol=1e-6)
    np.testing.assert_allclose(blur(images, rng(), 0.0, 1.0, sigma=1.0),
                               blur(flat, rng(), 0.0, 1.0, sigma=1.0).reshape(images.shape), atol=1e-6)


# --- each function names itself in its messages ------------------------------------------------------

CALLS = {
    "gaussian_noise": lambda images, low, high: gaussian_noise(images, rng(), low, high, std=0.1),
    "uniform_noise": lambda images, low, high: uniform_noise(images, rng(), low, high, eps=0.1),
    "salt_pepper": lambda images, low, high: salt_pepper(images, rng(), low, high, amount=0.1),
    "invert": lambda images, low, high: invert(images, rng(), low, high),
    "brightness": lambda images, low, high: brightness(images, rng(), low, high, delta=0.1),
    "contrast": lambda images, low, high: contrast(images, rng(), low, high, factor=1.5),
    "blur": lambda images, low, high: blur(images, rng(), low, high, sigma=1.0),
    "rotate": lambda images, low, high: rotate(images, rng(), low, high, degrees=10.0),
    "rotate_by": lambda images, low, high: rotate_by(images, 10.0, low, high),
    "translate": lambda images, low, high: translate(images, rng(), low, high, dx=1),
    "shift_by": lambda images, low, high: shift_by(images, 1, 1, low, high),
    "occlude": lambda images, low, high: occlude(images, rng(), low, high, size=2),
}
NAMED = {"rotate_by": "rotate", "shift_by": "translate"}


@pytest.mark.parametrize("name", CALLS)
def test_each_function_names_itself_when_refusing_a_range_or_shape(name):
    call, shown = CALLS[name], NAMED.get(name, name)
    assert message(lambda: call(batch(), 0.5, 0.5)) == f"{shown}: low must be below high, got low=0.5, high=0.5"
    assert message(lambda: call(np.zeros((2, 6)), 0.0, 1.0)) == (
        f"{shown}: images must be [n, height, width] or [n, channels, height, width], got shape (2, 6)")


@pytest.mark.parametrize("name", CALLS)
def test_float64_input_is_read_as_float32_first(name):
    # the result is what the same images in float32 give, value for value
    images = rng(21).uniform(-0.2, 1.2, size=(4, 2, 9, 11))
    np.testing.assert_array_equal(CALLS[name](images, 0.0, 1.0), CALLS[name](images.astype(np.float32), 0.0, 1.0))
    np.testing.assert_array_equal(CALLS[name](images, -1.0, 1.0), CALLS[name](images.astype(np.float32), -1.0, 1.0))


# --- the arithmetic is float32, value for value ---------------------------------------------------------


def test_contrast_computes_in_float32_around_a_float64_mean():
    images = rng(13).uniform(0.0, 1.0, size=(6, 3, 17, 19)).astype(np.float32)
    out = contrast(images, rng(), -1.0, 2.0, factor=1.3)
    for i in range(6):
        mean = np.float32(math.fsum(images[i].astype(np.float64).ravel()) / images[i].size)
        expected = mean + np.float32(1.3) * (images[i] - mean)
        assert expected.dtype == np.float32
        np.testing.assert_array_equal(out[i], np.clip(expected, -1.0, 2.0))


def test_blur_multiplies_float32_matrices():
    images = rng(14).uniform(0.0, 1.0, size=(3, 2, 10, 12)).astype(np.float32)
    kernel = ip._gaussian_kernel(1.2)
    rows = ip._blur_matrix(10, kernel).astype(np.float32)
    columns = ip._blur_matrix(12, kernel).astype(np.float32)
    expected = np.clip(rows @ images @ columns.T, 0.0, 1.0)
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(blur(images, rng(), 0.0, 1.0, sigma=1.2), expected)


def test_rotate_by_reads_angles_as_float64():
    images = batch(n=4, shape=(2, 9, 9))
    angles = np.array([13.7, -71.3, 33.3, 101.9], dtype=np.float32)
    np.testing.assert_array_equal(rotate_by(images, angles, 0.0, 1.0), rotate_by(images, angles.astype(np.float64), 0.0, 1.0))
    np.testing.assert_array_equal(rotate_by(images, [90, 0, -90, 180], 0.0, 1.0), rotate_by(images, [90.0, 0.0, -90.0, 180.0], 0.0, 1.0))


def test_shift_by_takes_whole_float_offsets():
    images = batch(n=2, shape=(5, 6))
    np.testing.assert_array_equal(shift_by(images, 2.0, -1.0, 0.0, 1.0), shift_by(images, 2, -1, 0.0, 1.0))
    np.testing.assert_array_equal(shift_by(images, [1.0, -2.0], [0.0, 3.0], 0.0, 1.0), shift_by(images, [1, -2], [0, 3], 0.0, 1.0))
    np.testing.assert_array_equal(shift_by(images, np.array([1.0, 0.0]), 0, 0.0, 1.0)[0, :, 1:], images[0, :, :-1])


# --- salt and pepper at its exact boundaries --------------------------------------------------------------


def test_salt_pepper_at_a_draw_equal_to_its_thresholds():
    images = np.full((1, 1, 2, 3), 0.5, dtype=np.float32)
    draw = rng(2).random((1, 1, 2, 3)).ravel()
    first = draw[0]
    assert 0.25 < first < 0.5
    # amount / 2 equal to the first draw: the first pixel is not pepper (draw < amount / 2 fails) but salt
    out = salt_pepper(images, rng(2), 0.0, 1.0, amount=2 * first).ravel()
    assert out[0] == 1.0
    np.testing.assert_array_equal(out, np.where(draw < first, 0.0, np.where(draw < 2 * first, 1.0, 0.5)))
    # amount equal to the first draw: the first pixel keeps its value (draw < amount fails)
    out = salt_pepper(images, rng(2), 0.0, 1.0, amount=first).ravel()
    assert out[0] == 0.5
    np.testing.assert_array_equal(out, np.where(draw < first / 2, 0.0, np.where(draw < first, 1.0, 0.5)))


# --- clipping, and rotation's float32 interpolation ---------------------------------------------------------


@pytest.mark.parametrize("name", CALLS)
def test_images_outside_the_range_come_back_clipped(name):
    # a constant image stays constant under blur (and the others but noise); it still ends in [low, high]
    above = np.full((2, 1, 6, 6), 1.75, dtype=np.float32)
    below = np.full((2, 1, 6, 6), -0.75, dtype=np.float32)
    assert CALLS[name](above, 0.0, 1.0).max() <= 1.0 and CALLS[name](below, 0.0, 1.0).min() >= 0.0
    np.testing.assert_array_equal(blur(above, rng(), -0.5, 1.25, sigma=1.0), np.full_like(above, 1.25))
    np.testing.assert_array_equal(blur(below, rng(), -0.5, 1.25, sigma=1.0), np.full_like(below, -0.5))


def float32_rotation(images: np.ndarray, angles: np.ndarray, low: float) -> np.ndarray:
    """Bilinear rotation pixel by pixel with the weights and products in float32, what
    rotate_by computes (the source positions from numpy's cos and sin, as there)."""
    n, height, width = images.shape
    theta = np.deg2rad(np.asarray(angles, dtype=np.float64))[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    u = (np.arange(width, dtype=np.float64) - cx)[None, None, :]
    v = (cy - np.arange(height, dtype=np.float64))[None, :, None]
    source_x = cos * u + sin * v + cx
    source_y = cy - (-sin * u + cos * v)
    out = np.empty(images.shape, dtype=np.float32)
    one, background = np.float32(1), np.float32(low)
    for i, row, column in np.ndindex(*images.shape):
        sx, sy = source_x[i, row, column], source_y[i, row, column]
        x0, y0 = math.floor(sx), math.floor(sy)
        fx, fy = np.float32(sx - x0), np.float32(sy - y0)

        def at(y, x):
            return images[i, y, x] if 0 <= y < height and 0 <= x < width else background

        top = at(y0, x0) * (one - fx) + at(y0, x0 + 1) * fx
        bottom = at(y0 + 1, x0) * (one - fx) + at(y0 + 1, x0 + 1) * fx
        out[i, row, column] = top * (one - fy) + bottom * fy
    return out


def test_rotate_by_interpolates_in_float32():
    images = rng(23).uniform(0.0, 1.0, size=(3, 7, 8)).astype(np.float32)
    angles = np.array([11.0, -37.5, 70.25])
    expected = float32_rotation(images, angles, 0.0)
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(rotate_by(images, angles, 0.0, 1.0), np.clip(expected, 0.0, 1.0))
