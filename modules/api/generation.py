"""txt2img / img2img requests → frozen ``GenerationParams`` → the shared job queue → A1111's response.

All request-shape quirks live here, at the edge: ``sampler_index``, pre-1.9 sampler names carrying their
schedule, ``null`` meaning "default", the legacy ``firstphase_*`` hires fields, ``mask_blur`` setting both
axes, ``save_images`` deciding what is saved, ``override_settings`` validated (restricted keys dropped, values
coerced, the checkpoint looked up) and handed on as an overlay; the engine sees only typed parameters.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from modules.api import codec, scripts
from modules.api.errors import ApiError
from modules.api.models import GenerationRequest, Img2ImgRequest, Txt2ImgRequest
from modules.api.request_infotext import apply_infotext
from modules.jobs.queue import JobInterrupted
from modules.processing.params import GenerationParams, Processed
from modules.processing.samplers import find_schedule, resolve_sampler, schedule_for_request
from modules.settings.registry import FrozenSettingsError, LockedSettingError

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

SAME_SAMPLER = ("", "Use same sampler")
SAME_SCHEDULER = ("", "Use same scheduler")


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def find_checkpoint(backend: Backend, name: str) -> Any:
    """The checkpoint called ``name`` (title, file name, hash...); the list is rescanned once before a 404."""
    manager = backend.require_models()
    info = manager.find_checkpoint(str(name))
    if info is None:
        manager.refresh()
        info = manager.find_checkpoint(str(name))
    if info is None:
        known = ", ".join(c.title for c in manager.checkpoints()) or "none (put one in models/Stable-diffusion)"
        raise ApiError(404, f"Checkpoint {name!r} not found; available: {known}")
    return info


def validate_settings(backend: Backend, values: dict[str, Any], field: str) -> dict[str, Any]:
    """Coerced copies of setting values from a request; restricted keys dropped, bad values 422."""
    accepted: dict[str, Any] = {}
    for key, value in values.items():
        option = backend.settings.registry.get(key)
        if option is not None and option.restrict_api:
            log.warning("%s: the setting %r cannot be changed through the API; ignored", field, key)
            continue
        if key == "sd_model_checkpoint" and value not in (None, ""):
            accepted[key] = find_checkpoint(backend, value).title
            continue
        try:
            accepted[key] = option.coerce(value) if option is not None else value
        except (TypeError, ValueError) as error:
            raise ApiError(422, f"{field}.{key}: {error}") from error
    return accepted


def _hires_fields(request: Txt2ImgRequest) -> dict[str, Any]:
    enable_hr = bool(request.enable_hr)
    width, height = _or(request.width, 512), _or(request.height, 512)
    resize_x, resize_y = _or(request.hr_resize_x, 0), _or(request.hr_resize_y, 0)
    if enable_hr and (request.firstphase_width or request.firstphase_height) and not (resize_x or resize_y):
        # pre-1.0 hires fix: width/height were the final size and firstphase_* the first pass
        resize_x, resize_y = width, height
        width, height = request.firstphase_width or width, request.firstphase_height or height
    hr_sampler = hr_scheduler = None
    if request.hr_sampler_name not in (None, *SAME_SAMPLER):
        info, schedule = resolve_sampler(request.hr_sampler_name, request.hr_scheduler)
        hr_sampler, hr_scheduler = info.name, schedule
    elif request.hr_scheduler not in (None, *SAME_SCHEDULER):
        hr_scheduler = find_schedule(request.hr_scheduler).label
    return {
        "width": width,
        "height": height,
        "enable_hr": enable_hr,
        "denoising_strength": _or(request.denoising_strength, 0.75) if enable_hr else None,
        "hr_scale": _or(request.hr_scale, 2.0),
        "hr_upscaler": request.hr_upscaler or "Latent",
        "hr_second_pass_steps": _or(request.hr_second_pass_steps, 0),
        "hr_resize_x": resize_x,
        "hr_resize_y": resize_y,
        "hr_sampler_name": hr_sampler,
        "hr_scheduler": hr_scheduler,
        "hr_prompt": request.hr_prompt or "",
        "hr_negative_prompt": request.hr_negative_prompt or "",
    }


def _img2img_fields(backend: Backend, request: Img2ImgRequest) -> dict[str, Any]:
    settings = backend.settings
    blur_x, blur_y = _or(request.mask_blur_x, 4), _or(request.mask_blur_y, 4)
    if request.mask_blur is not None:
        blur_x = blur_y = request.mask_blur
    return {
        "init_images": tuple(
            codec.decode_image(text, settings, f"init_images[{i}]") for i, text in enumerate(request.init_images or [])
        ),
        "mask": codec.decode_optional(request.mask, settings, "mask"),
        "resize_mode": _or(request.resize_mode, 0),
        "denoising_strength": _or(request.denoising_strength, 0.75),
        "image_cfg_scale": request.image_cfg_scale,
        "mask_blur": blur_x,
        "mask_blur_x": blur_x,
        "mask_blur_y": blur_y,
        "inpainting_fill": _or(request.inpainting_fill, 0),
        "inpaint_full_res": _or(request.inpaint_full_res, True),
        "inpaint_full_res_padding": _or(request.inpaint_full_res_padding, 0),
        "inpainting_mask_invert": _or(request.inpainting_mask_invert, 0),
        "initial_noise_multiplier": request.initial_noise_multiplier,
    }


def _ignored_fields(request: GenerationRequest) -> None:
    for name in ("firstpass_image",):
        if getattr(request, name, None):
            log.info("API request field %s is not supported by this build and was ignored", name)


def _check_prompt_syntax(request: GenerationRequest) -> None:
    """Extra-network calls whose arguments cannot be read (``<lora:x:abc>``) are the client's error."""
    from modules.processing.prompt_parser import extract_extra_networks, lora_weights

    for field in ("prompt", "negative_prompt", "hr_prompt", "hr_negative_prompt"):
        _, calls = extract_extra_networks(getattr(request, field, None) or "")
        for call in calls:
            try:
                if call.kind == "lora":
                    lora_weights(call)
            except ValueError as error:
                raise ApiError(422, f"{field}: {error}") from error


def to_params(backend: Backend, request: GenerationRequest) -> GenerationParams:
    """The typed parameters for a (validated-by-schema) request; 4xx ``ApiError`` for impossible values."""
    is_img2img = isinstance(request, Img2ImgRequest)
    _ignored_fields(request)
    _check_prompt_syntax(request)
    sampler, schedule = resolve_sampler(request.sampler_name or request.sampler_index, request.scheduler)
    schedule = schedule_for_request(sampler, schedule, bool(request.scheduler))
    overrides = validate_settings(backend, dict(request.override_settings or {}), "override_settings")
    if request.s_min_uncond is not None and "s_min_uncond" in backend.settings.registry:
        # a setting in A1111, offered as a request field too
        overrides.update(validate_settings(backend, {"s_min_uncond": request.s_min_uncond}, "request"))
    fields: dict[str, Any] = {
        "mode": "img2img" if is_img2img else "txt2img",
        "prompt": request.prompt or "",
        "negative_prompt": request.negative_prompt or "",
        "styles": tuple(request.styles or ()),
        "seed": _or(request.seed, -1),
        "subseed": _or(request.subseed, -1),
        "subseed_strength": _or(request.subseed_strength, 0.0),
        "seed_resize_from_h": max(0, _or(request.seed_resize_from_h, 0)),
        "seed_resize_from_w": max(0, _or(request.seed_resize_from_w, 0)),
        "sampler_name": sampler.name,
        "scheduler": schedule,
        "batch_size": _or(request.batch_size, 1),
        "n_iter": _or(request.n_iter, 1),
        "steps": _or(request.steps, 50),
        "cfg_scale": _or(request.cfg_scale, 7.0),
        "width": _or(request.width, 512),
        "height": _or(request.height, 512),
        "tiling": bool(request.tiling),
        "restore_faces": request.restore_faces,
        "eta": request.eta,
        "s_churn": request.s_churn,
        "s_tmax": request.s_tmax,
        "s_tmin": request.s_tmin,
        "s_noise": request.s_noise,
        "override_settings": overrides,
        "do_not_save_samples": not request.save_images,
        "do_not_save_grid": not request.save_images,
        "script_name": scripts.resolve_selectable(backend, request.script_name, is_img2img),
        "script_args": tuple(request.script_args or ()),
        "alwayson_scripts": scripts.resolve_alwayson(backend, request.alwayson_scripts, is_img2img),
    }
    _check_face_restorer(backend, request.restore_faces, overrides)
    fields.update(_second_model_fields(backend, request))
    if is_img2img:
        fields.update(_img2img_fields(backend, request))
    else:
        fields.update(_hires_fields(request))
        _check_hires_upscaler(backend, fields)
    return GenerationParams(**fields)


def _second_model_fields(backend: Backend, request: GenerationRequest) -> dict[str, Any]:
    """Refiner and hires checkpoint, with the checkpoint's title; 404 naming the checkpoint if it is absent."""
    from modules.processing.model_switch import hires_checkpoint_wanted, refiner_wanted

    fields: dict[str, Any] = {}
    if refiner_wanted(request.refiner_checkpoint):
        fields["refiner_checkpoint"] = find_checkpoint(backend, request.refiner_checkpoint).title
        fields["refiner_switch_at"] = request.refiner_switch_at
    hr_name = getattr(request, "hr_checkpoint_name", None)
    if getattr(request, "enable_hr", False) and hires_checkpoint_wanted(hr_name):
        fields["hr_checkpoint_name"] = find_checkpoint(backend, hr_name).title
    return fields


def _check_face_restorer(backend: Backend, restore_faces: bool | None, overrides: dict[str, Any]) -> None:
    """A missing restorer file is a 422 naming it before the job starts (``ModelLoadError``)."""
    from modules.upscaling.face_restoration import wants_restoration

    def setting(key: str, default: Any = None) -> Any:
        return overrides[key] if key in overrides else backend.settings.get(key, default)

    settings = type("Overlay", (), {"get": staticmethod(setting)})()
    if wants_restoration(settings, restore_faces):
        backend.face_restorers.require_files(setting("face_restoration_model", "CodeFormer") or "CodeFormer")


def _check_hires_upscaler(backend: Backend, fields: dict[str, Any]) -> None:
    if not fields["enable_hr"]:
        return
    names = backend.upscalers.hires_upscaler_names()
    if fields["hr_upscaler"] not in names:
        raise ApiError(422, f"hr_upscaler {fields['hr_upscaler']!r} not found; available: {', '.join(names)}")


def _with_infotext(image: Any, infotext: str | None, enabled: bool) -> Any:
    if enabled and infotext and isinstance(getattr(image, "info", None), dict) and "parameters" not in image.info:
        image.info["parameters"] = infotext
    return image


def _interrupted_result(params: GenerationParams) -> Processed:
    return Processed(
        images=[],
        infotexts=[],
        seed=params.seed,
        subseed=params.subseed,
        all_seeds=[],
        all_subseeds=[],
        all_prompts=[],
        all_negative_prompts=[],
        params=params,
        interrupted=True,
    )


def _settle_overrides(backend: Backend, request: GenerationRequest, params: GenerationParams) -> None:
    """After the job: keep the overrides when asked (A1111's restore_afterwards=false), as current, unsaved
    settings. Otherwise nothing is left to undo: overrides were an overlay and an override checkpoint is
    loaded without being remembered."""
    if request.override_settings_restore_afterwards is False and params.override_settings:
        with contextlib.suppress(FrozenSettingsError, LockedSettingError):
            backend.settings.update(params.override_settings, save=False)


def generate(backend: Backend, request: GenerationRequest) -> dict[str, Any]:
    """Run one API generation through the shared queue and build A1111's response dict."""
    backend.require_models()
    request = apply_infotext(backend, request)
    params = to_params(backend, request)
    job = backend.generation.submit(params, label=f"api {params.mode}", job_id=request.force_task_id or None)
    try:
        processed: Processed = job.wait()
    except JobInterrupted:
        processed = _interrupted_result(params)
    finally:
        _settle_overrides(backend, request, params)

    images: list[str] = []
    if request.send_images is not False:
        enabled = bool(backend.settings.get("enable_pnginfo"))
        offset = processed.index_of_first_image if len(processed.infotexts) < len(processed.images) else 0
        for index, image in enumerate(processed.images):
            position = max(0, index - offset)
            infotext = processed.infotexts[position] if position < len(processed.infotexts) else processed.info
            images.append(codec.encode_image(_with_infotext(image, infotext, enabled), backend.settings))
    parameters = request.model_dump()
    if isinstance(request, Img2ImgRequest) and not request.include_init_images:
        parameters["init_images"] = None
        parameters["mask"] = None
    info = processed.js()
    job.release()  # the images are encoded: let the finished job (kept for /progress) free them
    return {"images": images, "parameters": parameters, "info": info}
