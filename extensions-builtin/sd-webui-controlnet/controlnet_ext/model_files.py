"""ControlNet model files: where they are looked for and how they are named ("name [legacy hash]").

Folders, in order: ``models/ControlNet`` (created when missing), the extension's ``models/``, the setting
``control_net_models_path`` and ``--controlnet-dir``; each scanned recursively for .pt .pth .ckpt
.safetensors .bin. A diffusers-format model is a folder holding ``config.json`` and
``diffusion_pytorch_model.*``; it is listed under the folder's name.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin")
DIFFUSERS_WEIGHTS = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
)


@dataclasses.dataclass(frozen=True)
class ControlNetFile:
    name: str
    path: Path  # the weights file
    short_hash: str  # A1111's legacy 8-hex hash

    @property
    def title(self) -> str:
        return f"{self.name} [{self.short_hash}]" if self.short_hash else self.name


def _legacy_hash(path: Path) -> str:
    from modules.extension_api import legacy_model_hash

    try:
        return legacy_model_hash(path)
    except OSError as error:
        log.warning("Could not hash %s: %s", path, error)
        return ""


def scan(folders: Iterable[Path]) -> list[ControlNetFile]:
    """Model files in ``folders`` (bounded scan: symlink loops and unreadable entries are skipped).

    Names are shown with U+FFFD for bytes that are not UTF-8, so listings and the page never fail on them.
    """
    from modules.extension_api import printable_name, scan_files

    found: dict[str, ControlNetFile] = {}
    for folder in folders:
        for path in scan_files(Path(folder), SUFFIXES).files:
            if path.name.startswith("."):
                continue
            if path.name in DIFFUSERS_WEIGHTS:
                if not (path.parent / "config.json").is_file():
                    continue
                name = printable_name(path.parent.name)
            else:
                name = printable_name(path.stem)
            if name in found:
                continue
            found[name] = ControlNetFile(name, path, _legacy_hash(path))
    return sorted(found.values(), key=lambda item: item.name.lower())


def find(files: list[ControlNetFile], query: str | None) -> ControlNetFile | None:
    """By title ("name [hash]"), name, hash, any case; finally a unique name containing the query."""
    if not query or query == "None":
        return None
    text = query.strip()
    bare = text.rsplit(" [", 1)[0] if text.endswith("]") else text
    for item in files:
        if text in (item.title, item.name) or bare == item.name:
            return item
    lowered = bare.lower()
    for item in files:
        if lowered in (item.name.lower(), item.short_hash.lower()):
            return item
    partial = [item for item in files if lowered in item.name.lower()]
    return partial[0] if len(partial) == 1 else None
