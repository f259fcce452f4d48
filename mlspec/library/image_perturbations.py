"""Seeded, vectorized perturbations of image batches for INV test variants.

Each perturbation is a function
``fn(images, rng, low, high, **params) -> np.ndarray`` that perturbs a whole
batch in one call.  ``images`` is ``[n, height, width]`` or
``[n, channels, height, width]`` (any axes between the first and the last two
count as channels); ``low`` and ``high`` are the pixel range, for example
0 and 1, or -1 and 1.  The result is a new float32 array of the same shape,
clipped to ``[low, high]``; the input is never modified.  Every random choice
goes through the ``numpy.random.Generator`` passed in, each image getting its
own draw, so the same images and the same generator state always give the
same output, and calling again with the advanced generator gives a new draw.
Deterministic perturbations do not touch the generator.

``IMAGE_PERTURBATIONS`` describes each one (parameters, whether it is
randomized, a one-line summary) for the compiler, with the ``Param`` and
``PerturbationInfo`` records of :mod:`mlspec.library.perturbations`.

Conventions: noise is drawn independently for every value (each channel of
each pixel); salt-and-pepper, rotation, translation and occlusion act on
pixel positions, the same way on every channel.  Rows run downwards and
columns to the right, so ``translate`` moves content right for a positive
``dx`` and down for a positive ``dy``, and ``rotate`` turns content
counter-clockwise (as displayed) for a positive angle: +90 degrees on a
square image gives ``np.rot90(image, axes=(-2, -1))``.  Uncovered areas
(outside a rotated or shifted image) are filled with ``low``, the background.

Limits: numpy only, with no SciPy: blur is a separable Gaussian with reflect
padding done as two small matrix products, rotation is an inverse mapping
with bilinear interpolation (no antialiasing, so fine detail aliases at odd
angles), and translation is by whole pixels.  Everything is vectorized over
the batch with no Python loop over images, but each call holds a few
float32/float64 arrays the size of the batch, so very large batches should be
perturbed in chunks.  The registry can only state inclusive minimums, so
conditions such as ``std > 0`` or ``amount <= 1`` are checked inside the
functions, which raise ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mlspec.library.perturbations import Param, PerturbationInfo

ImagePerturbation = Callable[..., np.ndarray]


# --- helpers ---------------------------------------------------------------


def _prepare(name: str, images: np.ndarray, low: float, high: float) -> np.ndarray:
    """Check the batch and range; return the images as float32 (maybe the input itself)."""
    if not low < high:
        raise ValueError(f"{name}: low must be below high, got low={low}, high={high}")
    array = np.asarray(images, dtype=np.float32)
    if array.ndim < 3:
        raise ValueError(
            f"{name}: images must be [n, height, width] or [n, channels, height, width], "
            f"got shape {array.shape}"
        )
    return array


def _finish(values: np.ndarray, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """A new float32 array of ``shape``, clipped to [low, high]."""
    return np.clip(values, low, high).astype(np.float32, copy=False).reshape(shape)


def _as_nchw(array: np.ndarray) -> np.ndarray:
    """View a batch as [n, channels, height, width], channels = product of the middle axes."""
    n, height, width = array.shape[0], array.shape[-2], array.shape[-1]
    return array.reshape(n, math.prod(array.shape[1:-2]), height, width)


def _positive(name: str, what: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name}: {what} must be > 0, got {value}")


def _non_negative(name: str, what: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name}: {what} must be >= 0, got {value}")


# --- noise -----------------------------------------------------------------


def gaussian_noise(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, std: float
) -> np.ndarray:
    """Add N(0, std) noise to every value (each channel of each pixel), then clip."""
    _positive("gaussian_noise", "std", std)
    array = _prepare("gaussian_noise", images, low, high)
    noise = rng.standard_normal(array.shape, dtype=np.float32)
    noise *= np.float32(std)
    return _finish(array + noise, array.shape, low, high)


def uniform_noise(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, eps: float
) -> np.ndarray:
    """Add U(-eps, eps) noise to every value (each channel of each pixel), then clip."""
    _non_negative("uniform_noise", "eps", eps)
    array = _prepare("uniform_noise", images, low, high)
    noise = rng.random(array.shape, dtype=np.float32)
    noise *= np.float32(2 * eps)
    noise -= np.float32(eps)
    return _finish(array + noise, array.shape, low, high)


def salt_pepper(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, amount: float
) -> np.ndarray:
    """Set each pixel, with probability ``amount``, to ``low`` or ``high`` (equal chance).

    Pixels are chosen independently, so about ``amount`` of each image's
    pixels change; a chosen pixel gets the same value on every channel.
    """
    if not 0 <= amount <= 1:
        raise ValueError(f"salt_pepper: amount must be between 0 and 1, got {amount}")
    array = _prepare("salt_pepper", images, low, high)
    batch = _as_nchw(array)
    n, _, height, width = batch.shape
    draw = rng.random((n, 1, height, width))  # below amount/2: pepper; then up to amount: salt
    values = np.where(draw < amount / 2, np.float32(low), np.where(draw < amount, np.float32(high), batch))
    return _finish(values, array.shape, low, high)


# --- intensity -------------------------------------------------------------


def invert(images: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """Mirror every value within the range: ``low + high - x``."""
    array = _prepare("invert", images, low, high)
    return _finish(np.float32(low + high) - array, array.shape, low, high)


def brightness(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, delta: float
) -> np.ndarray:
    """Add ``delta`` times the range width (``delta`` may be negative), then clip."""
    array = _prepare("brightness", images, low, high)
    return _finish(array + np.float32(delta * (high - low)), array.shape, low, high)


def contrast(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, factor: float
) -> np.ndarray:
    """Scale each image's deviations from its own mean: ``mean + factor * (x - mean)``, then clip.

    The mean is over all of the image's values (every channel).
    """
    _positive("contrast", "factor", factor)
    array = _prepare("contrast", images, low, high)
    axes = tuple(range(1, array.ndim))
    mean = array.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    return _finish(mean + np.float32(factor) * (array - mean), array.shape, low, high)


# --- spatial ---------------------------------------------------------------


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalized 1-D Gaussian weights at offsets -r..r, r = ceil(3 * sigma)."""
    radius = math.ceil(3 * sigma)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def _blur_matrix(size: int, kernel: np.ndarray) -> np.ndarray:
    """The [size, size] matrix of a 1-D convolution with reflect padding."""
    radius = len(kernel) // 2
    source = np.pad(np.arange(size), radius, mode="reflect")  # padded position -> pixel
    matrix = np.zeros((size, size))
    rows = np.arange(size)
    for k, weight in enumerate(kernel):  # a loop over kernel taps, not over images
        np.add.at(matrix, (rows, source[rows + k]), weight)
    return matrix


def blur(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, sigma: float
) -> np.ndarray:
    """Separable Gaussian blur over height and width, kernel radius ceil(3 * sigma).

    Edges use reflect padding (``np.pad`` mode "reflect": the edge pixel is
    not repeated), so a constant image stays constant.
    """
    _positive("blur", "sigma", sigma)
    array = _prepare("blur", images, low, high)
    kernel = _gaussian_kernel(sigma)
    height, width = array.shape[-2:]
    along_rows = _blur_matrix(height, kernel).astype(np.float32)
    along_columns = _blur_matrix(width, kernel).astype(np.float32)
    blurred = along_rows @ _as_nchw(array) @ along_columns.T
    return _finish(blurred, array.shape, low, high)


def rotate_by(images: np.ndarray, angles: np.ndarray, low: float, high: float) -> np.ndarray:
    """Rotate image ``i`` by ``angles[i]`` degrees about its centre (counter-clockwise as displayed).

    The deterministic core of :func:`rotate`.  Bilinear interpolation;
    positions from outside the image read as ``low``.  A rotation by 0 is
    the identity, and by 90 degrees on a square image it matches
    ``np.rot90(image, axes=(-2, -1))`` up to rounding.
    """
    array = _prepare("rotate", images, low, high)
    batch = _as_nchw(array)
    n, channels, height, width = batch.shape
    angles = np.broadcast_to(np.asarray(angles, dtype=np.float64), (n,))
    if n == 0:
        return _finish(array, array.shape, low, high)
    theta = np.deg2rad(angles)[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    # Output position (u right, v up, from the centre) comes from source R(-theta) (u, v).
    u = (np.arange(width, dtype=np.float64) - centre_x)[None, None, :]
    v = (centre_y - np.arange(height, dtype=np.float64))[None, :, None]
    source_x = cos * u + sin * v + centre_x
    source_y = centre_y - (-sin * u + cos * v)
    # Pad with one ring of `low`; clipping an index into the padded frame then
    # reads `low` for any position outside the image.
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.float32(low))
    padded = padded.reshape(n, channels, (height + 2) * (width + 2))
    x0 = np.floor(source_x)
    y0 = np.floor(source_y)
    fx = (source_x - x0).astype(np.float32)[:, None]
    fy = (source_y - y0).astype(np.float32)[:, None]
    x0 = x0.astype(np.int64) + 1  # +1: index in the padded frame
    y0 = y0.astype(np.int64) + 1
    xs = (np.clip(x0, 0, width + 1), np.clip(x0 + 1, 0, width + 1))
    ys = (np.clip(y0, 0, height + 1), np.clip(y0 + 1, 0, height + 1))

    def read(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        flat = (y * (width + 2) + x).reshape(n, 1, height * width)
        return np.take_along_axis(padded, flat, axis=2).reshape(n, channels, height, width)

    top = read(ys[0], xs[0]) * (1 - fx) + read(ys[0], xs[1]) * fx
    bottom = read(ys[1], xs[0]) * (1 - fx) + read(ys[1], xs[1]) * fx
    return _finish(top * (1 - fy) + bottom * fy, array.shape, low, high)


def rotate(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, degrees: float
) -> np.ndarray:
    """Rotate each image about its centre by its own angle, uniform in [-degrees, degrees].

    The angles are ``rng.uniform(-degrees, degrees, size=n)``; see
    :func:`rotate_by` for direction, interpolation and background.
    """
    _non_negative("rotate", "degrees", degrees)
    array = _prepare("rotate", images, low, high)
    angles = rng.uniform(-degrees, degrees, size=array.shape[0])
    return rotate_by(array, angles, low, high)


def shift_by(images: np.ndarray, dx: np.ndarray, dy: np.ndarray, low: float, high: float) -> np.ndarray:
    """Move image ``i`` by ``dx[i]`` columns right and ``dy[i]`` rows down, filling with ``low``.

    The deterministic core of :func:`translate`; offsets are whole pixels
    and may be negative.
    """
    array = _prepare("translate", images, low, high)
    batch = _as_nchw(array)
    n, channels, height, width = batch.shape
    dx = np.broadcast_to(np.asarray(dx, dtype=np.int64), (n,))
    dy = np.broadcast_to(np.asarray(dy, dtype=np.int64), (n,))
    rows = np.arange(height)[None, :] - dy[:, None]  # [n, height]: source row of each output row
    columns = np.arange(width)[None, :] - dx[:, None]  # [n, width]
    inside = ((rows >= 0) & (rows < height))[:, None, :, None] & (
        (columns >= 0) & (columns < width)
    )[:, None, None, :]
    moved = batch[
        np.arange(n)[:, None, None, None],
        np.arange(channels)[None, :, None, None],
        np.clip(rows, 0, height - 1)[:, None, :, None],
        np.clip(columns, 0, width - 1)[:, None, None, :],
    ]
    return _finish(np.where(inside, moved, np.float32(low)), array.shape, low, high)


def translate(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, dx: int = 0, dy: int = 0
) -> np.ndarray:
    """Shift each image by its own random whole-pixel offset in [-dx, dx] x [-dy, dy].

    Positive offsets move content right (dx) and down (dy); the exposed area
    is ``low``.  The offsets are ``rng.integers(-dx, dx + 1, size=n)`` then
    ``rng.integers(-dy, dy + 1, size=n)``.
    """
    if dx < 0 or dy < 0 or dx != int(dx) or dy != int(dy):
        raise ValueError(f"translate: dx and dy must be whole numbers >= 0, got dx={dx}, dy={dy}")
    if dx == 0 and dy == 0:
        raise ValueError("translate: at least one of dx and dy must be > 0")
    array = _prepare("translate", images, low, high)
    n = array.shape[0]
    shifts_x = rng.integers(-int(dx), int(dx) + 1, size=n)
    shifts_y = rng.integers(-int(dy), int(dy) + 1, size=n)
    return shift_by(array, shifts_x, shifts_y, low, high)


def occlude(
    images: np.ndarray, rng: np.random.Generator, low: float, high: float, size: int
) -> np.ndarray:
    """Paint a ``size`` x ``size`` square of ``low`` at a random place inside each image.

    The square covers every channel and lies fully inside the image; its
    top-left corner is ``rng.integers(0, height - size + 1, size=n)`` (row)
    then ``rng.integers(0, width - size + 1, size=n)`` (column).
    """
    if size < 1 or size != int(size):
        raise ValueError(f"occlude: size must be a whole number >= 1, got {size}")
    array = _prepare("occlude", images, low, high)
    batch = _as_nchw(array)
    n, _, height, width = batch.shape
    size = int(size)
    if size > min(height, width):
        raise ValueError(f"occlude: size {size} does not fit in a {height}x{width} image")
    top = rng.integers(0, height - size + 1, size=n)[:, None]
    left = rng.integers(0, width - size + 1, size=n)[:, None]
    rows = np.arange(height)[None, :]
    columns = np.arange(width)[None, :]
    in_rows = (rows >= top) & (rows < top + size)
    in_columns = (columns >= left) & (columns < left + size)
    square = in_rows[:, None, :, None] & in_columns[:, None, None, :]
    return _finish(np.where(square, np.float32(low), batch), array.shape, low, high)


# --- registry --------------------------------------------------------------

IMAGE_PERTURBATIONS: dict[str, PerturbationInfo] = {
    info.name: info
    for info in (
        PerturbationInfo(
            "gaussian_noise", gaussian_noise, (Param("std", "float", None, 0.0),), True,
            "add Gaussian noise with standard deviation `std` to every pixel value",
        ),
        PerturbationInfo(
            "uniform_noise", uniform_noise, (Param("eps", "float", None, 0.0),), True,
            "add uniform noise in [-eps, eps] to every pixel value",
        ),
        PerturbationInfo(
            "salt_pepper", salt_pepper, (Param("amount", "float", None, 0.0),), True,
            "set a fraction `amount` of pixels to the lowest or highest value",
        ),
        PerturbationInfo(
            "invert", invert, (), False,
            "invert the image: low + high - x",
        ),
        PerturbationInfo(
            "brightness", brightness, (Param("delta", "float"),), False,
            "add `delta` times the pixel range to every value",
        ),
        PerturbationInfo(
            "contrast", contrast, (Param("factor", "float", None, 0.0),), False,
            "scale each image's deviations from its mean by `factor`",
        ),
        PerturbationInfo(
            "blur", blur, (Param("sigma", "float", None, 0.0),), False,
            "Gaussian blur with standard deviation `sigma` pixels",
        ),
        PerturbationInfo(
            "rotate", rotate, (Param("degrees", "float", None, 0.0),), True,
            "rotate by a random angle in [-degrees, degrees] about the centre",
        ),
        PerturbationInfo(
            "translate", translate, (Param("dx", "int", 0, 0), Param("dy", "int", 0, 0)), True,
            "shift by a random whole-pixel offset in [-dx, dx] x [-dy, dy]",
        ),
        PerturbationInfo(
            "occlude", occlude, (Param("size", "int", None, 1),), True,
            "paint a `size` x `size` background square at a random place",
        ),
    )
}
