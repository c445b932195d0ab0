"""Tiled inference for image-to-image networks: overlapping tiles blended with linear ramps.

Large images do not fit a network at once (memory), so they run in ``tile``-sized pieces; the overlaps are
faded into each other so no seams show. Works for any network whose output is the input scaled by an
integer factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def _positions(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, fade: int, start: bool, end: bool) -> torch.Tensor:
    weight = torch.ones(length)
    fade = min(fade, length // 2)
    if fade > 0:
        rise = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)
        if start:
            weight[:fade] = rise
        if end:
            weight[length - fade :] = rise.flip(0)
    return weight


@torch.inference_mode()
def upscale_tensor(
    model: nn.Module,
    image: torch.Tensor,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None = None,
    desc: str = "Upscaling",
) -> torch.Tensor:
    """Run ``model`` on a (1, C, H, W) tensor in overlapping tiles blended with linear ramps.

    ``tile`` <= 0 runs the whole image at once. ``progress(done, total)`` is called after each tile; raising
    from it stops the work (job cancellation).
    """
    from tqdm import tqdm

    _, _, height, width = image.shape
    if tile <= 0:
        tile = max(height, width)
    tile_h, tile_w = min(tile, height), min(tile, width)
    overlap = max(0, min(overlap, tile // 2))
    ys, xs = _positions(height, tile_h, overlap), _positions(width, tile_w, overlap)
    result = weights = None
    scale = 1
    total = len(ys) * len(xs)
    with tqdm(total=total, desc=desc, disable=total == 1) as bar:
        for y in ys:
            for x in xs:
                out = model(image[..., y : y + tile_h, x : x + tile_w]).float()
                if result is None:
                    scale = out.shape[-1] // tile_w
                    result = torch.zeros((*out.shape[:2], height * scale, width * scale), device=out.device)
                    weights = torch.zeros((1, 1, height * scale, width * scale), device=out.device)
                fade = overlap * scale
                wy = _ramp(out.shape[-2], fade, y > 0, y + tile_h < height)
                wx = _ramp(out.shape[-1], fade, x > 0, x + tile_w < width)
                weight = (wy[:, None] * wx[None, :]).to(out.device)
                rows = slice(y * scale, y * scale + out.shape[-2])
                cols = slice(x * scale, x * scale + out.shape[-1])
                region = (..., rows, cols)
                result[region] += out * weight
                weights[region] += weight
                bar.update(1)
                if progress is not None:
                    progress(bar.n, total)
    assert result is not None and weights is not None
    return result / weights
