"""Outpainting mk2's fill for the new border: noise shaped like the picture's spectrum and matched to its
colours, so img2img starts from something that already continues the picture's texture and palette."""

from __future__ import annotations

import numpy as np


def _spectrum(data: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D FFT of each channel of an [H, W, C] array."""
    return np.fft.ifftshift(np.fft.fft2(np.fft.fftshift(data, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1))


def _pixels(spectrum: np.ndarray) -> np.ndarray:
    """Inverse of ``_spectrum``."""
    return np.fft.ifftshift(
        np.fft.ifft2(np.fft.fftshift(spectrum, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1)
    )


def _falloff_window(height: int, width: int, exponent: float = 1.0) -> np.ndarray:
    """A low-pass window over centred frequencies: 1 / ((x^2 + 1)(y^2 + 1)), on the image's aspect ratio."""
    short = min(width, height)
    xs = (np.arange(width) / width * 2.0 - 1.0) * (width / short)
    ys = (np.arange(height) / height * 2.0 - 1.0) * (height / short)
    return (1.0 / ((ys[:, None] ** 2 + 1.0) * (xs[None, :] ** 2 + 1.0))) ** exponent


def match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per channel, give ``values`` ([N, C]) the value distribution of ``reference`` ([M, C]) by rank.

    >>> match_histogram(np.array([[0.0], [1.0], [2.0]]), np.array([[5.0], [7.0]])).ravel().tolist()
    [5.0, 6.0, 7.0]
    """
    out = np.empty_like(values, dtype=np.float64)
    for channel in range(values.shape[1]):
        source = values[:, channel]
        uniques, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
        ref_values, ref_counts = np.unique(reference[:, channel], return_counts=True)
        source_quantiles = np.cumsum(counts) / source.size
        ref_quantiles = np.cumsum(ref_counts) / reference.shape[0]
        if uniques.size > 1:
            source_quantiles = (source_quantiles - source_quantiles[0]) / (1 - source_quantiles[0])
        if ref_values.size > 1:
            ref_quantiles = (ref_quantiles - ref_quantiles[0]) / (1 - ref_quantiles[0])
        out[:, channel] = np.interp(source_quantiles, ref_quantiles, ref_values)[inverse]
    return out


def matched_noise(image: np.ndarray, mask: np.ndarray, falloff: float = 1.0, color_variation: float = 0.05):
    """Fill the masked part (``mask`` [H, W, 3], 1 = new) of ``image`` ([H, W, 3] in 0..1) with noise that has
    the picture's spectrum (raised to ``falloff``: lower = more detail) and its colours; keeps the rest."""
    grey_mask = mask.mean(axis=2)
    new_area, known_area = grey_mask > 1e-6, grey_mask < 1e-3
    windowed = image * (1.0 - mask)
    windowed = windowed / max(float(windowed.max()), 1e-8) + float(image.mean()) * mask
    source = _spectrum(windowed)
    magnitude = np.abs(source)
    phase = source / np.maximum(magnitude, 1e-12)

    height, width, channels = image.shape
    rng = np.random.default_rng(0)
    noise = rng.random((height, width, channels))
    noise = noise * color_variation + (1.0 - color_variation) * noise.mean(axis=2, keepdims=True)
    noise = np.real(_pixels(_spectrum(noise) * _falloff_window(height, width)[:, :, None]))
    shaped = np.real(_pixels(np.abs(_spectrum(noise)) ** 2 * magnitude**falloff * phase))
    shaped = (shaped - shaped.min()) / max(float(np.ptp(shaped)), 1e-8)
    if new_area.any() and known_area.any():
        shaped[new_area] = match_histogram(shaped[new_area], image[known_area])
    return np.clip(image * (1.0 - mask) + shaped * mask, 0.0, 1.0)
