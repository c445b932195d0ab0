"""Interrogation: describe an image as a prompt (A1111's "Interrogate CLIP" and "Interrogate DeepBooru").

``deepbooru.DeepBooru`` tags images with the user-placed DeepBooru model; ``clip_interrogator.ClipInterrogator``
captions with BLIP and appends CLIP-ranked artists/flavours/mediums/movements. ``check`` names a missing file
before any work, ``interrogate`` is the one entry point the API, the page and Extras "Caption" use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

MODELS = ("clip", "deepdanbooru")


class InterrogatorUnavailable(Exception):
    """The requested interrogator cannot run in this build; the message says why and what is missing."""


def deepbooru_of(backend: Any) -> Any:
    """The backend's DeepBooru service (built once, kept in ``backend.services``)."""
    from modules.interrogate.deepbooru import DeepBooru

    service = backend.services.get("deepbooru")
    if service is None:
        service = backend.services["deepbooru"] = DeepBooru(backend.paths.models, settings=backend.settings)
    return service


def clip_interrogator_of(backend: Any) -> Any:
    """The backend's BLIP + CLIP interrogator (built once, kept in ``backend.services``)."""
    from modules.interrogate.clip_interrogator import ClipInterrogator

    service = backend.services.get("clip_interrogator")
    if service is None:
        clip_dir = getattr(getattr(backend, "flags", None), "clip_models_path", None)
        service = backend.services["clip_interrogator"] = ClipInterrogator(
            backend.paths.models,
            clip_dir=clip_dir,
            data_dir=backend.paths.data,
            settings=backend.settings,
            device=lambda: _device_of(backend),
        )
    return service


def _device_of(backend: Any) -> Any:
    """The generation device once the models are set up (A1111's device_interrogate), else the CPU."""
    info = getattr(getattr(backend, "models", None), "device_info", None)
    return getattr(info, "device", None) or "cpu"


def check(backend: Any, model: str) -> None:
    """Raise before any work: unknown model (ValueError), missing file (ModelLoadError naming it)."""
    if model not in MODELS:
        raise ValueError(f"interrogation model {model!r} not found; choose from {', '.join(MODELS)}")
    if model == "clip":
        clip_interrogator_of(backend).require_files()
    else:
        deepbooru_of(backend).require_file()


def interrogate(backend: Any, image: Image.Image, model: str, report: Callable[[str], None] | None = None) -> str:
    check(backend, model)
    if model == "clip":
        return clip_interrogator_of(backend).interrogate(image.convert("RGB"), report)
    return deepbooru_of(backend).tag(image)


def job_reporter(job: Any) -> Callable[[str], None]:
    """Progress text of a queue job (model loading, captioning, ranking)."""
    return lambda text: job.update(textinfo=text)
