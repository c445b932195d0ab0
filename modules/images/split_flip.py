"""Extras steps that need no weights: A1111's "Split oversized images" and "Create flipped copies".

Both turn one image into several (training-set preparation): splitting cuts an image much longer than the
target aspect into overlapping target-sized pieces along its long side; flipping adds mirrored copies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from PIL import Image

FLIP_CHOICES = ("Horizontal", "Vertically", "Both")


def split_oversized(
    image: Image.Image, width: int, height: int, threshold: float = 0.5, overlap_ratio: float = 0.2
) -> list[Image.Image]:
    """Pieces of ``width`` x ``height`` along the long side, or ``[image]`` when it is not oversized.

    The image counts as oversized when its aspect, compared with the target's along the long side, is below
    ``threshold`` (A1111: ratio < 1 and ratio <= threshold). It is first resized so its short side matches
    the target's, then cut into the fewest pieces that overlap by at least ``overlap_ratio``.
    """
    if width <= 0 or height <= 0:
        return [image]
    portrait = image.height > image.width
    ratio = (
        (image.width * height) / (image.height * width) if portrait else (image.height * width) / (image.width * height)
    )
    if ratio >= 1.0 or ratio > threshold:
        return [image]
    short_target, long_target = (width, height) if portrait else (height, width)
    short_side, long_side = (image.width, image.height) if portrait else (image.height, image.width)
    scaled_long = max(long_target, long_side * short_target // short_side)
    resized = image.resize((short_target, scaled_long) if portrait else (scaled_long, short_target))
    overlap_ratio = min(max(overlap_ratio, 0.0), 0.9)
    count = max(2, math.ceil((scaled_long - long_target * overlap_ratio) / (long_target * (1.0 - overlap_ratio))))
    step = (scaled_long - long_target) / (count - 1)
    pieces = []
    for index in range(count):
        start = int(step * index)
        box = (
            (0, start, short_target, start + long_target) if portrait else (start, 0, start + long_target, short_target)
        )
        pieces.append(resized.crop(box))
    return pieces


def flipped_copies(image: Image.Image, options: Iterable[str]) -> list[Image.Image]:
    """The mirrored copies A1111's "Create flipped copies" adds, in the order of ``FLIP_CHOICES``."""
    chosen = set(options)
    unknown = chosen - set(FLIP_CHOICES)
    if unknown:
        raise ValueError(f"unknown flip option(s) {sorted(unknown)}; choose from {', '.join(FLIP_CHOICES)}")
    copies = []
    if "Horizontal" in chosen:
        copies.append(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    if "Vertically" in chosen:
        copies.append(image.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    if "Both" in chosen:
        copies.append(image.transpose(Image.Transpose.ROTATE_180))
    return copies
