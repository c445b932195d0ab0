"""A1111's ``modules.extras``: ``run_pnginfo`` (the PNG Info tab's reading of an image)."""

from __future__ import annotations

from typing import Any

from modules.a1111.ui_common import plaintext_to_html


def run_pnginfo(image: Any) -> tuple[str, str | None, str]:
    """('', infotext, html of every metadata item) for a PIL image."""
    if image is None:
        return "", "", ""
    from modules.images.metadata import read_infotext

    geninfo, items = read_infotext(image)
    items = {**({"parameters": geninfo} if geninfo else {}), **{k: v for k, v in items.items() if k != "exif"}}
    info = "".join(
        f"<div><p><b>{plaintext_to_html(str(k))[3:-4]}</b></p>{plaintext_to_html(str(v))}</div>"
        for k, v in items.items()
    )
    return "", geninfo, info or "<div><p>Nothing found in the image.</p></div>"
