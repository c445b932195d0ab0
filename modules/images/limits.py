"""Decoded-size limits for images that come from outside (API base64, page uploads, Extras batches).

Pillow reads an image's size from its header without decoding the pixels, so the size is checked first and
a 692 KB PNG claiming 13000 x 13000 pixels is refused before it can take gigabytes.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import IO, Any

from PIL import Image

from modules.settings.limit_options import DEFAULT_MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)


class ImageTooLargeError(ValueError):
    """An image with more pixels than the ``max_image_pixels`` setting allows."""


def max_pixels(settings: Any) -> int:
    """The ``max_image_pixels`` setting (its default when ``settings`` is None or the value is unusable)."""
    value = settings.get("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS) if settings is not None else None
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_IMAGE_PIXELS


def check_size(width: int, height: int, limit: int, what: str = "image") -> None:
    """Raise ImageTooLargeError naming ``what`` and both numbers when ``width * height`` exceeds ``limit``.

    >>> check_size(100, 100, 20000)
    >>> try:
    ...     check_size(13000, 13000, 37748736, "init_images[0]")
    ... except ImageTooLargeError as error:
    ...     print(str(error)[:49])
    init_images[0] is 13000x13000 = 169000000 pixels;
    """
    if width * height > limit:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {width * height} pixels; "
            f"at most {limit} are accepted (setting max_image_pixels)"
        )


def open_limited(source: str | Path | IO[bytes], limit: int, what: str = "image") -> Image.Image:
    """Open and decode an image after checking its header size against ``limit``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
        try:
            image = Image.open(source)
        except Image.DecompressionBombError as error:  # above Pillow's limit, which apply_to_pillow set
            raise ImageTooLargeError(
                f"{what} is too large ({error}); at most {limit} pixels are accepted (setting max_image_pixels)"
            ) from error
    try:
        check_size(image.width, image.height, limit, what)
        image.load()
    except BaseException:
        image.close()
        raise
    return image


def apply_to_pillow(limit: int) -> None:
    """Make Pillow refuse larger images everywhere, Gradio's own upload decoding included.

    Pillow raises DecompressionBombError above twice ``MAX_IMAGE_PIXELS`` (and only warns between one and
    two times), so half the limit is set. Called by the composition root and when the setting changes.
    """
    Image.MAX_IMAGE_PIXELS = max(1, limit // 2)
