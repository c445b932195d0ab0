"""A1111's ``modules.masking``: crop regions around a mask (``get_crop_region``, ``expand_crop_region``, ``fill``)."""

from __future__ import annotations

from typing import Any

from modules.images import ops


def get_crop_region(mask: Any, pad: int = 0) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) around the non-zero pixels of ``mask`` (a PIL image), grown by ``pad``."""
    image = mask if hasattr(mask, "getbbox") else _to_image(mask)
    region = ops.crop_region(image, pad)
    return tuple(region) if region is not None else (0, 0, *image.size)  # type: ignore[return-value]


def get_crop_region_v2(mask: Any, pad: int = 0) -> tuple[int, int, int, int] | None:
    region = ops.crop_region(mask if hasattr(mask, "getbbox") else _to_image(mask), pad)
    return tuple(region) if region is not None else None  # type: ignore[return-value]


def expand_crop_region(
    crop_region: Any, processing_width: int, processing_height: int, image_width: int, image_height: int
) -> tuple[int, int, int, int]:  # noqa: E501
    return tuple(
        ops.expand_crop_region(tuple(crop_region), processing_width, processing_height, image_width, image_height)
    )  # type: ignore[return-value]  # noqa: E501


def fill(image: Any, mask: Any) -> Any:
    return ops.fill_masked(image, mask)


def _to_image(array: Any) -> Any:
    from PIL import Image

    return Image.fromarray(array)
