"""Shared helpers of the API tests (no tests here): a Backend and app built as webui.py builds them."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image


def build(data_dir: Path, *args: str, ui: bool = False):
    """(backend, app) for ``--api --data-dir data_dir *args`` (``--nowebui`` unless ``ui``)."""
    import webui
    from modules.settings.cli import parse_flags
    from modules.web import create_app

    flags = parse_flags(["--api", "--data-dir", str(data_dir), *([] if ui else ["--nowebui"]), *args])
    backend = webui.build_backend(flags)
    return backend, create_app(backend)


def png_b64(width: int = 64, height: int = 64, color=(200, 40, 40), info: dict[str, str] | None = None) -> str:
    from PIL import PngImagePlugin

    image = Image.new("RGB", (width, height), color)
    meta = PngImagePlugin.PngInfo()
    for key, value in (info or {}).items():
        meta.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=meta if info else None)
    return base64.b64encode(buffer.getvalue()).decode()


def decode(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    image.load()
    return image


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
