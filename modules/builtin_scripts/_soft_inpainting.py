"""Soft inpainting's maths (A1111's built-in extension), pure functions on tensors and arrays.

Two parts: during denoising the original latents are blended in through the soft (unrounded) mask, the mask
raised to a power that follows the noise level (``modified_keep_weight``) and the blend keeping the vectors'
magnitudes (``latent_blend``); after sampling, how much each latent pixel changed becomes the pixel composite's
mask (``composite_mask``), so unchanged areas keep the original pixels whatever the mask said.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class SoftInpaintingSettings:
    """The six sliders, under A1111's attribute names (its UI labels in the comments)."""

    mask_blend_power: float = 1.0  # Schedule bias
    mask_blend_scale: float = 0.5  # Preservation strength
    inpaint_detail_preservation: float = 4.0  # Transition contrast boost
    composite_mask_influence: float = 0.0  # Mask influence
    composite_difference_threshold: float = 0.5  # Difference threshold
    composite_difference_contrast: float = 2.0  # Difference contrast


def modified_keep_weight(repaint_mask: torch.Tensor, sigma: float, settings: SoftInpaintingSettings) -> torch.Tensor:
    """The weight of the denoised latents at noise level ``sigma``: ``mask ** (sigma ** bias * strength)``.

    ``repaint_mask`` is 1 where the picture is repainted, 0 where it is kept. Raising it to a power acts as
    that many repeated blends: high sigmas (early steps) pull partly masked areas harder towards the original.
    """
    exponent = (float(sigma) ** settings.mask_blend_power) * settings.mask_blend_scale
    return torch.pow(repaint_mask, exponent)


def latent_blend(original: torch.Tensor, current: torch.Tensor, t: torch.Tensor, detail_preservation: float):
    """Interpolate ``original`` → ``current`` by ``t`` ([B or 1, 1 or C, h, w]) per latent pixel, the result's
    vector length interpolated apart as a power mean of the two lengths (power ``detail_preservation``), so a
    half-way blend does not lose the contrast a plain linear mix loses."""
    t_channels = t if t.dim() == 4 else t.unsqueeze(0)
    t_pixels = t_channels[:, :1]
    mixed = original * (1 - t_channels) + current * t_channels
    wide = torch.float64 if mixed.device.type != "mps" else torch.float32
    mixed_length = torch.linalg.vector_norm(mixed, dim=1, keepdim=True).to(wide) + 1e-5
    power = float(detail_preservation)
    original_length = torch.linalg.vector_norm(original, dim=1, keepdim=True).to(wide) ** power
    current_length = torch.linalg.vector_norm(current, dim=1, keepdim=True).to(wide) ** power
    wanted_length = (original_length * (1 - t_pixels) + current_length * t_pixels) ** (1 / power)
    return mixed * (wanted_length / mixed_length).to(mixed.dtype)


def gaussian_kernel(stddev_radius: float = 1.0, max_radius: int = 2) -> tuple[np.ndarray, int]:
    """A (2r+1)² Gaussian with value 1 at the centre, shifted and rescaled to reach 0 one pixel beyond ``r``;
    returns (kernel, centre index)."""
    zero_at = math.exp(-((max_radius + 1.0) ** 2) / stddev_radius**2)
    offsets = np.arange(-max_radius, max_radius + 1, dtype=np.float64)
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    kernel = (np.exp(-squared / stddev_radius**2) - zero_at) / (1 - zero_at)
    return np.maximum(kernel, 0.0), max_radius


def weighted_histogram_filter(
    image: np.ndarray,
    kernel: np.ndarray,
    center: int,
    percentile_min: float = 0.0,
    percentile_max: float = 1.0,
    min_width: float = 1.0,
) -> np.ndarray:
    """Per pixel: the neighbours (weighted by ``kernel``) stacked in value order, and the mean of the values
    that fall between the ``percentile_min`` and ``percentile_max`` fractions of the stack's total weight (a
    window at least ``min_width`` weight units wide). 0..1 is a weighted mean, 0.5±ε a weighted median, 0.9..1
    a soft maximum. Neighbours outside the picture are left out."""
    height, width = image.shape
    size_y, size_x = kernel.shape
    values, weights = [], []
    padded = np.pad(image.astype(np.float64), ((center, size_y - center), (center, size_x - center)))
    inside = np.pad(np.ones_like(image, dtype=bool), ((center, size_y - center), (center, size_x - center)))
    for ky in range(size_y):
        for kx in range(size_x):
            values.append(padded[ky : ky + height, kx : kx + width])
            weights.append(np.where(inside[ky : ky + height, kx : kx + width], kernel[ky, kx], 0.0))
    stack_values, stack_weights = np.stack(values, axis=-1), np.stack(weights, axis=-1)
    order = np.argsort(stack_values, axis=-1, kind="stable")
    stack_values = np.take_along_axis(stack_values, order, axis=-1)
    stack_weights = np.take_along_axis(stack_weights, order, axis=-1)
    tops = np.cumsum(stack_weights, axis=-1)
    bottoms = tops - stack_weights
    total = tops[..., -1]
    low, high = total * percentile_min, total * percentile_max
    narrow = (high - low) < min_width
    middle = (low + high) / 2
    low, high = np.where(narrow, middle - min_width / 2, low), np.where(narrow, middle + min_width / 2, high)
    over = narrow & (high > total)
    low, high = np.where(over, total - min_width, low), np.where(over, total, high)
    under = narrow & (low < 0)
    low, high = np.where(under, 0.0, low), np.where(under, min_width, high)
    overlap = np.clip(np.minimum(high[..., None], tops) - np.maximum(low[..., None], bottoms), 0.0, None)
    weight_sum = overlap.sum(axis=-1)
    value_sum = (stack_values * overlap).sum(axis=-1)
    result = np.divide(value_sum, weight_sum, out=np.zeros_like(value_sum), where=weight_sum != 0)
    return result.astype(image.dtype)


def smootherstep(x: np.ndarray) -> np.ndarray:
    """Ken Perlin's smootherstep on [0, 1]: 6x⁵ − 15x⁴ + 10x³."""
    return x * x * x * (x * (6 * x - 15) + 10)


def difference_scale(repaint_mask: torch.Tensor, settings: SoftInpaintingSettings) -> np.ndarray:
    """Per latent pixel, how the difference threshold is scaled: 1 with "Mask influence" 0, and with influence
    the scale falls where the mask asks to repaint and grows where it asks to keep ([B or 1, h, w])."""
    mask = repaint_mask[:, 0].float().clamp(0, 1)
    keep = 1 - mask ** (settings.mask_blend_scale / 2)
    influence = settings.composite_mask_influence
    keep = 0.5 * (1 - influence) + keep * influence
    return (keep / (1.00001 - keep)).cpu().numpy()


def composite_mask(
    original: torch.Tensor, processed: torch.Tensor, repaint_mask: torch.Tensor, settings: SoftInpaintingSettings
) -> list[np.ndarray]:
    """Per image, the latent-resolution composite mask (uint8; 255 = the generated pixel, 0 = the original)
    from how far each latent pixel moved, smoothed by a soft maximum and a median over its neighbours."""
    distances = torch.linalg.vector_norm(processed.float() - original.float(), dim=1).cpu().numpy()
    scales = difference_scale(repaint_mask, settings)
    kernel, center = gaussian_kernel(stddev_radius=1.5, max_radius=2)
    masks = []
    for index, distance in enumerate(distances):
        smooth = weighted_histogram_filter(distance, kernel, center, 0.9, 1.0, 1.0)
        smooth = weighted_histogram_filter(smooth, kernel, center, 0.25, 0.75, 1.0).astype(np.float64)
        half_point = settings.composite_difference_threshold * scales[min(index, len(scales) - 1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(half_point > 0, smooth / half_point, np.where(smooth > 0, np.inf, 0.0))
            kept = 1 / (1 + ratio**settings.composite_difference_contrast)
        generated = 1 - smootherstep(kept)
        masks.append((255.0 * generated).astype(np.uint8))
    return masks
