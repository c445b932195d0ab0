"""The gallery's "Save" and "Open folder" buttons.

Save writes the chosen images to the ``outdir_save`` folder (A1111: ``log/images``) and appends one row per
click to ``log.csv`` there, with A1111's columns, so spreadsheets made from A1111's log keep working.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.processing.infotext import parse_infotext

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

LOG_COLUMNS = [
    "prompt",
    "seed",
    "width",
    "height",
    "sampler",
    "cfgs",
    "steps",
    "filename",
    "negative_prompt",
    "sd_model_name",
    "sd_model_hash",
]


def resolve_dir(backend: Backend, folder: str) -> Path:
    """A settings path: absolute as given, relative ones under the data folder."""
    path = Path(folder)
    return path if path.is_absolute() else backend.paths.data / path


def output_folder(backend: Backend, tab: str) -> Path:
    """Where ``tab``'s generated images go (the folder the 📂 button opens)."""
    settings = backend.settings
    key = {
        "txt2img": "outdir_txt2img_samples",
        "img2img": "outdir_img2img_samples",
        "extras": "outdir_extras_samples",
    }.get(tab, "outdir_txt2img_samples")
    default = {
        "outdir_txt2img_samples": "outputs/txt2img-images",
        "outdir_img2img_samples": "outputs/img2img-images",
        "outdir_extras_samples": "outputs/extras-images",
    }[key]
    folder = settings.get("outdir_samples") or settings.get(key, default) or default
    return resolve_dir(backend, folder)


def open_folder(path: Path) -> str | None:
    """Open ``path`` in the system's file manager; returns a message when that is not possible."""
    if not path.is_dir():
        return f"Folder {path} does not exist yet; it is created when the first image is saved."
    if sys.platform.startswith("win"):
        os.startfile(str(path))  # type: ignore[attr-defined]
        return None
    opener = "open" if sys.platform == "darwin" else shutil.which("xdg-open")
    if opener is None:
        return f"No file manager found (xdg-open); the folder is {path}"
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return None


def save_to_log(
    backend: Backend,
    images: Sequence[Any],
    infotexts: Sequence[str],
    seeds: Sequence[int],
    index_of_first_image: int,
    indices: Sequence[int],
) -> list[Path]:
    """Save ``images[i]`` for ``i`` in ``indices`` to ``outdir_save`` and log them to ``log.csv``."""
    from modules.images.save import save_image

    settings = backend.settings
    folder = resolve_dir(backend, settings.get("outdir_save") or "log/images")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    parsed_first: dict[str, Any] | None = None
    for index in indices:
        if not 0 <= index < len(images):
            continue
        text = infotexts[index] if index < len(infotexts) else (infotexts[0] if infotexts else "")
        parsed = parse_infotext(text) if text else {}
        parsed_first = parsed_first or parsed
        is_grid = index < index_of_first_image
        seed_index = index - index_of_first_image
        seed = seeds[seed_index] if 0 <= seed_index < len(seeds) else parsed.get("Seed")
        info = {
            "seed": seed,
            "prompt": parsed.get("Prompt", ""),
            "negative_prompt": parsed.get("Negative prompt", ""),
            "steps": parsed.get("Steps"),
            "cfg": parsed.get("CFG scale"),
            "sampler": parsed.get("Sampler"),
            "width": parsed.get("Size-1"),
            "height": parsed.get("Size-2"),
            "model_name": parsed.get("Model"),
            "model_hash": parsed.get("Model hash"),
        }
        path = save_image(
            images[index],
            folder,
            basename="grid" if is_grid else "",
            info=info,
            infotext=text,
            settings=settings,
            grid=is_grid,
            save_to_dirs=bool(settings.get("use_save_to_dirs_for_ui")),
        )
        saved.append(path)
    if saved and parsed_first is not None:
        _append_log_row(folder / "log.csv", parsed_first, saved[0].name)
    return saved


def _append_log_row(csv_path: Path, parsed: dict[str, Any], filename: str) -> None:
    new_file = not csv_path.exists() or csv_path.stat().st_size == 0
    with open(csv_path, "a", encoding="utf8", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(LOG_COLUMNS)
        writer.writerow(
            [
                parsed.get("Prompt", ""),
                parsed.get("Seed", ""),
                parsed.get("Size-1", ""),
                parsed.get("Size-2", ""),
                parsed.get("Sampler", ""),
                parsed.get("CFG scale", ""),
                parsed.get("Steps", ""),
                filename,
                parsed.get("Negative prompt", ""),
                parsed.get("Model", ""),
                parsed.get("Model hash", ""),
            ]
        )
