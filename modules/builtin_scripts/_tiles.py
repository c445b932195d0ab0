"""Overlapping tiles of an image and their seamless recombination (A1111's ``split_grid`` / ``combine_grid``),
used by SD upscale and Poor man's outpainting to img2img a large picture tile by tile."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image


@dataclasses.dataclass
class Tile:
    x: int
    y: int
    image: Image.Image


@dataclasses.dataclass
class TileGrid:
    """Rows of tiles, each ``tile_w`` x ``tile_h``, covering ``width`` x ``height`` with ``overlap`` pixels."""

    rows: list[list[Tile]]
    tile_w: int
    tile_h: int
    width: int
    height: int
    overlap: int

    def tiles(self) -> list[Tile]:
        return [tile for row in self.rows for tile in row]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tile positions, the last one flush with the far edge."""
    step = tile - overlap
    count = max(1, math.ceil((length - overlap) / step))
    spacing = (length - tile) / (count - 1) if count > 1 else 0
    return [min(int(n * spacing), length - tile) for n in range(count)]


def split(image: Image.Image, tile_w: int, tile_h: int, overlap: int) -> TileGrid:
    """Cut ``image`` into overlapping tiles; ValueError when the overlap leaves no room to advance."""
    if overlap >= min(tile_w, tile_h):
        raise ValueError(f"Tile overlap {overlap} must be smaller than the tile size {tile_w}x{tile_h}")
    rows = [
        [Tile(x, y, image.crop((x, y, x + tile_w, y + tile_h))) for x in _starts(image.width, tile_w, overlap)]
        for y in _starts(image.height, tile_h, overlap)
    ]
    return TileGrid(rows, tile_w, tile_h, image.width, image.height, overlap)


def _ramp(length: int, across: int, horizontal: bool) -> Image.Image:
    """A linear 0..255 blending mask over ``length`` pixels, repeated ``across`` times."""
    values = (np.arange(length, dtype=np.float32) * 255 / max(length, 1)).astype(np.uint8)
    array = np.tile(values[None, :], (across, 1)) if horizontal else np.tile(values[:, None], (1, across))
    return Image.fromarray(array, "L")


def combine(grid: TileGrid) -> Image.Image:
    """Paste the (processed) tiles back, fading each into its left and upper neighbour over the overlap."""
    overlap = grid.overlap
    result = Image.new("RGB", (grid.width, grid.height))
    fade_x = _ramp(overlap, grid.tile_h, horizontal=True) if overlap else None
    fade_y = _ramp(overlap, grid.width, horizontal=False) if overlap else None
    for row in grid.rows:
        y = row[0].y
        strip = Image.new("RGB", (grid.width, grid.tile_h))
        for tile in row:
            image = tile.image.convert("RGB")
            if tile.x == 0 or fade_x is None:
                strip.paste(image, (tile.x, 0))
                continue
            strip.paste(image.crop((0, 0, overlap, grid.tile_h)), (tile.x, 0), mask=fade_x)
            strip.paste(image.crop((overlap, 0, grid.tile_w, grid.tile_h)), (tile.x + overlap, 0))
        if y == 0 or fade_y is None:
            result.paste(strip, (0, y))
            continue
        result.paste(strip.crop((0, 0, grid.width, overlap)), (0, y), mask=fade_y)
        result.paste(strip.crop((0, overlap, grid.width, grid.tile_h)), (0, y + overlap))
    return result
