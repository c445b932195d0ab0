"""The processing core: ``GenerationParams`` in, ``Processed`` (images + infotexts) out.

txt2img, img2img, inpainting and hires fix are thin variants of one path: seeds → conditioning → the one
denoise loop (``denoise.sample``) → VAE decode → paste-back → save with infotext. It runs inside a job of
the queue, so it reports progress to that job and stops when the job is interrupted or skipped.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import torch

from modules.jobs.queue import Job, JobInterrupted
from modules.models.errors import ModelLoadError
from modules.models.vae import decode_latents
from modules.processing import hires, img2img_inputs, job_networks, model_switch, outputs, previews
from modules.processing.cfg_denoiser import ModelSwap
from modules.processing.conditioning import EncodingInterrupted, PromptCondProvider
from modules.processing.denoise import sample
from modules.processing.denoise_input import (
    DenoiseInput,
    Img2ImgInput,
    LoopControl,
    ModelInput,
    NoiseInput,
    SamplerChoice,
)
from modules.processing.hooks import HookRegistry
from modules.processing.params import GenerationParams, InvalidParams, Processed
from modules.processing.prompt_parser import extract_extra_networks
from modules.processing.samplers import resolve_sampler
from modules.processing.sampling_pass import SamplingPass
from modules.processing.seeds import ImageRNG, batch_seeds, fixed_seed
from modules.processing.state import ProcessingState
from modules.upscaling.face_restoration import restore_if_asked, wants_restoration

if TYPE_CHECKING:
    from modules.processing.host import ProcessingHost

log = logging.getLogger(__name__)


class NoModelError(InvalidParams):
    """No checkpoint is loaded (none found, or loading failed): the message says what the user can do."""


def generate(
    backend: ProcessingHost, params: GenerationParams, job: Job, iterations: Collection[int] | None = None
) -> Processed:
    """Run the job; ``iterations`` (batch indices) limits it to some batches (a Ray replica's share)."""
    settings = backend.settings.overlay(params.override_settings)
    model = _model_for(backend, settings, job)
    # the VAE follows the effective sd_vae: options and override_settings take effect at this job
    backend.require_models().use_vae(model, settings.get("sd_vae"), strict="sd_vae" in settings.overrides)
    sampler_info, schedule = resolve_sampler(params.sampler_name, params.scheduler)
    p = ProcessingState(
        params=params,
        settings=settings,
        model=model,
        job_model=model,
        hooks=HookRegistry(isolate_errors=True),
        job=job,
        sampler_name=sampler_info.name,
        scheduler=schedule,
        steps=params.steps,
        cfg_scale=params.cfg_scale,
        width=params.width,
        height=params.height,
        batch_size=params.batch_size,
        n_iter=params.n_iter,
        clip_skip=int(settings.get("CLIP_stop_at_last_layers")),
    )
    styles = backend.styles
    styles.reload()  # styles.csv may have been edited by hand since
    p.prompt = styles.apply_styles_to_prompt(params.prompt, list(params.styles))
    p.negative_prompt = styles.apply_negative_styles_to_prompt(params.negative_prompt, list(params.styles))
    p.seed = fixed_seed(params.seed)
    p.subseed = fixed_seed(params.subseed)
    total = params.batch_size * params.n_iter
    p.all_seeds, p.all_subseeds = batch_seeds(p.seed, p.subseed, params.subseed_strength, total)
    p.all_prompts = [p.prompt] * total
    p.all_negative_prompts = [p.negative_prompt] * total
    p.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")

    scripts = backend.scripts
    if scripts is not None:
        scripts.before_process(p)
        custom = scripts.run_selected(p)
        if custom is not None:
            return custom
        scripts.process(p)

    requests, missing = job_networks.split_missing(
        job_networks.network_requests(p.all_prompts[0]), backend.models.networks
    )
    if missing:  # A1111's wording, in the result comments (UI log and the API's info)
        p.comments.append("Networks not found: " + ", ".join(missing))
    started = time.time()
    # the networks patch every model the job runs on (a refiner or hires checkpoint too), all undone at the end
    with torch.no_grad(), job_networks.JobNetworks(backend.models.networks, requests) as p.networks:
        p.networks.apply(model)
        if requests.loras:
            p.extra_generation_params.setdefault("Lora hashes", _lora_hashes(backend, list(requests.loras)))
        _run_batches(backend, p, model, iterations, scripts)
    if not p.images:
        raise JobInterrupted("Interrupted before any image was finished")
    return _finish(backend, p, started)


def _run_batches(
    backend: ProcessingHost, p: ProcessingState, model: Any, iterations: Collection[int] | None, scripts: Any
) -> None:
    params, job = p.params, p.job
    with _tiling(model, params.tiling):
        for iteration in range(params.n_iter):
            if job.interrupted:
                break
            if iterations is not None and iteration not in iterations:
                continue
            if p.model is not model:  # a refiner or hires checkpoint took over in the last batch
                p.model = model_switch.switch_to(backend, p, model.checkpoint)
            p.iteration = iteration
            try:
                _run_batch(backend, p, iteration, scripts)
            except EncodingInterrupted:  # Interrupt pressed while the prompts were encoded
                break


def _model_for(backend: ProcessingHost, settings: Any, job: Job) -> Any:
    models = backend.require_models()
    wanted = settings.get("sd_model_checkpoint")
    current = models.current
    if wanted and (current is None or wanted not in _names_of(current.checkpoint)):
        info = models.find_checkpoint(wanted)
        if info is None:
            if current is not None and "sd_model_checkpoint" not in settings.overrides:
                return current  # the stored choice vanished from disk: keep what is loaded
            raise InvalidParams(f"Checkpoint {wanted!r} not found; choose one of the listed checkpoints")
        job.update(textinfo=f"Loading {info.title}")
        if "sd_model_checkpoint" in settings.overrides or current is None:
            return models.load(info, remember="sd_model_checkpoint" not in settings.overrides)
        try:
            return models.load(info)
        except ModelLoadError as error:  # a stored choice that fails (Settings tab): keep the loaded model
            models.add_warning(f"{error}; still using {current.checkpoint.title}")
            models.remember_checkpoint(current.checkpoint)
            return current
    if current is None:
        if not models.checkpoints():
            raise NoModelError(models.status)
        info = models.startup_checkpoint()
        job.update(textinfo=f"Loading {info.title}")
        return models.load(info)
    return current


def _names_of(checkpoint: Any) -> set[str]:
    return {
        value
        for value in (
            getattr(checkpoint, "title", None),
            getattr(checkpoint, "name", None),
            getattr(checkpoint, "model_name", None),
            getattr(checkpoint, "short_hash", None),
        )
        if value
    }


def _lora_hashes(backend: ProcessingHost, loras: list[tuple[str, float, float]]) -> str | None:
    hashes = []
    for name, _, _ in loras:
        short = backend.models.lora_hash(name)
        if short:
            hashes.append(f"{name}: {short}")
    return ", ".join(hashes) or None


@contextlib.contextmanager
def _tiling(model: Any, enabled: bool):
    """Seamless tiling: circular padding in every conv of the UNet and VAE, restored afterwards."""
    if not enabled:
        yield
        return
    convs = [m for part in (model.unet, model.vae) for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    previous = [conv.padding_mode for conv in convs]
    for conv in convs:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv, mode in zip(convs, previous, strict=True):
            conv.padding_mode = mode


def _run_batch(backend: ProcessingHost, p: ProcessingState, iteration: int, scripts: Any) -> None:
    params, model, job = p.params, p.model, p.job
    start = iteration * p.batch_size
    span = slice(start, start + p.batch_size)
    p.prompts = [extract_extra_networks(text)[0] for text in p.all_prompts[span]]
    p.negative_prompts = [extract_extra_networks(text)[0] for text in p.all_negative_prompts[span]]
    p.seeds, p.subseeds = p.all_seeds[span], p.all_subseeds[span]
    if scripts is not None:
        scripts.process_batch(p)
    job.update(
        job_no=iteration,
        job_count=p.n_iter,
        sampling_step=0,
        sampling_steps=p.steps,
        textinfo=f"Batch {iteration + 1}/{p.n_iter}",
    )

    rng = _rng(p, p.width, p.height)
    noise = rng.next()
    # the VAE encoder's noise: A1111's global generator as its seeds leave it (img2img: once per job)
    encoder = img2img_inputs.encoder_generator(p.all_seeds[-1] if params.is_img2img else p.seeds[-1])
    conds = PromptCondProvider(
        model.conditioner,
        p.prompts,
        p.negative_prompts,
        p.steps,
        p.clip_skip,
        settings=p.settings,
        stop=lambda: p.job is not None and p.job.interrupted,
    )
    _record_embeddings(backend, p, conds.embeddings_used)
    inputs = None
    denoising = None
    if params.is_img2img:
        upscaler = (
            backend.upscalers.scaler(p.settings.get("upscaler_for_img2img") or "None")
            if params.resize_mode != 3
            else None
        )
        # "latent noise" fill: A1111 draws it once per job, plain noise of the first batch's seeds
        first_seeds = p.all_seeds[: p.batch_size]
        fill_noise = noise
        if params.mask is not None and params.inpainting_fill == 2:
            fill_noise = ImageRNG(noise.shape[1:], first_seeds, source=str(p.settings.get("randn_source"))).first()
        inputs = img2img_inputs.prepare(
            model,
            params,
            len(p.prompts),
            fill_noise,
            upscaler,
            float(p.settings.get("inpainting_mask_weight")),
            encoder,
            first_seeds[-1],
            mask_round=p.mask_round,
        )
        p.paste_to = inputs.paste_to
        denoising = params.denoising_strength if params.denoising_strength is not None else 0.75
        if params.mask is not None:
            _inpaint_infotext(p)
    refiner = _refiner_switch(
        backend,
        p,
        is_hr_pass=False,
        width=p.width,
        height=p.height,
        encode=lambda m: PromptCondProvider(
            m.conditioner, p.prompts, p.negative_prompts, p.steps, p.clip_skip, settings=p.settings
        ),
    )
    first_pass = SamplingPass(
        conds=conds,
        noise=noise,
        rng=rng,
        sampler_name=p.sampler_name,
        scheduler=p.scheduler,
        steps=p.steps,
        width=p.width,
        height=p.height,
        inputs=inputs,
        denoising=denoising,
        encoder=encoder,
        model_switch=refiner,
    )
    latents = _sample(p, first_pass)
    if params.enable_hr and not params.is_img2img and not job.interrupted:
        latents = hires.second_pass(
            backend,
            p,
            latents,
            rng_factory=lambda w, h: _rng(p, w, h),
            encoder=encoder,
            sample_fn=lambda second_pass: _sample(p, second_pass),
            refiner_fn=lambda encode, w, h: _refiner_switch(
                backend, p, is_hr_pass=True, width=w, height=h, encode=encode
            ),
        )
        denoising = params.denoising_strength if params.denoising_strength is not None else 0.7
    if scripts is not None:  # A1111's post_sample: scripts see (and may replace) the latents before decoding
        latents = scripts.post_sample(p, latents)
    pixels = decode_latents(p.model, latents)  # the refiner's or hires checkpoint's VAE when one took over
    images = [
        restore_if_asked(backend.face_restorers, p.settings, params.restore_faces, image)
        for image in img2img_inputs.tensor_to_pil(pixels)
    ]
    now = datetime.datetime.now()
    for offset, image in enumerate(images):
        index = start + offset
        overlay = inputs.overlays[offset] if inputs is not None else None
        if scripts is not None and inputs is not None:  # A1111's postprocess_maskoverlay
            overlay = scripts.postprocess_maskoverlay(p, offset, overlay)
        if overlay is not None:
            from modules.images.ops import apply_overlay

            image = apply_overlay(image, inputs.paste_to, overlay)
        text = outputs.infotext(p, index, denoising=denoising)
        if scripts is not None:
            image = scripts.postprocess_image(p, image) or image
        p.images.append(image)
        p.infotexts.append(text)
        path = outputs.save_sample(p, image, index, text, backend.paths.data, now, scripts)
        if path:
            p.saved_paths.append(path)
    if scripts is not None:
        scripts.postprocess_batch(p, images)
    job.consume_skip()


def _record_embeddings(backend: ProcessingHost, p: ProcessingState, names: list[str]) -> None:
    if not names:
        return
    hashes = [f"{name}: {backend.models.embedding_hash(name) or ''}".rstrip(": ") for name in names]
    p.extra_generation_params.setdefault("TI hashes", ", ".join(hashes))


def _rng(p: ProcessingState, width: int, height: int) -> ImageRNG:
    params = p.params
    return ImageRNG(
        (4, height // 8, width // 8),
        p.seeds,
        p.subseeds,
        params.subseed_strength,
        params.seed_resize_from_h,
        params.seed_resize_from_w,
        source=str(p.settings.get("randn_source")),
        device=p.model.device,
        eta_noise_seed_delta=int(p.settings.get("eta_noise_seed_delta")),
    )


def _sample(p: ProcessingState, run: SamplingPass) -> torch.Tensor:
    """One run of the denoise loop with this job's progress, previews and stop checks."""
    params, model, job = p.params, p.model, p.job
    every = int(p.settings.get("show_progress_every_n_steps"))
    live = bool(p.settings.get("live_previews_enable")) and every > 0

    def progress(step: int, total: int, denoised: torch.Tensor) -> None:
        job.update(sampling_step=step, sampling_steps=total)
        if live and (step % every == 0) and step < total:
            job.set_preview(_preview(p, denoised))

    inputs, noise, rng = run.inputs, run.noise, run.rng
    image_conditioning = None
    if inputs is not None:
        image_conditioning = inputs.image_conditioning
    elif model.arch.unet_in_channels == 9:
        image_conditioning = img2img_inputs.txt2img_conditioning(
            model, noise.shape[0], run.height, run.width, noise, run.encoder
        )
    time_ids = _time_ids(model, run.width, run.height, noise.shape[0]) if model.arch.is_sdxl else (None, None)
    result = sample(
        DenoiseInput(
            model=ModelInput(
                unet=model.unet,
                conds=run.conds,
                scheduler_config=model.scheduler_config,
                add_time_ids=time_ids[0],
                negative_add_time_ids=time_ids[1],
                image_conditioning=image_conditioning,
            ),
            sampler=SamplerChoice(
                sampler=run.sampler_name,
                schedule=run.scheduler,
                steps=run.steps,
                cfg_scale=p.cfg_scale,
                eta=params.eta,
                s_churn=params.s_churn,
                s_tmin=params.s_tmin,
                s_tmax=params.s_tmax,
                s_noise=params.s_noise,
            ),
            noise=NoiseInput(
                latents=noise.to(model.device),
                draw=lambda shape: rng.next(),
                seeds=p.seeds,
                source=str(p.settings.get("randn_source")),
            ),
            img2img=None
            if inputs is None
            else Img2ImgInput(
                init_latent=inputs.init_latent,
                denoising_strength=run.denoising if run.denoising is not None else 1.0,
                latent_mask=inputs.latent_mask,
            ),
            hooks=p.hooks,
            control=LoopControl(progress=progress, should_stop=job.should_stop, console_progress=job.console_progress),
            settings=p.settings,
            model_switch=run.model_switch,
        )
    )
    extras = dict(result.extra_generation_params)
    if getattr(run.conds, "padded", False):
        extras["Pad conds"] = True
    for key, value in extras.items():
        p.extra_generation_params.setdefault(key, value)
    return result.latents


def _refiner_switch(backend: ProcessingHost, p: ProcessingState, *, is_hr_pass: bool, width: int, height: int, encode):
    """The loop's refiner switch for one pass; ``encode(model)`` encodes this pass's prompts with ``model``."""

    def make_swap(model: Any) -> ModelSwap:
        conds = encode(model)
        batch = len(p.prompts)
        time_ids = _time_ids(model, width, height, batch) if model.arch.is_sdxl else (None, None)
        return ModelSwap(
            model.unet,
            conds,
            prediction_type=dict(model.scheduler_config or {}).get("prediction_type", "epsilon"),
            add_time_ids=time_ids[0],
            negative_add_time_ids=time_ids[1],
        )

    return model_switch.refiner_switch(backend, p, is_hr_pass=is_hr_pass, make_swap=make_swap)


def _time_ids(model: Any, width: int, height: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL micro-conditioning: original size, crop (0, 0), target size; the refiner uses aesthetic scores."""
    if model.arch.family == "sdxl_refiner":
        positive = torch.tensor([[height, width, 0, 0, 6.0]])
        negative = torch.tensor([[height, width, 0, 0, 2.5]])
    else:
        positive = negative = torch.tensor([[height, width, 0, 0, height, width]])
    return positive.repeat(batch, 1).float(), negative.repeat(batch, 1).float()


def _preview(p: ProcessingState, denoised: torch.Tensor):
    if p.settings.get("show_progress_type") == "Full":
        return img2img_inputs.tensor_to_pil(decode_latents(p.model, denoised[:1]))[0]
    return previews.approx_rgb(denoised[:1], sdxl=p.model.arch.is_sdxl)[0]


def _inpaint_infotext(p: ProcessingState) -> None:
    params = p.params
    extra = p.extra_generation_params
    extra.setdefault("Mask blur", params.mask_blur)
    if params.inpainting_mask_invert:
        extra.setdefault("Mask mode", "Inpaint not masked")
    if params.inpainting_fill != 1:
        extra.setdefault(
            "Masked content", ("fill", "original", "latent noise", "latent nothing")[params.inpainting_fill]
        )
    if params.inpaint_full_res:
        extra.setdefault("Inpaint area", "Only masked")
        extra.setdefault("Masked area padding", params.inpaint_full_res_padding)


def _finish(backend: ProcessingHost, p: ProcessingState, started: float) -> Processed:
    images, infotexts = list(p.images), list(p.infotexts)
    index_of_first_image = 0
    # A1111: no grid when the request says not to save one (the API's default) or for a single image.
    single = len(images) < 2 and bool(p.settings.get("grid_only_if_multiple"))
    wanted = p.settings.get("return_grid") or p.settings.get("grid_save")
    if images and wanted and not single and not p.params.do_not_save_grid:
        scripts = backend.scripts
        grid = outputs.make_grid(p, images, backend.paths.data, datetime.datetime.now(), scripts)
        if p.settings.get("return_grid"):
            images.insert(0, grid)
            infotexts.insert(0, infotexts[0])
            index_of_first_image = 1
    processed = Processed(
        images=images,
        infotexts=infotexts,
        seed=p.all_seeds[0],
        subseed=p.all_subseeds[0],
        all_seeds=p.all_seeds,
        all_subseeds=p.all_subseeds,
        all_prompts=p.all_prompts,
        all_negative_prompts=p.all_negative_prompts,
        params=p.params,
        saved_paths=p.saved_paths,
        index_of_first_image=index_of_first_image,
        interrupted=p.job.interrupted,
        info_extra={
            "face_restoration_model": p.settings.get("face_restoration_model")
            if wants_restoration(p.settings, p.params.restore_faces)
            else None,
            "clip_skip": p.clip_skip,
            "version": outputs.VERSION,
            "sampler_name": p.sampler_name,
            "scheduler": p.scheduler,
            "is_using_inpainting_conditioning": p.model.arch.unet_in_channels == 9,
            "elapsed": round(time.time() - started, 3),
            **({"comments": "\n".join(p.comments)} if p.comments else {}),  # warnings (a skipped unit) in the API
        },
        comments="\n".join(p.comments),
    )
    scripts = backend.scripts
    if scripts is not None:
        scripts.postprocess(p, processed)
    return processed
