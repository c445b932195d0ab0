"""Interrogation: describe an image as a prompt (A1111's "Interrogate CLIP" and "Interrogate DeepBooru").

``deepbooru.DeepBooru`` tags images with the user-placed DeepBooru model. CLIP interrogation (BLIP caption
plus CLIP-ranked artists/flavours) is not implemented yet: asking for it is a clear 4xx naming what it would
need. ``interrogate`` is the one entry point the API and the page use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from modules.app import Backend

MODELS = ("clip", "deepdanbooru")
CLIP_FILES = "models/BLIP/model_base_caption_capfilt_large.pth and the CLIP ViT-L/14 model"


class InterrogatorUnavailable(Exception):
    """The requested interrogator cannot run in this build; the message says why and what is missing."""


def check(backend: Backend, model: str) -> None:
    """Raise before any work: unknown model (ValueError), CLIP (InterrogatorUnavailable), missing file."""
    if model not in MODELS:
        raise ValueError(f"interrogation model {model!r} not found; choose from {', '.join(MODELS)}")
    if model == "clip":
        raise InterrogatorUnavailable(
            f"CLIP interrogation is not available in this build (it would need {CLIP_FILES}); "
            "use DeepBooru (model 'deepdanbooru'), which reads models/torch_deepdanbooru/model-resnet_custom_v3.pt"
        )
    backend.deepbooru().require_file()


def interrogate(backend: Backend, image: Image.Image, model: str) -> str:
    check(backend, model)
    return backend.deepbooru().tag(image)
