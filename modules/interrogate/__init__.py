"""Interrogation: describe an image as a prompt (A1111's "Interrogate CLIP" and "Interrogate DeepBooru").

``deepbooru.DeepBooru`` tags images with the user-placed DeepBooru model; ``clip_interrogator.ClipInterrogator``
captions with BLIP and appends CLIP-ranked artists/flavours/mediums/movements. ``check`` names a missing file
before any work, ``interrogate`` is the one entry point the API, the page and Extras "Caption" use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    from modules.app import Backend

MODELS = ("clip", "deepdanbooru")


class InterrogatorUnavailable(Exception):
    """The requested interrogator cannot run in this build; the message says why and what is missing."""


def check(backend: Backend, model: str) -> None:
    """Raise before any work: unknown model (ValueError), missing file (ModelLoadError naming it)."""
    if model not in MODELS:
        raise ValueError(f"interrogation model {model!r} not found; choose from {', '.join(MODELS)}")
    if model == "clip":
        backend.clip_interrogator().require_files()
    else:
        backend.deepbooru().require_file()


def interrogate(backend: Backend, image: Image.Image, model: str, report: Callable[[str], None] | None = None) -> str:
    check(backend, model)
    if model == "clip":
        return backend.clip_interrogator().interrogate(image.convert("RGB"), report)
    return backend.deepbooru().tag(image)


def job_reporter(job: Any) -> Callable[[str], None]:
    """Progress text of a queue job (model loading, captioning, ranking)."""
    return lambda text: job.update(textinfo=text)
