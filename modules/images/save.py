"""Saving generated images where and how A1111 1.10 saves them.

Default layout: ``<directory>/<YYYY-MM-DD>/<NNNNN>-<seed>-<prompt words>.png`` (``save_to_dirs`` on; A1111 1.10
names these ``<NNNNN>-<seed>.png``, we keep the first prompt words so files are recognisable), or
``<directory>/<NNNNN>-<seed>-<prompt>.png`` with ``save_to_dirs`` off; grids are ``grid-NNNN.png``. The file
is written under a temporary name and renamed into place, so a folder watcher (or a crash) never sees a
half-written image.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from modules.images.filenames import FilenameGenerator, next_sequence_number, safe_path_component
from modules.images.metadata import FORMAT_BY_EXTENSION, write_image
from modules.images.options import DEFAULTS

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255  # bytes in one path component on common file systems
SIZE_LIMITS = {"jpg": 65535, "jpeg": 65535, "webp": 16383, "avif": 65535}


def setting(settings: Any, key: str) -> Any:
    """Read ``key`` from a Settings / SettingsView / dict, falling back to A1111's default."""
    if settings is None:
        return DEFAULTS[key]
    value = settings.get(key, None)
    return DEFAULTS.get(key) if value is None else value


def _safe_subdirectory(name: str) -> Path:
    """A pattern may create nested folders ("[date]/[seed]") but never climb out of the output folder:
    empty, ``.`` and ``..`` parts are dropped, a leading ``/`` or drive does not make it absolute, NUL and
    control characters become ``_``."""
    parts = [part.strip(" ") for part in name.replace("\\", "/").split("/")]
    kept = [safe_path_component(part.replace(":", "_")) for part in parts if part not in ("", ".", "..")]
    return Path(*kept) if kept else Path()


def _inside(directory: Path, path: Path) -> Path:
    """``path`` when it lies inside ``directory`` (checked on the resolved paths), else a clear error."""
    base = directory.resolve()
    if not path.resolve().is_relative_to(base):
        raise ValueError(f"Refusing to save {path}: it is outside the output folder {base}")
    return path


def _fit_name(stem: str, extension: str) -> str:
    limit = MAX_NAME_LENGTH - len(extension) - 1
    encoded = stem.encode("utf-8")
    if len(encoded) <= limit:
        return stem
    return encoded[:limit].decode("utf-8", errors="ignore")


def _numbered_path(directory: Path, basename: str, decoration: str, extension: str) -> Path:
    start = next_sequence_number(directory, basename)
    candidate = directory
    for offset in range(500):
        number = f"{start + offset:05}" if basename == "" else f"{basename}-{start + offset:04}"
        candidate = directory / f"{_fit_name(number + decoration, extension)}.{extension}"
        if not candidate.exists():
            break
    return candidate


def _free_path(path: Path) -> Path:
    """For "Add number suffix": name-1.png, name-2.png ... instead of replacing an existing file."""
    candidate, counter = path, 0
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
    return candidate


_TEMP_NAME = re.compile(r"\.[0-9a-f]{32}\.tmp")


def remove_orphaned_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Delete half-written images (``.<uuid>.tmp``) a crash left in the output ``folders`` (at start-up).

    The scan is bounded (``folder_scan``): huge output trees or symlink loops cannot hang start-up.
    """
    from modules.models.folder_scan import scan_files

    removed = []
    for folder in folders:
        for path in scan_files(Path(folder), (".tmp",), time_limit=10.0).files:
            if _TEMP_NAME.fullmatch(path.name) and not path.is_symlink():
                try:
                    path.unlink()
                    removed.append(path)
                except FileNotFoundError:  # listed twice (nested output folders)
                    continue
                except OSError as error:
                    log.warning("Could not remove the leftover %s: %s", path, error)
    if removed:
        log.info("Removed %d half-written image file(s) left by a crash", len(removed))
    return removed


def save_image(
    image: Image.Image,
    directory: str | Path,
    basename: str = "",
    info: Mapping[str, Any] | None = None,
    infotext: str | None = None,
    fmt: str | None = None,
    settings: Any = None,
    *,
    grid: bool = False,
    pattern: str | None = None,
    forced_filename: str | None = None,
    suffix: str = "",
    save_to_dirs: bool | None = None,
    short_filename: bool = False,
    no_prompt: bool = False,
    extra_text: Mapping[str, Any] | None = None,
    now: datetime.datetime | None = None,
) -> Path:
    """Save ``image`` with its infotext and return the path written.

    ``info`` holds the values for filename tags (keys listed in ``filenames.FilenameValues``: seed, prompt,
    steps, sampler ...). ``basename`` is a prefix such as "grid"; ``pattern`` overrides the
    ``samples_filename_pattern`` setting; ``fmt`` overrides ``samples_format`` / ``grid_format``.
    Settings read (A1111 keys): save_to_dirs, grid_save_to_dirs, directories_filename_pattern,
    directories_max_prompt_words, samples_filename_pattern, save_images_add_number, samples_format,
    grid_format, save_images_replace_action, enable_pnginfo, jpeg_quality, webp_lossless, save_txt.
    """
    info = dict(info or {})
    names = FilenameGenerator(info, image, now, int(setting(settings, "directories_max_prompt_words")))
    extension = (fmt or setting(settings, "grid_format" if grid else "samples_format")).lower().lstrip(".")
    if extension not in FORMAT_BY_EXTENSION:
        log.warning("Unknown image format %r; saving as PNG", extension)
        extension = "png"
    if max(image.size) > SIZE_LIMITS.get(extension, 1 << 31):
        log.warning("Image dimensions %s too large for %s; saving as PNG", image.size, extension)
        extension = "png"

    if save_to_dirs is None:
        if grid:
            save_to_dirs = bool(setting(settings, "grid_save_to_dirs"))
        else:
            save_to_dirs = bool(setting(settings, "save_to_dirs")) and not no_prompt
    directory = base_directory = Path(directory)
    if save_to_dirs:
        subdirectory = names.apply(setting(settings, "directories_filename_pattern") or "[prompt_words]")
        directory = directory / _safe_subdirectory(subdirectory.lstrip(" ").rstrip("\\ /"))
    directory.mkdir(parents=True, exist_ok=True)

    if forced_filename is not None:
        path = directory / f"{_fit_name(safe_path_component(forced_filename), extension)}.{extension}"
    else:
        if short_filename or info.get("seed") is None:
            decoration = ""
        else:
            default = "[seed]-[prompt_words]" if setting(settings, "save_to_dirs") else "[seed]-[prompt_spaces]"
            decoration = (pattern if pattern is not None else setting(settings, "samples_filename_pattern")) or default
        decoration = (names.apply(decoration) if decoration else "") + suffix
        decoration = safe_path_component(decoration) if decoration else ""
        add_number = bool(setting(settings, "save_images_add_number")) or decoration == ""
        if add_number:
            path = _numbered_path(directory, basename, f"-{decoration}" if decoration else "", extension)
        else:
            path = directory / f"{_fit_name(decoration, extension)}.{extension}"

    path = _inside(base_directory, path)
    temp_name = directory / f".{uuid.uuid4().hex}.tmp"  # a plain open() keeps the user's umask permissions
    try:
        write_image(
            image,
            temp_name,
            infotext,
            extension,
            extra_text=extra_text,
            enable_pnginfo=bool(setting(settings, "enable_pnginfo")),
            jpeg_quality=int(setting(settings, "jpeg_quality")),
            webp_lossless=bool(setting(settings, "webp_lossless")),
        )
        if setting(settings, "save_images_replace_action") != "Replace":
            path = _free_path(path)
        os.replace(temp_name, path)
    except BaseException:
        temp_name.unlink(missing_ok=True)
        raise

    if setting(settings, "save_txt") and infotext is not None:
        path.with_suffix(".txt").write_text(f"{infotext}\n", encoding="utf-8")
    log.debug("Saved %s", path)
    return path
