"""Extras "Auto focal point crop": cut a target-sized crop around the image's point of interest.

As A1111's autocrop, the point is a weighted mean of up to three kinds of evidence: faces (any callable that
returns face boxes; the Extras tab passes RetinaFace when its weights are present), the most detailed window
along the long side (entropy), and strong corners (``cv2.goodFeaturesToTrack``). Each kind's weight is
shared among its points. The image is first resized so that it just covers the target size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

FaceFinder = Callable[[Image.Image], Sequence[tuple[float, float, float, float]]]  # x1, y1, x2, y2


@dataclasses.dataclass(frozen=True)
class FocalPoint:
    x: float
    y: float
    weight: float


def _entropy(image: Image.Image) -> float:
    histogram = np.asarray(image.convert("L").histogram(), dtype=np.float64)
    p = histogram[histogram > 0] / histogram.sum()
    return float(-(p * np.log2(p)).sum())


def entropy_point(image: Image.Image, width: int, height: int, weight: float) -> list[FocalPoint]:
    """The centre of the target-sized window with the most detail, slid along the long side."""
    if weight <= 0:
        return []
    steps = 8
    best: tuple[float, float, float] | None = None
    for index in range(steps + 1):
        if image.width > width:
            left, top = (image.width - width) * index // steps, 0
        else:
            left, top = 0, (image.height - height) * index // steps
        score = _entropy(image.crop((left, top, left + width, top + height)))
        if best is None or score > best[0]:
            best = (score, left + width / 2, top + height / 2)
    assert best is not None
    return [FocalPoint(best[1], best[2], weight)]


def corner_points(image: Image.Image, weight: float) -> list[FocalPoint]:
    """Strong corners (edges meeting), each carrying an equal share of ``weight``."""
    import cv2

    if weight <= 0:
        return []
    gray = np.asarray(image.convert("L"))
    found = cv2.goodFeaturesToTrack(gray, maxCorners=100, qualityLevel=0.04, minDistance=min(image.size) * 0.06)
    if found is None or not len(found):
        return []
    share = weight / len(found)
    return [FocalPoint(float(x), float(y), share) for x, y in found.reshape(-1, 2)]


def face_points(image: Image.Image, finder: FaceFinder | None, weight: float) -> list[FocalPoint]:
    if weight <= 0 or finder is None:
        return []
    boxes = list(finder(image))
    if not boxes:
        return []
    share = weight / len(boxes)
    return [FocalPoint((x1 + x2) / 2, (y1 + y2) / 2, share) for x1, y1, x2, y2 in boxes]


def focal_crop(
    image: Image.Image,
    width: int,
    height: int,
    *,
    face_weight: float = 0.9,
    entropy_weight: float = 0.15,
    edges_weight: float = 0.5,
    find_faces: FaceFinder | None = None,
    debug: bool = False,
) -> list[Image.Image]:
    """[the crop] (plus a debug picture of the points and the box when ``debug``)."""
    scale = max(width / image.width, height / image.height)
    resized = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))))
    points = [
        *face_points(resized, find_faces, face_weight),
        *entropy_point(resized, width, height, entropy_weight),
        *corner_points(resized, edges_weight),
    ]
    total = sum(point.weight for point in points)
    if total > 0:
        centre_x = sum(point.x * point.weight for point in points) / total
        centre_y = sum(point.y * point.weight for point in points) / total
    else:
        centre_x, centre_y = resized.width / 2, resized.height / 2
    left = int(min(max(centre_x - width / 2, 0), resized.width - width))
    top = int(min(max(centre_y - height / 2, 0), resized.height - height))
    results = [resized.crop((left, top, left + width, top + height))]
    if debug:
        picture = resized.convert("RGB")
        draw = ImageDraw.Draw(picture)
        draw.rectangle((left, top, left + width - 1, top + height - 1), outline=(255, 0, 0), width=2)
        for point in points:
            draw.ellipse((point.x - 3, point.y - 3, point.x + 3, point.y + 3), outline=(255, 255, 0))
        draw.ellipse((centre_x - 5, centre_y - 5, centre_x + 5, centre_y + 5), fill=(255, 0, 0))
        results.append(picture)
    return results
