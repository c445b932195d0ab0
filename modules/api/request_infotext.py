"""The ``infotext`` request field (A1111 1.8+): values read from an infotext fill the fields a client left out.

Fields the client set explicitly win. Settings the infotext mentions (Clip skip, the model by its hash...)
become ``override_settings`` entries unless the client gave those too or they equal the current value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from modules.api.errors import ApiError
from modules.processing.infotext import parse_infotext
from modules.processing.params import INPAINT_AREAS, INPAINTING_FILL, MASK_MODES

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def _index_of(labels: tuple[str, ...]) -> Callable[[Any], int | None]:
    def convert(value: Any) -> int | None:
        return labels.index(value) if value in labels else None

    return convert


def _same(value: Any) -> Any:
    return value


def _unless(*ignored: str) -> Callable[[Any], Any]:
    return lambda value: None if value in ignored else value


# request field -> (infotext key, conversion); a conversion returning None leaves the field alone.
FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "prompt": ("Prompt", _same),
    "negative_prompt": ("Negative prompt", _same),
    "steps": ("Steps", _same),
    "sampler_name": ("Sampler", _same),
    "scheduler": ("Schedule type", _same),
    "cfg_scale": ("CFG scale", _same),
    "image_cfg_scale": ("Image CFG scale", _same),
    "seed": ("Seed", _same),
    "width": ("Size-1", _same),
    "height": ("Size-2", _same),
    "subseed": ("Variation seed", _same),
    "subseed_strength": ("Variation seed strength", _same),
    "seed_resize_from_w": ("Seed resize from-1", _same),
    "seed_resize_from_h": ("Seed resize from-2", _same),
    "denoising_strength": ("Denoising strength", _same),
    "tiling": ("Tiling", _same),
    "styles": ("Styles array", _same),
    "hr_scale": ("Hires upscale", _same),
    "hr_upscaler": ("Hires upscaler", _same),
    "hr_second_pass_steps": ("Hires steps", _same),
    "hr_resize_x": ("Hires resize-1", _same),
    "hr_resize_y": ("Hires resize-2", _same),
    "hr_sampler_name": ("Hires sampler", _unless("Use same sampler")),
    "hr_scheduler": ("Hires schedule type", _unless("Use same scheduler")),
    "hr_checkpoint_name": ("Hires checkpoint", _unless("Use same checkpoint")),
    "hr_prompt": ("Hires prompt", _same),
    "refiner_checkpoint": ("Refiner", _same),
    "refiner_switch_at": ("Refiner switch at", _same),
    "hr_negative_prompt": ("Hires negative prompt", _same),
    "mask_blur": ("Mask blur", _same),
    "inpainting_fill": ("Masked content", _index_of(INPAINTING_FILL)),
    "inpainting_mask_invert": ("Mask mode", _index_of(MASK_MODES)),
    "inpaint_full_res": ("Inpaint area", lambda v: INPAINT_AREAS.index(v) == 1 if v in INPAINT_AREAS else None),
    "inpaint_full_res_padding": ("Masked area padding", _same),
}


# The model is matched by its hash below; a VAE name from another machine is not applied.
NOT_FROM_INFOTEXT = frozenset({"sd_model_checkpoint", "sd_vae"})


def _infotext_settings(backend: Backend, params: dict[str, Any]) -> dict[str, Any]:
    """Settings the infotext names through their declared ``infotext`` key, where they differ from now."""
    found: dict[str, Any] = {}
    for option in backend.settings.registry:
        key = option.infotext
        if not key or key not in params or option.key in NOT_FROM_INFOTEXT:
            continue
        try:
            value = option.coerce(params[key])
        except (TypeError, ValueError):
            continue
        if value != backend.settings.get(option.key):
            found[option.key] = value
    model_hash = params.get("Model hash")
    if model_hash and backend.models is not None:
        info = backend.models.find_checkpoint(str(model_hash))
        if info is not None and info.title != backend.settings.get("sd_model_checkpoint"):
            found["sd_model_checkpoint"] = info.title
    return found


def apply_infotext(backend: Backend, request: BaseModel) -> BaseModel:
    """A copy of ``request`` with the fields it did not set filled from its ``infotext``."""
    text = getattr(request, "infotext", None)
    if not text:
        return request
    styles = backend.styles
    styles.reload()  # styles.csv may have been edited by hand
    params = parse_infotext(text, styles=styles, infotext_styles=str(backend.settings.get("infotext_styles")))
    given = request.model_fields_set
    values = request.model_dump()
    for field, (key, convert) in FIELDS.items():
        if field in given or field not in type(request).model_fields or key not in params:
            continue
        value = convert(params[key])
        if value is not None:
            values[field] = value
    if "enable_hr" in type(request).model_fields and "enable_hr" not in given:
        values["enable_hr"] = (
            "Denoising strength" in params
            and any(k in params for k in ("Hires upscale", "Hires upscaler"))
            or bool(params.get("Hires resize-1"))
        )
    overrides = dict(values.get("override_settings") or {})
    for key, value in _infotext_settings(backend, params).items():
        overrides.setdefault(key, value)
    values["override_settings"] = overrides
    try:
        return type(request).model_validate(values)
    except ValidationError as error:
        raise ApiError(422, f"infotext: values do not fit the request: {error}") from error
