"""How many images a script run may plan (the ``max_plan_images`` setting), checked before any work starts.

An X/Y/Z plot with ``1-3000000`` on the Seed axis, or a prompt matrix with forty ``|`` parts, would otherwise
build millions of cells and exhaust memory long before the first image.
"""

from __future__ import annotations

from typing import Any

from modules.processing.params import InvalidParams
from modules.settings.limit_options import DEFAULT_MAX_PLAN_IMAGES


def plan_limit(p: Any) -> int:
    """The ``max_plan_images`` setting as this request sees it."""
    settings = getattr(p, "settings", None)
    value = settings.get("max_plan_images", DEFAULT_MAX_PLAN_IMAGES) if settings is not None else None
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_PLAN_IMAGES


def check_plan(script: str, images: int, limit: int, detail: str = "") -> None:
    """InvalidParams with the count when ``images`` exceeds ``limit``.

    >>> check_plan("X/Y/Z plot", 10, 100)
    >>> try:
    ...     check_plan("X/Y/Z plot", 3000000, 1000, "3000000 x 1 x 1 cells")
    ... except InvalidParams as error:
    ...     print(str(error)[:45])
    X/Y/Z plot would make 3000000 images (3000000
    """
    if images > limit:
        where = f" ({detail})" if detail else ""
        raise InvalidParams(
            f"{script} would make {images} images{where}; at most {limit} are allowed (setting max_plan_images)"
        )
