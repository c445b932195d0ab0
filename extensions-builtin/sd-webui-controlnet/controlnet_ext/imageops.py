"""Image plumbing for ControlNet (numpy + OpenCV): RGB arrays, detection size, fitting maps to the output size.

Detected maps are HxWx3 ``uint8`` arrays, except inpaint maps: ``float32`` in [0, 1] with -1 where masked
(what ControlNet 1.1's inpaint model was trained on). ``fit_to`` places a map on the generation's canvas
with the unit's resize mode, as A1111's extension does.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_rgb_array(image: Any) -> np.ndarray:
    """HxWx3 uint8 from a PIL image or array; transparency is composited over white (A1111's HWC3)."""
    array = np.asarray(
        image.convert("RGBA")
        if hasattr(image, "convert") and image.mode in ("RGBA", "LA", "P")
        else image.convert("RGB")
        if hasattr(image, "convert")
        else image
    )
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        return np.concatenate([array] * 3, axis=2)
    if array.shape[2] == 4:
        color = array[:, :, :3].astype(np.float32)
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        return np.clip(color * alpha + 255.0 * (1.0 - alpha), 0, 255).round().astype(np.uint8)
    return array[:, :, :3].copy()


def to_mask_array(mask: Any, height: int, width: int) -> np.ndarray | None:
    """HxW bool (True = masked) from a mask image, resized to (width, height); None for no mask."""
    if mask is None:
        return None
    import cv2

    array = to_rgb_array(mask).max(axis=2)
    if array.shape != (height, width):
        array = cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST)
    return array > 127


def resize_short_side(image: np.ndarray, resolution: int) -> np.ndarray:
    """Scale so the short side is ``resolution`` px (area filter when shrinking, cubic when enlarging)."""
    import cv2

    height, width = image.shape[:2]
    scale = resolution / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


def pixel_perfect_resolution(height: int, width: int, target_h: int, target_w: int, resize_mode: str) -> int:
    """The preprocessor resolution that maps the input 1:1 onto the output (A1111 "Pixel Perfect").

    >>> pixel_perfect_resolution(100, 200, 512, 512, "Crop and Resize")
    512
    >>> pixel_perfect_resolution(100, 200, 512, 512, "Resize and Fill")
    256
    """
    k_h, k_w = target_h / height, target_w / width
    scale = min(k_h, k_w) if resize_mode == "Resize and Fill" else max(k_h, k_w)
    return round(scale * min(height, width))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    shrinking = width < image.shape[1] or height < image.shape[0]
    if image.dtype != np.uint8:  # inpaint maps: keep the -1 markers crisp
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def fit_to(image: np.ndarray, width: int, height: int, resize_mode: str, fill_black: bool = False) -> np.ndarray:
    """``image`` on a ``width`` x ``height`` canvas: stretched, cropped to cover, or fitted and padded."""
    src_h, src_w = image.shape[:2]
    if resize_mode == "Just Resize" or (src_h, src_w) == (height, width):
        return _resize(image, width, height) if (src_h, src_w) != (height, width) else image
    if resize_mode == "Resize and Fill":
        scale = min(width / src_w, height / src_h)
        new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        fitted = _resize(image, new_w, new_h)
        if image.dtype != np.uint8:
            fill = np.full(3, -1.0, np.float32)  # inpaint maps: the padding is to be generated
        elif fill_black:
            fill = np.zeros(3, np.uint8)
        else:
            border = np.concatenate([fitted[0], fitted[-1], fitted[:, 0], fitted[:, -1]])
            fill = np.median(border, axis=0).astype(image.dtype)
        canvas = np.empty((height, width, 3), dtype=image.dtype)
        canvas[:] = fill
        top, left = (height - new_h) // 2, (width - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = fitted
        return canvas
    scale = max(width / src_w, height / src_h)  # Crop and Resize
    new_w, new_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    covered = _resize(image, new_w, new_h)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return covered[top : top + height, left : left + width]


def to_control_tensor(detected: np.ndarray, batch: int, device: Any, dtype: Any) -> Any:
    """[batch, 3, H, W] for ``ControlNetModel``: uint8 maps scaled to [0, 1]; float maps kept as they are."""
    import torch

    array = detected.astype(np.float32) / 255.0 if detected.dtype == np.uint8 else detected.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
    return tensor.expand(batch, -1, -1, -1).to(device=device, dtype=dtype)


def to_preview(detected: np.ndarray) -> Any:
    """A PIL image of a detected map (inpaint's -1 shown black)."""
    from PIL import Image

    if detected.dtype != np.uint8:
        detected = (np.clip(detected, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(detected)


def pad_to_multiple(image: np.ndarray, multiple: int = 64) -> np.ndarray:
    """Repeat the bottom row and right column until both sides are multiples of ``multiple``: A1111's
    ``resize_image_with_pad``, which most annotator networks need (their strides only fit such sizes)."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w)) + ((0, 0),) * (image.ndim - 2), mode="edge")
