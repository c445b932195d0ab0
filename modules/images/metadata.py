"""Infotext inside image files: written where A1111 writes it and read from wherever other tools put it.

- PNG: a ``parameters`` text chunk (Pillow writes iTXt when the text is not Latin-1); other text chunks the
  caller passes (or the image already carried) are kept.
- JPEG / WebP / AVIF: EXIF ``UserComment`` in piexif's "unicode" encoding.
- GIF: the ``comment`` extension.

Reading follows A1111's ``read_info_from_image``: ``parameters`` first, then the EXIF comment, then the GIF
comment; NovelAI PNGs are converted to an infotext.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import piexif
import piexif.helper
from PIL import Image, PngImagePlugin

log = logging.getLogger(__name__)

PNGINFO_KEY = "parameters"
FORMAT_BY_EXTENSION = {
    "png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF",
}  # fmt: skip
# Pillow's bookkeeping entries in Image.info, not metadata a user wrote
IGNORED_INFO_KEYS = frozenset(
    {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
     "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop", "xmp"}
)  # fmt: skip
NOVELAI_SAMPLERS = {
    "k_euler_ancestral": "Euler a", "k_euler": "Euler", "k_lms": "LMS", "k_heun": "Heun", "k_dpm_2": "DPM2",
    "k_dpm_2_ancestral": "DPM2 a", "k_dpmpp_2s_ancestral": "DPM++ 2S a", "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE", "k_dpm_fast": "DPM fast", "k_dpm_adaptive": "DPM adaptive", "ddim": "DDIM",
    "plms": "PLMS",
}  # fmt: skip


def _exif_with_comment(text: str) -> bytes:
    comment = piexif.helper.UserComment.dump(text, encoding="unicode")
    return piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}})


def _for_lossy_format(image: Image.Image, image_format: str) -> Image.Image:
    if image.mode == "I;16":  # 16-bit greyscale (e.g. depth maps) down to 8 bits, as A1111
        image = image.point(lambda value: value * 0.0038910505836576).convert("L")
    if image_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        return image.convert("RGB")
    if image_format in ("WEBP", "AVIF") and image.mode not in ("RGB", "RGBA", "L"):
        return image.convert("RGBA" if "A" in image.mode else "RGB")
    return image


def write_image(
    image: Image.Image,
    path: str | Path,
    infotext: str | None,
    image_format: str | None = None,
    *,
    extra_text: Mapping[str, Any] | None = None,
    enable_pnginfo: bool = True,
    jpeg_quality: int = 80,
    webp_lossless: bool = False,
) -> None:
    """Encode ``image`` to ``path`` with ``infotext`` stored as A1111 stores it.

    ``image_format`` is a Pillow format name or an extension (default: from ``path``); ``extra_text`` are
    more PNG text chunks. With ``enable_pnginfo`` False no metadata at all is written.
    """
    path = Path(path)
    image_format = (image_format or path.suffix.lstrip(".")).upper()
    image_format = FORMAT_BY_EXTENSION.get(image_format.lower(), image_format)
    if image_format == "PNG":
        pnginfo = None
        if enable_pnginfo:
            pnginfo = PngImagePlugin.PngInfo()
            chunks = dict(extra_text or {})
            if infotext is not None:
                chunks[PNGINFO_KEY] = infotext
            for key, value in chunks.items():
                pnginfo.add_text(key, str(value))
        image.save(path, format="PNG", pnginfo=pnginfo)
    elif image_format in ("JPEG", "WEBP", "AVIF"):
        options: dict[str, Any] = {"quality": jpeg_quality}
        if image_format == "WEBP":
            options["lossless"] = webp_lossless
        if enable_pnginfo and infotext is not None:
            options["exif"] = _exif_with_comment(infotext)
        _for_lossy_format(image, image_format).save(path, format=image_format, **options)
    elif image_format == "GIF":
        if enable_pnginfo and infotext is not None:
            image.save(path, format="GIF", comment=infotext.encode("utf-8"))
        else:
            image.save(path, format="GIF")
    else:
        image.save(path, format=image_format)


def _exif_comment(exif_bytes: bytes) -> str:
    try:
        exif = piexif.load(exif_bytes)
    except (ValueError, OSError, struct.error, KeyError, IndexError, TypeError, piexif.InvalidImageDataError) as error:
        log.debug("Unreadable EXIF block: %s", error)
        return ""
    raw = exif.get("Exif", {}).get(piexif.ExifIFD.UserComment, b"")
    if not raw:
        return ""
    try:
        return piexif.helper.UserComment.load(raw)
    except ValueError:
        return raw.decode("utf-8", errors="ignore")


def _novelai_infotext(items: dict[str, Any], image: Image.Image) -> str | None:
    try:
        settings = json.loads(items["Comment"])
        sampler = NOVELAI_SAMPLERS.get(settings["sampler"], "Euler a")
        return (
            f"{items['Description']}\nNegative prompt: {settings['uc']}\nSteps: {settings['steps']}, "
            f"Sampler: {sampler}, CFG scale: {settings['scale']}, Seed: {settings['seed']}, "
            f"Size: {image.width}x{image.height}, Clip skip: 2, ENSD: 31337"
        )
    except (KeyError, TypeError, ValueError, RecursionError) as error:
        log.warning("Could not read NovelAI generation parameters: %s", error)
        return None


def read_infotext(image: Image.Image) -> tuple[str | None, dict[str, Any]]:
    """Return (infotext or None, the image's other metadata items)."""
    items = dict(image.info or {})
    infotext = items.pop(PNGINFO_KEY, None)
    if "exif" in items:
        comment = _exif_comment(items["exif"])
        if comment:
            infotext = comment
    elif "comment" in items:
        comment = items["comment"]
        infotext = comment.decode("utf-8", errors="ignore") if isinstance(comment, bytes) else str(comment)
    for key in IGNORED_INFO_KEYS:
        items.pop(key, None)
    if items.get("Software") == "NovelAI":
        infotext = _novelai_infotext(items, image) or infotext
    return infotext, items
