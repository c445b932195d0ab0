"""A1111's ``modules.images``: ``save_image``, ``resize_image``, ``flatten``, ``image_grid``, PNG info."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.a1111 import _resolve
from modules.images import ops
from modules.images.grid import image_grid as _image_grid
from modules.images.metadata import read_infotext

LANCZOS = 1  # PIL.Image.LANCZOS
NEAREST = 0


def flatten(img: Any, bgcolor: str) -> Any:
    return ops.flatten(img, bgcolor or "#ffffff")


def resize_image(
    resize_mode: int, im: Any, width: int, height: int, upscaler_name: str | None = None, force_RGBA: bool = False
) -> Any:  # noqa: N803,E501
    """A1111's img2img resize modes; ``upscaler_name`` (default: the ``upscaler_for_img2img`` setting) enlarges."""
    backend = _resolve.backend()
    name = upscaler_name or backend.settings.get("upscaler_for_img2img")
    scaler = backend.upscalers.scaler(name) if name else None
    image = im.convert("RGBA") if force_RGBA else im
    return ops.resize_image(resize_mode, image, width, height, scaler)


def image_grid(imgs: list[Any], batch_size: int = 1, rows: int | None = None) -> Any:
    return _image_grid(imgs, batch_size=batch_size, rows=rows)


def read_info_from_image(image: Any) -> tuple[str | None, dict[str, Any]]:
    return read_infotext(image)


def _filename_values(p: Any, seed: Any, prompt: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if p is not None:
        from modules.processing.outputs import filename_values

        try:
            values.update(filename_values(p, 0))
        except Exception:  # a hand-made p may lack fields the tags need; fall back to what was given
            values = {}
    if seed is not None:
        values["seed"] = seed
    if prompt is not None:
        values["prompt"] = prompt
    return values


def save_image(
    image: Any,
    path: str,
    basename: str,
    seed: Any = None,
    prompt: Any = None,
    extension: str = "png",
    info: Any = None,
    short_filename: bool = False,
    no_prompt: bool = False,
    grid: bool = False,
    pnginfo_section_name: str = "parameters",
    p: Any = None,
    existing_info: Any = None,
    forced_filename: str | None = None,
    suffix: str = "",
    save_to_dirs: bool | None = None,
) -> tuple[str, str | None]:
    """Save like A1111 (file name settings, infotext, on_before_image_saved / on_image_saved); (file, txt file)."""
    from modules.images.save import save_image as save

    backend = _resolve.backend()
    settings = getattr(p, "settings", None) or backend.settings
    infotext = info if isinstance(info, str) else None
    scripts = backend.scripts
    if scripts is not None:
        image, infotext = scripts.before_image_saved(p, image, infotext or "")
    written = save(
        image,
        Path(path or backend.paths.outputs),
        basename,
        info=_filename_values(p, seed, prompt),
        infotext=infotext or None,
        fmt=extension,
        settings=settings,
        grid=grid,
        forced_filename=forced_filename,
        suffix=suffix,
        save_to_dirs=save_to_dirs,
        short_filename=short_filename,
        no_prompt=no_prompt,
    )
    if scripts is not None:
        scripts.image_saved(p, image, str(written), infotext or "")
    txt = written.with_suffix(".txt")
    return str(written), str(txt) if txt.exists() else None
