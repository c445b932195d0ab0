"""Preprocessors that need no weights, written with OpenCV and numpy.

Each takes the unit's input (HxWx3 uint8), the processor resolution and thresholds A/B, and returns the
detected map at that resolution (short side = resolution, aspect kept; "none" returns the input as it is).
The slider definitions (label, range, default) are A1111's extension's, so the UI and
``/controlnet/module_list`` describe them the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from controlnet_ext.imageops import resize_short_side


@dataclasses.dataclass(frozen=True)
class Slider:
    name: str
    value: float
    min: float
    max: float
    step: float = 1

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "min": self.min, "max": self.max, "step": self.step}


RESOLUTION = Slider("Preprocessor Resolution", 512, 64, 2048, 8)
Run = Callable[[np.ndarray, int, float, float, dict[str, Any]], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Preprocessor:
    name: str
    run: Run  # (image, resolution, threshold_a, threshold_b, extra) -> map; extra: mask, seed
    resolution: Slider | None = RESOLUTION
    threshold_a: Slider | None = None
    threshold_b: Slider | None = None
    line_map: bool = False  # padding with "Resize and Fill" is black, not the border colour
    weights: tuple[str, ...] = ()  # files needed under the annotator folder (empty: model-free)

    def sliders(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in (self.resolution, self.threshold_a, self.threshold_b) if s is not None]

    def defaults(self) -> tuple[int, float, float]:
        return (
            int(self.resolution.value) if self.resolution else 512,
            self.threshold_a.value if self.threshold_a else -1,
            self.threshold_b.value if self.threshold_b else -1,
        )


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def none(image, res, a, b, extra):
    return image


def invert(image, res, a, b, extra):
    return 255 - resize_short_side(image, res)


def canny(image, res, low, high, extra):
    import cv2

    return _rgb(cv2.Canny(resize_short_side(image, res), int(low), int(high)))


def threshold(image, res, a, b, extra):
    """Pixels brighter than the threshold become white, the rest black."""
    return _rgb(np.where(_gray(resize_short_side(image, res)) > a, 255, 0).astype(np.uint8))


def binary(image, res, a, b, extra):
    """Dark strokes become white lines on black; threshold 0 picks it automatically (Otsu)."""
    import cv2

    gray = _gray(resize_short_side(image, res))
    flags = cv2.THRESH_BINARY_INV | (cv2.THRESH_OTSU if a <= 0 else 0)
    return _rgb(cv2.threshold(gray, max(0, int(a)), 255, flags)[1])


def scribble_xdog(image, res, a, b, extra):
    """Edges from a difference of Gaussians, kept where stronger than the threshold (white on black)."""
    import cv2

    source = resize_short_side(image, res).astype(np.float32)
    fine, coarse = cv2.GaussianBlur(source, (0, 0), 0.5), cv2.GaussianBlur(source, (0, 0), 5.0)
    strength = np.clip(-np.min(fine - coarse, axis=2), 0, 255)  # how much darker than the surroundings
    return _rgb(np.where(2 * strength > a, 255, 0).astype(np.uint8))


def lineart_standard(image, res, a, b, extra):
    """Dark lines on a light background become bright lines on black (difference of Gaussians, normalised)."""
    import cv2

    source = resize_short_side(image, res).astype(np.float32)
    darkness = np.clip(np.max(cv2.GaussianBlur(source, (0, 0), 6.0) - source, axis=2), 0, 255)
    strong = darkness[darkness > 8]
    scale = max(16.0, float(np.median(strong))) if strong.size else 16.0
    return _rgb(np.clip(darkness / scale * 127.0, 0, 255).astype(np.uint8))


def color_grid(image, res, a, b, extra):
    """Average colours on a 64-pixel grid (T2I-Adapter colour)."""
    import cv2

    source = resize_short_side(image, res)
    height, width = source.shape[:2]
    small = cv2.resize(source, (max(1, width // 64), max(1, height // 64)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def shuffle(image, res, a, b, extra):
    """Content shuffle: the picture warped by a smooth random field (seeded: same seed, same map)."""
    import cv2

    source = resize_short_side(image, res)
    height, width = source.shape[:2]
    rng = np.random.default_rng(int(extra.get("seed", 0)) & 0xFFFFFFFF)
    grid = max(2, min(height, width) // 64)
    fields = []
    for size in (width, height):
        coarse = rng.random((grid, grid), dtype=np.float32) * size
        fields.append(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))
    return cv2.remap(source, fields[0], fields[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def tile_resample(image, res, rate, b, extra):
    """Down-sampled copy of the input (ControlNet tile)."""
    import cv2

    source = resize_short_side(image, res)
    if rate > 1:
        height, width = source.shape[:2]
        size = (max(1, int(width / rate)), max(1, int(height / rate)))
        source = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
    return source


def blur_gaussian(image, res, sigma, b, extra):
    import cv2

    return cv2.GaussianBlur(resize_short_side(image, res), (0, 0), max(0.01, float(sigma)))


def inpaint(image, res, a, b, extra):
    """The input scaled to [0, 1] with -1 where the mask is white (ControlNet 1.1 inpaint)."""
    from controlnet_ext.imageops import to_mask_array

    result = image.astype(np.float32) / 255.0
    mask = to_mask_array(extra.get("mask"), image.shape[0], image.shape[1])
    if mask is not None:
        result[mask] = -1.0
    return result


_LOW = Slider("Canny Low Threshold", 100, 1, 255)
_HIGH = Slider("Canny High Threshold", 200, 1, 255)

MODEL_FREE = (
    Preprocessor("none", none, resolution=None),
    Preprocessor("invert", invert, line_map=True),
    Preprocessor("canny", canny, threshold_a=_LOW, threshold_b=_HIGH, line_map=True),
    Preprocessor("threshold", threshold, threshold_a=Slider("Binarization Threshold", 127, 0, 255), line_map=True),
    Preprocessor("binary", binary, threshold_a=Slider("Binary threshold", 0, 0, 255), line_map=True),
    Preprocessor("scribble_xdog", scribble_xdog, threshold_a=Slider("XDoG Threshold", 32, 1, 64), line_map=True),
    Preprocessor("lineart_standard", lineart_standard, line_map=True),
    Preprocessor("t2ia_color_grid", color_grid),
    Preprocessor("shuffle", shuffle),
    Preprocessor("tile_resample", tile_resample, threshold_a=Slider("Down Sampling Rate", 1.0, 1.0, 8.0, 0.01)),
    Preprocessor("blur_gaussian", blur_gaussian, threshold_a=Slider("Sigma", 9.0, 0.01, 64.0, 0.01)),
    Preprocessor("inpaint_global_harmonious", inpaint, resolution=None),
    Preprocessor("inpaint_only", inpaint, resolution=None),
)

ALIASES = {
    "binary_threshold": "binary",
    "scribble": "scribble_xdog",
    "lineart": "lineart_standard",
    "color": "t2ia_color_grid",
    "tile": "tile_resample",
    "blur": "blur_gaussian",
    "inpaint": "inpaint_global_harmonious",
    "canny_edge": "canny",
}
