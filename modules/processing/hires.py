"""Hires. fix: upscale the first pass (in latent space or as an image) and denoise it again at the new size."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from modules.models.vae import decode_latents, encode_images
from modules.processing import img2img_inputs, model_switch
from modules.processing.conditioning import PromptCondProvider
from modules.processing.params import GenerationParams, InvalidParams
from modules.processing.prompt_parser import extract_extra_networks
from modules.processing.samplers import resolve_sampler
from modules.processing.sampling_pass import SamplingPass
from modules.processing.state import ProcessingState
from modules.upscaling.upscalers import LATENT_UPSCALE_MODES, latent_upscale

if TYPE_CHECKING:
    from modules.processing.host import ProcessingHost

log = logging.getLogger(__name__)


def target_size(params: GenerationParams) -> tuple[int, int]:
    """(width, height) of the second pass, multiples of 8: "Upscale by" or "Resize width/height to"."""
    width, height = params.width, params.height
    if params.hr_resize_x == 0 and params.hr_resize_y == 0:
        target_w, target_h = int(width * params.hr_scale), int(height * params.hr_scale)
    elif params.hr_resize_y == 0:
        target_w, target_h = params.hr_resize_x, params.hr_resize_x * height // width
    elif params.hr_resize_x == 0:
        target_w, target_h = params.hr_resize_y * width // height, params.hr_resize_y
    else:
        target_w, target_h = params.hr_resize_x, params.hr_resize_y
    target_w, target_h = max(64, target_w // 8 * 8), max(64, target_h // 8 * 8)
    if target_w > 4096 or target_h > 4096:
        raise InvalidParams(f"Hires fix target {target_w}x{target_h} is larger than 4096 pixels")
    return target_w, target_h


def upscale_size(params: GenerationParams, target_w: int, target_h: int) -> tuple[int, int]:
    """The size the first pass is upscaled to before the second: the target, except when both "Resize width
    to" and "Resize height to" are set with another aspect ratio; then, as A1111, the aspect ratio is kept and
    the target covered, and the latents are cropped to the target afterwards (see ``crop_latents``)."""
    if not (params.hr_resize_x and params.hr_resize_y):
        return target_w, target_h
    width, height = params.width, params.height
    if width / height < params.hr_resize_x / params.hr_resize_y:
        return params.hr_resize_x, params.hr_resize_x * height // width
    return params.hr_resize_y * width // height, params.hr_resize_y


def crop_latents(latents: torch.Tensor, up_w: int, up_h: int, target_w: int, target_h: int) -> torch.Tensor:
    """Cut the upscaled latents to the target, centred, as A1111's truncate_x / truncate_y."""
    cut_x, cut_y = (up_w - target_w) // 8, (up_h - target_h) // 8
    if cut_x <= 0 and cut_y <= 0:
        return latents
    rows, cols = latents.shape[2], latents.shape[3]
    return latents[:, :, cut_y // 2 : rows - (cut_y + 1) // 2, cut_x // 2 : cols - (cut_x + 1) // 2]


def second_pass(
    backend: ProcessingHost,
    p: ProcessingState,
    latents: torch.Tensor,
    *,
    rng_factory: Callable[[int, int], Any],
    sample_fn: Callable[[SamplingPass], torch.Tensor],
    encoder: torch.Generator | None = None,
    refiner_fn: Callable[..., Any] | None = None,
) -> torch.Tensor:
    """The second pass over the first pass's ``latents``; ``encoder`` continues the first pass's VAE-encoder
    generator (A1111 encodes the upscaled images from its global generator, as the first pass left it).
    A hires checkpoint takes over after the first pass is decoded; ``refiner_fn(encode, w, h)`` gives the
    refiner switch of this pass (see ``model_switch``); ``sample_fn`` runs the pass through the job's loop."""
    params, model = p.params, p.model
    width, height = target_size(params)
    upscaler = params.hr_upscaler or "Latent"
    _record_infotext(p, width, height, upscaler)
    model_switch.record_hires_checkpoint(backend, p)
    p.job.update(textinfo="Hires fix", sampling_step=0)

    up_w, up_h = upscale_size(params, width, height)
    if upscaler in LATENT_UPSCALE_MODES:
        upscaled = crop_latents(latent_upscale(latents, upscaler, up_w, up_h), up_w, up_h, width, height)
        pixels = None
        model = model_switch.use_hires_checkpoint(backend, p)
    else:
        registry = backend.upscalers
        if upscaler not in registry.names():
            raise InvalidParams(
                f"Unknown hires upscaler {upscaler!r}; choose one of: {', '.join(registry.hires_upscaler_names())}"
            )
        images = [
            registry.upscale(image, upscaler, (up_w, up_h))
            for image in img2img_inputs.tensor_to_pil(decode_latents(model, latents))
        ]
        model = model_switch.use_hires_checkpoint(backend, p)
        pixels = img2img_inputs.pil_to_tensor(images)
        upscaled = crop_latents(encode_images(model, pixels, encoder), up_w, up_h, width, height)
        top, left = (up_h - height) // 8 // 2 * 8, (up_w - width) // 8 // 2 * 8
        pixels = pixels[:, :, top : top + upscaled.shape[2] * 8, left : left + upscaled.shape[3] * 8]

    image_conditioning = None
    if model.arch.unet_in_channels == 9:
        weight = float(p.settings.get("inpainting_mask_weight"))
        if pixels is None and weight >= 1.0:  # A1111: a latent upscale at full weight conditions as txt2img does
            image_conditioning = img2img_inputs.txt2img_conditioning(
                model, upscaled.shape[0], height, width, upscaled, encoder
            )
        else:
            if pixels is None:
                pixels = decode_latents(model, upscaled).float().cpu()
            image_conditioning = img2img_inputs.inpainting_conditioning(model, pixels, None, weight, upscaled, encoder)

    steps = params.hr_second_pass_steps or p.steps
    sampler_name, scheduler = p.sampler_name, p.scheduler
    if params.hr_sampler_name and params.hr_sampler_name != "Use same sampler":
        info, scheduler = resolve_sampler(params.hr_sampler_name, params.hr_scheduler or p.scheduler)
        sampler_name = info.name
    elif params.hr_scheduler and params.hr_scheduler != "Use same scheduler":
        scheduler = params.hr_scheduler
    prompts = [extract_extra_networks(params.hr_prompt)[0]] * len(p.prompts) if params.hr_prompt else p.prompts
    negatives = (
        [extract_extra_networks(params.hr_negative_prompt)[0]] * len(p.prompts)
        if params.hr_negative_prompt
        else p.negative_prompts
    )

    def encode(with_model: Any) -> PromptCondProvider:
        return PromptCondProvider(
            with_model.conditioner,
            prompts,
            negatives,
            p.steps,
            p.clip_skip,
            hires_steps=steps,
            settings=p.settings,
            stop=lambda: p.job is not None and p.job.interrupted,
        )

    conds = encode(model)
    rng = rng_factory(width, height)
    noise = rng.next()
    inputs = img2img_inputs.Img2ImgInputs(upscaled, None, image_conditioning, [None] * len(prompts), None, [])
    denoising = params.denoising_strength if params.denoising_strength is not None else 0.7
    switch = refiner_fn(encode, width, height) if refiner_fn is not None else None
    return sample_fn(
        SamplingPass(
            conds=conds,
            noise=noise,
            rng=rng,
            sampler_name=sampler_name,
            scheduler=scheduler,
            steps=steps,
            width=width,
            height=height,
            inputs=inputs,
            denoising=denoising,
            model_switch=switch,
        )
    )


def _record_infotext(p: ProcessingState, width: int, height: int, upscaler: str) -> None:
    params = p.params
    extra = p.extra_generation_params
    if params.hr_resize_x or params.hr_resize_y:
        extra["Hires resize"] = f"{width}x{height}"
    else:
        extra["Hires upscale"] = params.hr_scale
    if params.hr_second_pass_steps:
        extra["Hires steps"] = params.hr_second_pass_steps
    extra["Hires upscaler"] = upscaler
    if params.hr_sampler_name and params.hr_sampler_name != "Use same sampler":
        extra["Hires sampler"] = params.hr_sampler_name
    if params.hr_scheduler and params.hr_scheduler != "Use same scheduler":
        extra["Hires schedule type"] = params.hr_scheduler
    if params.hr_prompt and params.hr_prompt != params.prompt:
        extra["Hires prompt"] = params.hr_prompt
    if params.hr_negative_prompt and params.hr_negative_prompt != params.negative_prompt:
        extra["Hires negative prompt"] = params.hr_negative_prompt
