"""What the Extra Networks cards show about a model file: its preview image and the user's notes beside it.

A1111 keeps both next to the file: ``name.png`` / ``name.preview.png`` is the card's picture and ``name.json``
holds what the user typed in the card's metadata editor (``description``, ``activation text``,
``preferred weight``, ``notes``; other keys written by A1111 or extensions are kept). Everything here is plain
file work, so the UI, the API and tests share it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREVIEW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
USER_FIELDS = ("description", "activation text", "preferred weight", "notes")
MAX_USER_METADATA_BYTES = 1_000_000


def preview_candidates(model_path: Path) -> list[Path]:
    """The files A1111 looks at for a card picture, in its order: ``name.png`` before ``name.preview.png``."""
    stem = model_path.with_suffix("")
    names = [stem.name + ext for ext in PREVIEW_EXTENSIONS] + [
        stem.name + ".preview" + ext for ext in PREVIEW_EXTENSIONS
    ]
    return [model_path.parent / name for name in names]


def find_preview(model_path: Path) -> Path | None:
    """The card picture beside ``model_path``, None when there is none."""
    for candidate in preview_candidates(model_path):
        if candidate.is_file():
            return candidate
    return None


def user_metadata_path(model_path: Path) -> Path:
    """``name.json`` beside ``name.safetensors``, as A1111 stores the metadata editor's fields."""
    return model_path.with_suffix(".json")


def read_user_metadata(model_path: Path) -> dict[str, Any]:
    """The user's metadata of a model file; {} when absent, and a logged warning when unreadable."""
    path = user_metadata_path(model_path)
    try:
        if path.stat().st_size > MAX_USER_METADATA_BYTES:
            log.warning("Ignoring %s: larger than %d bytes", path, MAX_USER_METADATA_BYTES)
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("Could not read the card metadata %s: %s", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def write_user_metadata(model_path: Path, fields: dict[str, Any]) -> Path:
    """Merge ``fields`` into ``name.json`` (other keys kept) and write it atomically; returns the path."""
    path = user_metadata_path(model_path)
    data = read_user_metadata(model_path)
    data.update(fields)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=4, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def parse_weight(value: Any) -> float | None:
    """A preferred weight as the editor stores it (number or text); None when unset, 0 or not a number."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        return None
    return weight if weight and weight == weight else None


def format_weight(weight: float) -> str:
    """``1``, ``0.8``: how A1111 writes a multiplier into the prompt."""
    return f"{weight:g}"


def network_prompt(kind: str, name: str, metadata: dict[str, Any], default_multiplier: float = 1.0) -> str:
    """What a card inserts: ``<kind:name:w>`` with the preferred weight, then the activation text."""
    weight = parse_weight(metadata.get("preferred weight")) or default_multiplier
    text = f"<{kind}:{name}:{format_weight(weight)}>"
    activation = str(metadata.get("activation text") or "").strip()
    return f"{text} {activation}" if activation else text


def lora_prompt(alias: str, metadata: dict[str, Any], default_multiplier: float = 1.0) -> str:
    """What a LoRA card inserts: ``<lora:alias:w>`` (A1111 names a LoRA by its training alias)."""
    return network_prompt("lora", alias, metadata, default_multiplier)


def hypernet_prompt(name: str, metadata: dict[str, Any], default_multiplier: float = 1.0) -> str:
    """What a hypernetwork card inserts: ``<hypernet:name:w>`` (the file name, as A1111)."""
    return network_prompt("hypernet", name, metadata, default_multiplier)


def servable_preview(requested: str, roots: Iterable[Path]) -> Path | None:
    """The image file ``requested`` names when it lies inside one of ``roots`` (the model folders), else None.

    Only picture extensions are served and the path is resolved first, so ``..`` and links leading outside
    the model folders are refused.
    """
    if not requested or "\x00" in requested:
        return None
    try:
        target = Path(requested).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if target.suffix.lower() not in PREVIEW_EXTENSIONS or not target.is_file():
        return None
    for root in roots:
        try:
            if target.is_relative_to(Path(root).resolve()):
                return target
        except (OSError, RuntimeError):
            continue
    return None


def folder_of(model_path: Path, root: Path) -> str:
    """The sub-folder of ``root`` holding the file (``""`` at the top), for the folder filter."""
    try:
        relative = model_path.parent.relative_to(root)
    except ValueError:
        return ""
    return "" if str(relative) == "." else relative.as_posix()
