"""Extras "Caption" (A1111 1.10's postprocessing caption): describe the result with DeepBooru and/or BLIP and
write the text into a ``.txt`` beside the saved image, as training tools expect.

As in A1111, "BLIP" runs the full CLIP interrogation (BLIP caption + CLIP category matches); an existing
``.txt`` is handled by the ``postprocessing_existing_caption_action`` setting (Ignore / Keep / Prepend / Append).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from modules.app import Backend

CHOICES = ("Deepbooru", "BLIP")
ACTIONS = ("Ignore", "Keep", "Prepend", "Append")


def make_caption(
    image: Image.Image, options: Sequence[str], describers: dict[str, Callable[[Image.Image], str]]
) -> str:
    """The chosen describers' texts, in A1111's order (Deepbooru, then BLIP), joined by ``, ``."""
    unknown = [option for option in options if option not in CHOICES]
    if unknown:
        raise ValueError(f"Caption: unknown option {unknown[0]!r}; choose from {', '.join(CHOICES)}")
    texts = [describers[name](image) for name in CHOICES if name in options]
    return ", ".join(text for text in texts if text)


def combined_caption(new: str, existing: str, action: str) -> str:
    """What the .txt should hold given the existing caption and A1111's "Action for existing captions"."""
    if action not in ACTIONS:
        raise ValueError(f"postprocessing_existing_caption_action: {action!r} is not one of {', '.join(ACTIONS)}")
    if existing and action == "Keep":
        return existing.strip()
    if existing and action == "Prepend":
        return f"{existing} {new}".strip()
    if existing and action == "Append":
        return f"{new} {existing}".strip()
    return new.strip()


def write_caption(image_path: Path, caption: str, action: str = "Ignore") -> Path | None:
    """Write ``caption`` to ``<image stem>.txt`` beside the image; None when there is nothing to write."""
    target = Path(image_path).with_suffix(".txt")
    existing = target.read_text(encoding="utf-8").strip() if target.is_file() else ""
    text = combined_caption(caption, existing, action)
    if not text:
        return None
    target.write_text(text, encoding="utf-8")
    return target


def describers_of(
    backend: Backend, report: Callable[[str], None] | None = None
) -> dict[str, Callable[[Image.Image], str]]:
    """The backend's DeepBooru and CLIP interrogators as caption makers."""
    return {
        "Deepbooru": lambda image: backend.deepbooru().tag(image),
        "BLIP": lambda image: backend.clip_interrogator().interrogate(image.convert("RGB"), report),
    }


def require_files(backend: Backend, options: Sequence[str]) -> None:
    """ModelLoadError naming a missing file of a chosen describer, before any work."""
    from modules.interrogate import check

    for option in options:
        check(backend, "deepdanbooru" if option == "Deepbooru" else "clip")
