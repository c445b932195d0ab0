"""The Extras tab backend: upscale one image or a batch the way A1111's "Upscale" postprocessing does.

Upscaler 1 makes the image; when Upscaler 2 is set with visibility > 0 it upscales the same input and the
two are blended (``Image.blend``, weight = visibility). "Scale to" scales by the larger of the two ratios and
optionally centre-crops to the exact size. The applied steps are recorded as A1111's postprocessing infotext
("Postprocess upscale by: 2, Postprocess upscaler: Lanczos"), returned as HTML for the UI/API and stored in
the result's ``info["postprocessing"]`` for the image saver. After upscaling, GFPGAN then CodeFormer restore
faces (A1111's postprocessing order 1000/2000/3000), each blended over the image by its visibility.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.images.focal_crop import focal_crop as crop_around_focus
from modules.images.split_flip import flipped_copies
from modules.images.split_flip import split_oversized as split_pieces
from modules.upscaling.upscalers import UpscalerRegistry

if TYPE_CHECKING:
    from modules.upscaling.face_restoration import FaceRestorers

log = logging.getLogger(__name__)

RESIZE_MODES = ("Scale by", "Scale to")


def _quote(value: Any) -> str:
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def postprocessing_infotext(info: dict[str, Any]) -> str:
    """A1111's "k: v, k: v" line for postprocessing steps (values with , : or newlines quoted)."""
    return ", ".join(k if k == v else f"{k}: {_quote(v)}" for k, v in info.items() if v is not None)


def plaintext_to_html(text: str) -> str:
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


def _limit_size(width: float, height: float, max_side: int) -> tuple[int, int]:
    """Shrink (width, height) so the longer side is ``max_side``, keeping the aspect ratio."""
    if width >= height:
        return max_side, int(height * max_side / width)
    return int(width * max_side / height), max_side


def _upscale_one(
    image: Image.Image,
    registry: UpscalerRegistry,
    name: str,
    info: dict[str, Any],
    mode: int,
    scale_by: float,
    max_side_length: int,
    to_width: int,
    to_height: int,
    crop: bool,
    progress: Callable[[int, int], None] | None,
) -> Image.Image:
    if mode == 1:
        scale_by = max(to_width / image.width, to_height / image.height)
        info["Postprocess upscale to"] = f"{to_width}x{to_height}"
    else:
        info["Postprocess upscale by"] = scale_by
        if max_side_length and max(image.size) * scale_by > max_side_length:
            mode, crop = 1, False
            to_width, to_height = _limit_size(image.width * scale_by, image.height * scale_by, max_side_length)
            scale_by = max(to_width / image.width, to_height / image.height)
            info["Max side length"] = max_side_length
    result = registry.upscale(image, name, scale_by, progress=progress)
    if mode == 1 and crop:
        cropped = Image.new("RGB", (to_width, to_height))
        cropped.paste(result, (to_width // 2 - result.width // 2, to_height // 2 - result.height // 2))
        result = cropped
        info["Postprocess crop to"] = f"{result.width}x{result.height}"
    return result


def run_extras(image: Image.Image, **options: Any) -> tuple[Image.Image, str]:
    """``run_extras_all`` for callers that want the main image only (the API's single-image answer)."""
    images, info_html = run_extras_all(image, **options)
    return images[0], info_html


def run_extras_all(
    image: Image.Image,
    *,
    registry: UpscalerRegistry,
    resize_mode: int = 0,
    upscaling_resize: float = 2.0,
    upscaling_resize_w: int = 512,
    upscaling_resize_h: int = 512,
    upscaling_crop: bool = True,
    upscaler_1: str = "None",
    upscaler_2: str = "None",
    extras_upscaler_2_visibility: float = 0.0,
    upscale_first: bool = False,
    max_side_length: int = 0,
    gfpgan_visibility: float = 0.0,
    codeformer_visibility: float = 0.0,
    codeformer_weight: float = 0.0,
    face_restorers: FaceRestorers | None = None,
    split_oversized: bool = False,
    split_threshold: float = 0.5,
    overlap_ratio: float = 0.2,
    flip_options: Sequence[str] = (),
    focal_crop: bool = False,
    focal_face_weight: float = 0.9,
    focal_entropy_weight: float = 0.15,
    focal_edges_weight: float = 0.5,
    focal_debug: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Image.Image], str]:
    """Upscale one image, restore faces, then split it if oversized, crop it around its focal point (both to
    the "Scale to" size) and add flipped copies of every piece; returns (images, info HTML), main image first.

    ``upscale_first`` is accepted for A1111's API and, as in A1111 1.10, does not change the order. Unknown
    upscaler names raise KeyError; a visibility > 0 without ``face_restorers`` is a ValueError, a missing
    restorer file a ModelLoadError."""
    if resize_mode not in (0, 1):
        raise ValueError(f"resize_mode must be 0 (Scale by) or 1 (Scale to), got {resize_mode!r}")
    source_info = dict(image.info)
    image = image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image
    info: dict[str, Any] = {}
    name_1 = None if upscaler_1 in (None, "", "None") else upscaler_1
    name_2 = None if upscaler_2 in (None, "", "None") else upscaler_2
    for name in (name_1, name_2):
        if name is not None:
            registry.get(name)
    result = image
    if name_1 is not None:
        args = (resize_mode, upscaling_resize, max_side_length, upscaling_resize_w, upscaling_resize_h, upscaling_crop)
        result = _upscale_one(image, registry, name_1, info, *args, progress)
        info["Postprocess upscaler"] = name_1
        if name_2 is not None and extras_upscaler_2_visibility > 0:
            second = _upscale_one(image, registry, name_2, info, *args, progress)
            if second.mode != result.mode:
                second = second.convert(result.mode)
            result = Image.blend(result, second, extras_upscaler_2_visibility)
            info["Postprocess upscaler 2"] = name_2
    if gfpgan_visibility > 0:
        result = _restore_faces(result, face_restorers, "GFPGAN", gfpgan_visibility, codeformer_weight)
        info["GFPGAN visibility"] = round(gfpgan_visibility, 3)
    if codeformer_visibility > 0:
        result = _restore_faces(result, face_restorers, "CodeFormer", codeformer_visibility, codeformer_weight)
        info["CodeFormer visibility"] = round(codeformer_visibility, 3)
        info["CodeFormer weight"] = round(codeformer_weight, 3)
    infotext = postprocessing_infotext(info)
    result = result.copy() if result is image else result
    result.info = {k: v for k, v in source_info.items() if isinstance(v, str)}
    if infotext:
        result.info["postprocessing"] = infotext
    log.info("Extras: %s", infotext or "nothing to do")
    images = [result]
    if split_oversized:
        target = (upscaling_resize_w, upscaling_resize_h) if resize_mode == 1 else result.size
        images = [
            _with_info(piece, result.info) for piece in split_pieces(result, *target, split_threshold, overlap_ratio)
        ]
    if focal_crop:
        target = (upscaling_resize_w, upscaling_resize_h) if resize_mode == 1 else result.size
        finder = face_restorers.face_finder() if face_restorers is not None else None
        weights = {"face_weight": focal_face_weight, "entropy_weight": focal_entropy_weight}
        weights["edges_weight"] = focal_edges_weight
        images = [
            _with_info(out, result.info)
            for piece in images
            for out in crop_around_focus(piece, *target, **weights, find_faces=finder, debug=focal_debug)
        ]
    if flip_options:
        images += [
            _with_info(copy, result.info) for piece in list(images) for copy in flipped_copies(piece, flip_options)
        ]
    return images, plaintext_to_html(infotext)


def _with_info(image: Image.Image, info: dict[str, Any]) -> Image.Image:
    image.info = dict(info)
    return image


def _restore_faces(
    image: Image.Image, restorers: FaceRestorers | None, name: str, visibility: float, weight: float
) -> Image.Image:
    if restorers is None:
        raise ValueError(f"{name} visibility is set but no face restorers were given")
    restored = restorers.restore(image, name, codeformer_weight=weight)
    if image.mode != restored.mode:
        image = image.convert(restored.mode)
    return restored if visibility >= 1 else Image.blend(image, restored, visibility)


def run_extras_batch(
    images: Sequence[Image.Image], *, registry: UpscalerRegistry, **options: Any
) -> tuple[list[Image.Image], str]:
    """``run_extras`` over a list (Batch Process / Batch from Directory); the HTML is the last image's."""
    results: list[Image.Image] = []
    info_html = plaintext_to_html("")
    for image in images:
        outputs, info_html = run_extras_all(image, registry=registry, **options)
        results.extend(outputs)
    return results, info_html
