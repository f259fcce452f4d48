"""Tests for mlspec.library.image_perturbations."""

import inspect
import math

import numpy as np
import pytest

from mlspec.library.image_perturbations import (
    IMAGE_PERTURBATIONS,
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
from mlspec.library.perturbations import Param, PerturbationInfo

# Arguments for every registered perturbation, small enough to keep images recognizable.
ARGS = {
    "gaussian_noise": {"std": 0.2},
    "uniform_noise": {"eps": 0.2},
    "salt_pepper": {"amount": 0.1},
    "invert": {},
    "brightness": {"delta": 0.3},
    "contrast": {"factor": 1.7},
    "blur": {"sigma": 1.0},
    "rotate": {"degrees": 30.0},
    "translate": {"dx": 3, "dy": 2},
    "occlude": {"size": 5},
}
NAMES = list(IMAGE_PERTURBATIONS)
RANGES = [(0.0, 1.0), (-1.0, 1.0)]


def rng(seed=0):
    return np.random.default_rng(seed)


def images(n=8, shape=(1, 12, 12), low=0.0, high=1.0, seed=123):
    return rng(seed).uniform(low, high, size=(n, *shape)).astype(np.float32)


def apply(name, batch, generator=None, low=0.0, high=1.0):
    info = IMAGE_PERTURBATIONS[name]
    return info.fn(batch, generator if generator is not None else rng(), low, high, **ARGS[name])


# --- contract shared by all perturbations ----------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 12, 12), (3, 10, 14), (12, 12)])
def test_shape_dtype_and_input_untouched(name, shape):
    batch = images(shape=shape)
    before = batch.copy()
    out = apply(name, batch)
    assert out.shape == batch.shape
    assert out.dtype == np.float32
    assert out is not batch and not np.shares_memory(out, batch)
    np.testing.assert_array_equal(batch, before)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("low, high", RANGES)
def test_output_within_range(name, low, high):
    # Inputs slightly outside the range must be clipped too.
    batch = images(n=20, low=low - 0.1, high=high + 0.1)
    out = apply(name, batch, low=low, high=high)
    assert out.min() >= low and out.max() <= high


@pytest.mark.parametrize("name", NAMES)
def test_accepts_float64_input(name):
    out = apply(name, images().astype(np.float64))
    assert out.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch(name):
    out = apply(name, np.zeros((0, 1, 12, 12), dtype=np.float32))
    assert out.shape == (0, 1, 12, 12) and out.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name):
    batch = images()
    np.testing.assert_array_equal(apply(name, batch, rng(7)), apply(name, batch, rng(7)))


@pytest.mark.parametrize("name", [n for n in NAMES if IMAGE_PERTURBATIONS[n].randomized])
def test_randomized_differs_across_seeds_and_calls(name):
    batch = images()
    assert not np.array_equal(apply(name, batch, rng(1)), apply(name, batch, rng(2)))
    generator = rng(3)
    first, second = apply(name, batch, generator), apply(name, batch, generator)
    assert not np.array_equal(first, second)  # the generator advanced


@pytest.mark.parametrize("name", [n for n in NAMES if IMAGE_PERTURBATIONS[n].randomized])
def test_randomized_draws_per_image(name):
    # The same image repeated across the batch gets different perturbations.
    batch = np.repeat(images(n=1), 10, axis=0)
    out = apply(name, batch)
    assert len({out[i].tobytes() for i in range(len(out))}) > 1


@pytest.mark.parametrize("name", [n for n in NAMES if not IMAGE_PERTURBATIONS[n].randomized])
def test_deterministic_ones_ignore_the_generator(name):
    batch = images()
    generator = rng(5)
    state = generator.bit_generator.state
    out = apply(name, batch, generator)
    assert generator.bit_generator.state == state
    np.testing.assert_array_equal(out, apply(name, batch, rng(99)))


@pytest.mark.parametrize("name", NAMES)
def test_uses_only_the_given_generator(name):
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    apply(name, images())
    assert (np.random.get_state()[1] == state).all()


@pytest.mark.parametrize("name", NAMES)
def test_channels_of_an_image_are_handled_alike(name):
    # A 3-channel image whose channels are equal: spatial perturbations keep them equal.
    grey = images(n=6)
    colour = np.repeat(grey, 3, axis=1)
    out = apply(name, colour)
    if name in {"gaussian_noise", "uniform_noise"}:
        return  # noise is drawn per value
    np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-6)
    np.testing.assert_allclose(out[:, 0], out[:, 2], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_bad_range_and_shape(name):
    with pytest.raises(ValueError):
        apply(name, images(), low=1.0, high=0.0)
    with pytest.raises(ValueError):
        apply(name, np.zeros((4, 12), dtype=np.float32))


@pytest.mark.parametrize(
    "fn, params",
    [
        (gaussian_noise, {"std": 0.0}),
        (gaussian_noise, {"std": -1.0}),
        (uniform_noise, {"eps": -0.1}),
        (salt_pepper, {"amount": 1.5}),
        (salt_pepper, {"amount": -0.1}),
        (contrast, {"factor": 0.0}),
        (blur, {"sigma": 0.0}),
        (rotate, {"degrees": -5.0}),
        (translate, {}),
        (translate, {"dx": -1}),
        (occlude, {"size": 0}),
        (occlude, {"size": 13}),
    ],
)
def test_rejects_impossible_parameters(fn, params):
    with pytest.raises(ValueError):
        fn(images(), rng(), 0.0, 1.0, **params)


# --- noise -----------------------------------------------------------------


def test_gaussian_noise_std_on_mid_grey():
    batch = np.full((200, 1, 28, 28), 0.5, dtype=np.float32)
    noise = gaussian_noise(batch, rng(), 0.0, 1.0, std=0.05) - 0.5  # 10 std from the edges
    assert abs(noise.mean()) < 0.001
    assert noise.std() == pytest.approx(0.05, rel=0.01)
    # Each image gets its own noise.
    assert not np.array_equal(noise[0], noise[1])


def test_uniform_noise_bounds_and_spread():
    batch = np.full((200, 1, 28, 28), 0.5, dtype=np.float32)
    noise = uniform_noise(batch, rng(), 0.0, 1.0, eps=0.1) - 0.5
    assert noise.min() >= -0.1 - 1e-6 and noise.max() <= 0.1 + 1e-6
    assert abs(noise.mean()) < 0.001
    assert noise.std() == pytest.approx(0.1 / math.sqrt(3), rel=0.01)


def test_uniform_noise_zero_eps_is_identity():
    batch = images()
    np.testing.assert_array_equal(uniform_noise(batch, rng(), 0.0, 1.0, eps=0.0), batch)


@pytest.mark.parametrize("low, high", RANGES)
def test_salt_pepper_changes_about_amount_of_pixels(low, high):
    mid = (low + high) / 2
    batch = np.full((1000, 1, 28, 28), mid, dtype=np.float32)
    out = salt_pepper(batch, rng(), low, high, amount=0.1)
    assert set(np.unique(out)) <= {np.float32(low), np.float32(mid), np.float32(high)}
    salt, pepper = (out == high).mean(), (out == low).mean()
    assert salt + pepper == pytest.approx(0.1, abs=0.002)
    assert salt == pytest.approx(0.05, abs=0.002)
    assert pepper == pytest.approx(0.05, abs=0.002)
    per_image = (out != mid).mean(axis=(1, 2, 3))
    assert per_image.std() > 0  # each image draws its own pixels


def test_salt_pepper_hits_all_channels_of_a_pixel():
    batch = np.full((50, 3, 16, 16), 0.5, dtype=np.float32)
    out = salt_pepper(batch, rng(), 0.0, 1.0, amount=0.3)
    assert (out[:, 0] == out[:, 1]).all() and (out[:, 0] == out[:, 2]).all()


def test_salt_pepper_extremes():
    batch = np.full((10, 1, 8, 8), 0.5, dtype=np.float32)
    np.testing.assert_array_equal(salt_pepper(batch, rng(), 0.0, 1.0, amount=0.0), batch)
    assert not (salt_pepper(batch, rng(), 0.0, 1.0, amount=1.0) == 0.5).any()


# --- intensity -------------------------------------------------------------


@pytest.mark.parametrize("low, high", RANGES)
def test_invert_values_and_twice_is_identity(low, high):
    batch = images(low=low, high=high)
    once = invert(batch, rng(), low, high)
    np.testing.assert_allclose(once, low + high - batch, atol=1e-6)
    np.testing.assert_allclose(invert(once, rng(), low, high), batch, atol=1e-6)
    edges = np.array([[[low, high]]], dtype=np.float32)[None]
    np.testing.assert_array_equal(invert(edges, rng(), low, high), edges[..., ::-1])


def test_brightness_exact_values():
    batch = np.array([[[[0.0, 0.25, 0.5, 0.9]]]], dtype=np.float32)
    np.testing.assert_allclose(
        brightness(batch, rng(), 0.0, 1.0, delta=0.25), [[[[0.25, 0.5, 0.75, 1.0]]]], atol=1e-7
    )
    np.testing.assert_allclose(
        brightness(batch, rng(), 0.0, 1.0, delta=-0.25), [[[[0.0, 0.0, 0.25, 0.65]]]], atol=1e-7
    )
    # The shift is delta times the range width: 0.25 * 2 on [-1, 1].
    signed = np.array([[[[-1.0, -0.5, 0.0, 0.75]]]], dtype=np.float32)
    np.testing.assert_allclose(
        brightness(signed, rng(), -1.0, 1.0, delta=0.25), [[[[-0.5, 0.0, 0.5, 1.0]]]], atol=1e-7
    )


def test_contrast_one_is_identity():
    batch = images(n=20)
    np.testing.assert_allclose(contrast(batch, rng(), 0.0, 1.0, factor=1.0), batch, atol=1e-6)


def test_contrast_exact_values_use_each_images_mean():
    batch = np.array(
        [[[[0.2, 0.4], [0.6, 0.8]]], [[[0.0, 0.0], [0.0, 0.4]]]], dtype=np.float32
    )  # means 0.5 and 0.1
    out = contrast(batch, rng(), 0.0, 1.0, factor=0.5)
    np.testing.assert_allclose(out[0], [[[0.35, 0.45], [0.55, 0.65]]], atol=1e-6)
    np.testing.assert_allclose(out[1], [[[0.05, 0.05], [0.05, 0.25]]], atol=1e-6)
    doubled = contrast(batch, rng(), 0.0, 1.0, factor=2.0)
    np.testing.assert_allclose(doubled[0], [[[0.0, 0.3], [0.7, 1.0]]], atol=1e-6)  # clipped


def test_contrast_mean_covers_all_channels():
    batch = np.zeros((1, 2, 2, 2), dtype=np.float32)
    batch[0, 1] = 1.0  # mean over both channels is 0.5
    out = contrast(batch, rng(), 0.0, 1.0, factor=0.5)
    np.testing.assert_allclose(out[0, 0], 0.25)
    np.testing.assert_allclose(out[0, 1], 0.75)


# --- blur ------------------------------------------------------------------


def kernel(sigma):
    radius = math.ceil(3 * sigma)
    weights = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma**2))
    return weights / weights.sum()


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5, 20.0])
def test_blur_keeps_constant_images(sigma):
    batch = np.full((3, 2, 9, 13), 0.3, dtype=np.float32)
    np.testing.assert_allclose(blur(batch, rng(), 0.0, 1.0, sigma=sigma), batch, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_blur_smooths_an_impulse_into_the_gaussian(sigma):
    batch = np.zeros((2, 1, 21, 21), dtype=np.float32)
    batch[:, 0, 10, 10] = 1.0
    out = blur(batch, rng(), 0.0, 1.0, sigma=sigma)[0, 0]
    k = kernel(sigma)
    radius = len(k) // 2
    expected = np.zeros((21, 21))
    expected[10 - radius : 11 + radius, 10 - radius : 11 + radius] = np.outer(k, k)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(out, out[::-1, :], atol=1e-7)
    np.testing.assert_allclose(out, out[:, ::-1], atol=1e-7)
    np.testing.assert_allclose(out, out.T, atol=1e-7)
    assert out.argmax() == 10 * 21 + 10


def test_blur_reflects_at_edges():
    # numpy "reflect" padding mirrors about the edge pixel without repeating it:
    # pixel -1 reads pixel 1, so an impulse on pixel 1 also reaches pixels 0..2
    # through its mirror image at -1.  (Zero padding would give k[4] at pixel 0,
    # "symmetric" padding k[4] + k[5].)
    row = np.zeros((1, 1, 1, 9), dtype=np.float32)
    row[..., 1] = 1.0
    batch = np.repeat(row, 5, axis=2)  # constant down the columns
    out = blur(batch, rng(), 0.0, 1.0, sigma=1.0)[0, 0, 0]
    k = kernel(1.0)  # radius 3, centre k[3]
    expected = np.zeros(9)
    expected[:5] = [2 * k[4], k[3] + k[5], k[4] + k[6], k[5], k[6]]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_blur_works_per_channel():
    batch = np.zeros((1, 2, 11, 11), dtype=np.float32)
    batch[0, 0, 5, 5] = 1.0
    out = blur(batch, rng(), 0.0, 1.0, sigma=1.0)
    assert out[0, 1].max() == 0.0
    assert out[0, 0].sum() == pytest.approx(1.0, abs=1e-5)


# --- rotate ----------------------------------------------------------------

ASYMMETRIC = np.arange(1, 26, dtype=np.float32).reshape(5, 5) / 25  # every value distinct


def test_rotate_by_zero_is_identity():
    batch = images(shape=(3, 9, 13))
    np.testing.assert_array_equal(rotate_by(batch, np.zeros(len(batch)), 0.0, 1.0), batch)
    np.testing.assert_array_equal(rotate(batch, rng(), 0.0, 1.0, degrees=0.0), batch)


@pytest.mark.parametrize("angle, k", [(90.0, 1), (-90.0, -1), (180.0, 2), (270.0, 3), (360.0, 0)])
def test_rotate_by_right_angles_matches_rot90(angle, k):
    # Positive angles turn the image counter-clockwise as displayed, like np.rot90.
    batch = np.stack([ASYMMETRIC, ASYMMETRIC.T])[:, None]
    out = rotate_by(batch, np.full(2, angle), 0.0, 1.0)
    np.testing.assert_allclose(out, np.rot90(batch, k=k, axes=(-2, -1)), atol=1e-5)


def test_rotate_by_ninety_counter_clockwise_on_a_known_image():
    image = np.zeros((1, 3, 3), dtype=np.float32)
    image[0, 0, 2] = 1.0  # top-right corner
    out = rotate_by(image, [90.0], 0.0, 1.0)
    expected = np.zeros((1, 3, 3), dtype=np.float32)
    expected[0, 0, 0] = 1.0  # counter-clockwise: top-right goes to top-left
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_rotate_by_uses_each_images_angle():
    batch = np.stack([ASYMMETRIC] * 3)[:, None]
    out = rotate_by(batch, np.array([0.0, 90.0, 180.0]), 0.0, 1.0)
    np.testing.assert_allclose(out[0, 0], ASYMMETRIC, atol=1e-6)
    np.testing.assert_allclose(out[1, 0], np.rot90(ASYMMETRIC), atol=1e-5)
    np.testing.assert_allclose(out[2, 0], np.rot90(ASYMMETRIC, 2), atol=1e-5)


@pytest.mark.parametrize("low, high", RANGES)
def test_rotate_fills_outside_with_low(low, high):
    batch = np.full((1, 1, 21, 21), high, dtype=np.float32)
    out = rotate_by(batch, [45.0], low, high)[0, 0]
    assert out[0, 0] == low and out[0, -1] == low and out[-1, 0] == low and out[-1, -1] == low
    assert out[10, 10] == high and out[10, 0] == pytest.approx(high) and out[0, 10] == pytest.approx(high)


def test_rotate_bilinear_interpolation():
    # A horizontal ramp: 180 degrees mirrors it exactly; a small tilt keeps the centre and the slope.
    ramp = np.tile(np.linspace(0.0, 1.0, 11, dtype=np.float32), (11, 1))[None, None]
    out = rotate_by(ramp, [180.0], 0.0, 1.0)[0, 0]
    np.testing.assert_allclose(out, ramp[0, 0, :, ::-1], atol=1e-5)
    tilted = rotate_by(ramp, [10.0], 0.0, 1.0)[0, 0]
    assert tilted[5, 5] == pytest.approx(0.5, abs=1e-5)  # the centre is fixed
    assert np.all(np.diff(tilted[5, 2:9]) > 0)  # still increasing across the middle


def test_rotate_draws_uniform_angles_per_image():
    batch = np.stack([ASYMMETRIC] * 50)[:, None]
    angles = rng(4).uniform(-30.0, 30.0, size=50)
    np.testing.assert_array_equal(
        rotate(batch, rng(4), 0.0, 1.0, degrees=30.0), rotate_by(batch, angles, 0.0, 1.0)
    )


# --- translate -------------------------------------------------------------


def test_translate_moves_a_bright_pixel_by_the_drawn_offset():
    n, size = 400, 15
    batch = np.zeros((n, 1, size, size), dtype=np.float32)
    batch[:, 0, 7, 7] = 1.0
    out = translate(batch, rng(), 0.0, 1.0, dx=3, dy=2)
    offsets = []
    for i in range(n):
        assert (out[i] == 1.0).sum() == 1 and (out[i] == 0.0).sum() == size * size - 1
        row, column = np.argwhere(out[i, 0] == 1.0)[0]
        dy, dx = row - 7, column - 7
        assert abs(dx) <= 3 and abs(dy) <= 2
        np.testing.assert_array_equal(out[i], shift_by(batch[i : i + 1], dx, dy, 0.0, 1.0)[0])
        offsets.append((dx, dy))
    assert set(offsets) == {(x, y) for x in range(-3, 4) for y in range(-2, 3)}  # all offsets occur


def test_shift_by_moves_right_and_down_and_fills_with_low():
    image = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    out = shift_by(image, [1], [2], -1.0, 20.0)[0, 0]
    expected = np.full((3, 4), -1.0)
    expected[2, 1:] = image[0, 0, 0, :3]
    np.testing.assert_array_equal(out, expected)
    left_up = shift_by(image, [-2], [-1], 0.0, 20.0)[0, 0]
    expected = np.zeros((3, 4))
    expected[:2, :2] = image[0, 0, 1:, 2:]
    np.testing.assert_array_equal(left_up, expected)


def test_translate_one_axis_only():
    batch = images(n=50)
    out = translate(batch, rng(), 0.0, 1.0, dx=0, dy=2)
    for i in range(len(batch)):
        candidates = [shift_by(batch[i : i + 1], 0, dy, 0.0, 1.0)[0] for dy in range(-2, 3)]
        assert any(np.array_equal(out[i], c) for c in candidates)


def test_translate_offset_beyond_the_image_leaves_background():
    batch = np.ones((1, 1, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(shift_by(batch, [5], [0], 0.0, 1.0), np.zeros_like(batch))


# --- occlude ---------------------------------------------------------------


@pytest.mark.parametrize("low, high", RANGES)
@pytest.mark.parametrize("size", [1, 4, 12])
def test_occlude_paints_exactly_one_square(low, high, size):
    batch = images(n=100, shape=(2, 12, 12), low=low + 0.01, high=high)
    out = occlude(batch, rng(), low, high, size=size)
    for i in range(len(batch)):
        painted = out[i, 0] == low
        assert painted.sum() == size * size
        rows, columns = np.nonzero(painted)
        assert rows.max() - rows.min() == size - 1 and columns.max() - columns.min() == size - 1
        np.testing.assert_array_equal(out[i, 1] == low, painted)  # every channel
        np.testing.assert_array_equal(out[i][:, ~painted], batch[i][:, ~painted])


def test_occlude_positions_vary_and_cover_the_image():
    batch = np.ones((300, 1, 6, 6), dtype=np.float32)
    out = occlude(batch, rng(), 0.0, 1.0, size=2)
    corners = {tuple(np.argwhere(out[i, 0] == 0.0).min(axis=0)) for i in range(len(out))}
    assert corners == {(r, c) for r in range(5) for c in range(5)}


# --- vectorized ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_large_batch_matches_per_image_behaviour(name):
    # Deterministic ones give the same result image by image as on the whole batch.
    batch = images(n=1000, shape=(1, 28, 28))
    out = apply(name, batch)
    assert out.shape == (1000, 1, 28, 28)
    if not IMAGE_PERTURBATIONS[name].randomized:
        for i in (0, 499, 999):
            np.testing.assert_allclose(apply(name, batch[i : i + 1])[0], out[i], atol=1e-6)


# --- registry --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registry_matches_function_signatures(name):
    info = IMAGE_PERTURBATIONS[name]
    assert isinstance(info, PerturbationInfo)
    assert info.name == name
    assert info.summary and "\n" not in info.summary
    signature = list(inspect.signature(info.fn).parameters.values())
    assert [p.name for p in signature[:4]] == ["images", "rng", "low", "high"]
    assert [p.name for p in signature[4:]] == [p.name for p in info.params]
    for param, declared in zip(signature[4:], info.params):
        assert isinstance(declared, Param)
        assert declared.kind in {"int", "float"}
        expected_default = inspect.Parameter.empty if declared.default is None else declared.default
        assert param.default == expected_default
        if declared.minimum is not None and declared.default is not None:
            assert declared.default >= declared.minimum
    assert set(ARGS[name]) <= {p.name for p in info.params}


def test_registry_contents():
    assert NAMES == [
        "gaussian_noise", "uniform_noise", "salt_pepper", "invert", "brightness",
        "contrast", "blur", "rotate", "translate", "occlude",
    ]
    assert [n for n, i in IMAGE_PERTURBATIONS.items() if i.randomized] == [
        "gaussian_noise", "uniform_noise", "salt_pepper", "rotate", "translate", "occlude"
    ]
    assert IMAGE_PERTURBATIONS["invert"].params == ()
    assert IMAGE_PERTURBATIONS["brightness"].params == (Param("delta", "float"),)
    assert IMAGE_PERTURBATIONS["translate"].params == (
        Param("dx", "int", 0, 0), Param("dy", "int", 0, 0)
    )
    assert IMAGE_PERTURBATIONS["occlude"].params == (Param("size", "int", None, 1),)
