"""The one denoise loop: every sampler, txt2img, img2img and inpainting run through ``sample``.

``sample`` takes one frozen ``DenoiseInput`` (``denoise_input``), builds the sigmas, the starting latents, the
``CFGDenoiser`` (``cfg_denoiser``) and the stepper, then walks the steps, calling the hook points, the
progress callback and the interrupt check between steps. It returns a ``DenoiseResult``: the latents and the
extra infotext keys the run produced.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from tqdm.auto import tqdm

from modules.processing import sampler_options
from modules.processing.brownian import BrownianNoise
from modules.processing.cfg_denoiser import CFGDenoiser, ModelSwitchFn
from modules.processing.denoise_input import (
    DenoiseInput,
    DenoiseResult,
    Img2ImgInput,
    LoopControl,
    NoiseFn,
    SamplerChoice,
)
from modules.processing.hooks import HookPoint, HookRegistry, SamplingContext, StepContext
from modules.processing.k_samplers import Noise, SamplerParams, Stepper
from modules.processing.samplers import (
    SamplerError,
    SamplerInfo,
    automatic_schedule_name,
    find_sampler,
    find_schedule,
)
from modules.processing.schedules import ModelSigmas, build_sigmas, unipc_time_uniform
from modules.processing.steppers import make_stepper

log = logging.getLogger(__name__)

TIMESTEP_ALGORITHMS = ("ddim", "ddim_cfgpp", "plms")  # A1111's sd_samplers_timesteps (UniPC runs its own)


class Options:
    """Reads settings with the declared defaults; ``settings`` is a SettingsView, a mapping or None."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def __call__(self, key: str, default: Any = None) -> Any:
        if default is None:
            default = sampler_options.DEFAULTS.get(key)
        if self.settings is None:
            return default
        value = self.settings.get(key, default)
        return default if value is None else value


def img2img_steps(steps: int, strength: float, fix_steps: bool) -> tuple[int, int]:
    """(schedule length, t_enc) as A1111's setup_img2img_steps: the loop runs the last t_enc + 1 steps."""
    strength = min(strength, 0.999)
    if fix_steps:
        return (int(steps / strength) if strength > 0 else 0), steps - 1
    return steps, int(strength * steps)


def sample(run: DenoiseInput) -> DenoiseResult:
    """Denoise ``run.noise.latents`` into latents; see the module docstring and ``DenoiseInput``."""
    choice, model, img2img = run.sampler, run.model, run.img2img
    info = find_sampler(choice.sampler) if isinstance(choice.sampler, str) else choice.sampler
    hooks = run.hooks or HookRegistry()
    opt = Options(run.settings)
    extras: dict[str, Any] = {}
    config = dict(model.scheduler_config or {})
    model_sigmas = ModelSigmas.from_config(config, opt("sd_noise_schedule") == "Zero Terminal SNR")
    if info.algorithm == "lcm":
        model_sigmas = model_sigmas.lcm_grid()
    is_sdxl = getattr(getattr(model.unet, "config", None), "addition_embed_type", None) == "text_time"
    if is_sdxl and model.add_time_ids is None:
        raise SamplerError("This UNet is SDXL-style (text_time embedding): add_time_ids are required")
    schedule_key = automatic_schedule_name(info, choice.schedule)
    steps = choice.steps

    is_img2img = img2img is not None
    init_latent = img2img.init_latent if img2img is not None else None
    latent_mask = img2img.latent_mask if img2img is not None else None
    sigmas, full_sigmas, on_timesteps = _walk_sigmas(
        info, choice, schedule_key, img2img, model_sigmas, is_sdxl, opt, extras
    )

    noise = run.noise.latents
    sampling = SamplingContext(
        info,
        schedule_key,
        steps,
        choice.cfg_scale,
        sigmas,
        noise.shape[0],
        is_img2img,
        is_sdxl,
        init_latent=init_latent,
        latent_mask=latent_mask,
        image_conditioning=model.image_conditioning,
        settings=run.settings,
    )
    hooks.run(HookPoint.SETUP, sampling)
    sigmas = sampling.sigmas
    x = _start_latents(noise.to(torch.float32), float(sigmas[0]), init_latent, info, opt, extras)
    sampling.x = x
    hooks.run(HookPoint.BEFORE_LOOP, sampling)
    x = sampling.x

    params = _sampler_params(info, choice, opt, extras)
    s_min = float(opt("s_min_uncond") if choice.s_min_uncond is None else choice.s_min_uncond)
    denoiser = CFGDenoiser(
        model.unet,
        model_sigmas,
        model.conds,
        hooks,
        sampling,
        prediction_type=config.get("prediction_type", "epsilon"),
        lcm=info.algorithm == "lcm",
        add_time_ids=model.add_time_ids if is_sdxl else None,
        negative_add_time_ids=model.negative_add_time_ids,
        batch_cond_uncond=bool(opt("batch_cond_uncond")),
        skip_early_cond=float(opt("skip_early_cond")),
        s_min_uncond=s_min,
        s_min_uncond_all=bool(opt("s_min_uncond_all")),
        total_calls=info.total_model_calls(len(sigmas) - 1),
        integer_timesteps=on_timesteps and info.algorithm != "unipc",
    )
    if s_min > 0:
        extras["NGMS"] = s_min

    seeds = run.noise.seeds
    brownian = (
        BrownianNoise(x, full_sigmas, seeds, run.noise.source)
        if info.options.get("brownian_noise") and seeds is not None
        else None
    )
    stepper = make_stepper(info.algorithm, denoiser, sigmas, _noise_drawer(run.noise.draw), params, brownian)
    x = _loop(stepper, denoiser, x, sampling, hooks, run.control, run.model_switch)
    if denoiser.skipped_early_cond:
        extras["Skip Early CFG"] = denoiser.skip_early_cond
    if on_timesteps and not sampling.interrupted and float(sampling.sigmas[-1]) > 0:
        x = x / math.sqrt(1.0 + float(sampling.sigmas[-1]) ** 2)  # the variance-preserving latents at t = 0
    if sampling.latent_mask is not None and init_latent is not None:  # None: a setup hook took the blend over
        mask = sampling.latent_mask.to(x)
        x = init_latent.to(x) * (1 - mask) + x * mask
    sampling.x = x
    hooks.run(HookPoint.AFTER_LOOP, sampling)
    return DenoiseResult(sampling.x, extras, sampling.interrupted)


def _walk_sigmas(
    info: SamplerInfo,
    choice: SamplerChoice,
    schedule_key: str,
    img2img: Img2ImgInput | None,
    model_sigmas: ModelSigmas,
    is_sdxl: bool,
    opt: Options,
    extras: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(the sigmas the loop walks, the whole schedule, whether the run ends at timestep t = 0 as A1111's
    timestep samplers do), for txt2img or for the img2img strength."""
    steps = choice.steps
    is_img2img = img2img is not None
    denoising_strength = img2img.denoising_strength if img2img is not None else 1.0
    total, t_enc = (
        img2img_steps(steps, denoising_strength, bool(opt("img2img_fix_steps", False)))
        if is_img2img
        else (steps, steps - 1)
    )
    if total < 1:
        raise SamplerError(f"Nothing to sample: {steps} steps at denoising strength {denoising_strength}")
    sigmas = _build_schedule(info, schedule_key, total, model_sigmas, opt, is_sdxl, extras)
    full_sigmas = sigmas  # A1111 spans the Brownian tree over the whole schedule, also for img2img
    # A1111's timestep samplers walk the DDIM timesteps down to t = 0 (not sigma 0) and return the latents
    # there as they are; img2img starts at the t_enc-th timestep and runs t_enc steps
    on_timesteps = info.algorithm in TIMESTEP_ALGORITHMS and schedule_key == "ddim"
    if on_timesteps:
        sigmas = torch.cat([sigmas[:-1], torch.tensor([model_sigmas.sigma_min], dtype=sigmas.dtype)])
    unipc = info.algorithm == "unipc" and find_schedule(choice.schedule).name == "automatic"
    if unipc:  # A1111's UniPC ignores the schedule type: its own time-uniform steps down to t = 0
        on_timesteps = True
        table = len(model_sigmas.sigmas)
        stride = max(table // total, 1)  # as many steps as A1111's DDIM timesteps (one more if total
        if is_img2img:  # does not divide 1000); img2img: from the t_enc-th DDIM timestep, t_enc steps
            count = max(t_enc, 1)
            sigmas = unipc_time_uniform(count, model_sigmas, start=(count - 1) * stride + 1)
        else:
            sigmas = unipc_time_uniform(len(range(0, table, stride)), model_sigmas)
    elif is_img2img:  # timestep samplers: the t_enc lowest timesteps (there may be one more than steps)
        sigmas = sigmas[len(sigmas) - 1 - t_enc :] if on_timesteps else sigmas[total - t_enc - 1 :]
    return sigmas, full_sigmas, on_timesteps


def _start_latents(
    noise: torch.Tensor,
    sigma_max: float,
    init_latent: torch.Tensor | None,
    info: SamplerInfo,
    opt: Options,
    extras: dict[str, Any],
) -> torch.Tensor:
    """The latents at the first sigma: init + noise for img2img, else noise scaled as the sampler expects."""
    if init_latent is not None:
        x = init_latent.to(noise) + noise * sigma_max
        extra_noise = float(opt("img2img_extra_noise", 0.0))
        if extra_noise > 0:
            extras["Extra noise"] = extra_noise
            x = x + noise * extra_noise
    elif info.unit_variance_start or opt("sgm_noise_multiplier"):
        if not info.unit_variance_start:
            extras["SGM noise multiplier"] = True
        x = noise * math.sqrt(1.0 + sigma_max**2)
    else:
        x = noise * sigma_max
    return x


def _noise_drawer(draw: NoiseFn | None) -> Noise:
    """The steppers' ``noise(like)``: the caller's per-image seeded noise, else torch's global generator."""

    def draw_noise(like: torch.Tensor) -> torch.Tensor:
        if draw is None:
            return torch.randn_like(like)
        return draw(like.shape).to(like.device, like.dtype)

    return draw_noise


def _loop(
    stepper: Stepper,
    denoiser: CFGDenoiser,
    x: torch.Tensor,
    sampling: SamplingContext,
    hooks: HookRegistry,
    control: LoopControl,
    model_switch: ModelSwitchFn | None,
) -> torch.Tensor:
    """The loop itself: hooks around each step, progress, tqdm and the stop check between steps."""
    total = stepper.total_steps
    progress, should_stop = control.progress, control.should_stop
    step = 0
    bar = tqdm(total=total, desc=sampling.sampler.name, disable=not control.console_progress, leave=False)
    with torch.no_grad(), bar:
        while not stepper.finished(step):
            if model_switch is not None:
                swap = model_switch(step, total)
                if swap is not None:
                    denoiser.use_model(swap)
                    model_switch = None
            sigma, sigma_next = stepper.sigma_pair(step)
            context = StepContext(sampling, step, total, sigma, sigma_next, x)
            hooks.run(HookPoint.BEFORE_STEP, context)
            denoiser.begin_step(step, total)
            x, denoised = stepper.step(step, context.x)
            context.x, context.denoised = x, denoised
            hooks.run(HookPoint.AFTER_STEP, context)
            x = context.x
            step += 1
            bar.update(1)
            if progress is not None:
                progress(step, max(total, step), denoised)
            if should_stop is not None and not stepper.finished(step) and should_stop():
                log.info("Sampling stopped after step %d of %d", step, total)
                sampling.interrupted = True
                return denoised
    return x


def _build_schedule(
    info: SamplerInfo,
    schedule_key: str,
    steps: int,
    model_sigmas: ModelSigmas,
    opt: Options,
    is_sdxl: bool,
    extras: dict[str, Any],
) -> torch.Tensor:
    discard = info.discard_next_to_last_sigma
    if opt("always_discard_next_to_last_sigma") and not discard:
        discard = True
        extras["Discard penultimate sigma"] = True
    overrides: dict[str, float] = {}
    if schedule_key not in ("uniform", "simple", "ddim", "align_your_steps"):
        for key, label in (("sigma_min", "Schedule min sigma"), ("sigma_max", "Schedule max sigma")):
            value = float(opt(key))
            if value:
                overrides[key] = extras[label] = value
    if schedule_key in ("karras", "polyexponential") and float(opt("rho")):
        overrides["rho"] = extras["Schedule rho"] = float(opt("rho"))
    alpha, beta = float(opt("beta_dist_alpha")), float(opt("beta_dist_beta"))
    if schedule_key == "beta":
        extras["Beta schedule alpha"], extras["Beta schedule beta"] = alpha, beta
    sigmas = build_sigmas(
        schedule_key,
        steps + (1 if discard else 0),
        model_sigmas,
        is_sdxl=is_sdxl,
        beta_alpha=alpha,
        beta_beta=beta,
        **overrides,
    )
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def _sampler_params(info: SamplerInfo, choice: SamplerChoice, opt: Options, extras: dict[str, Any]) -> SamplerParams:
    """The sampler parameters that apply to ``info``, with A1111's infotext keys for non-default values."""
    values: dict[str, Any] = {
        "unipc_variant": str(opt("uni_pc_variant")),
        "unipc_order": int(opt("uni_pc_order")),
        "unipc_lower_order_final": bool(opt("uni_pc_lower_order_final")),
    }
    if values["unipc_variant"] not in ("bh1", "bh2"):
        log.warning("UniPC variant %r is not supported; using bh1", values["unipc_variant"])
        values["unipc_variant"] = "bh1"
    if "eta" in info.params:
        default_eta = 0.0 if info.eta_setting == "eta_ddim" else 1.0
        values["eta"] = float(opt(info.eta_setting) if choice.eta is None else choice.eta)
        if values["eta"] != default_eta:
            extras["Eta DDIM" if info.eta_setting == "eta_ddim" else "Eta"] = values["eta"]
    else:
        values["eta"] = 0.0 if info.algorithm in ("ddim", "ddim_cfgpp") else 1.0
    given = {"s_churn": choice.s_churn, "s_tmin": choice.s_tmin, "s_tmax": choice.s_tmax, "s_noise": choice.s_noise}
    labels = {"s_churn": "Sigma churn", "s_tmin": "Sigma tmin", "s_tmax": "Sigma tmax", "s_noise": "Sigma noise"}
    for key, label in labels.items():
        if key not in info.params:
            continue
        value = float(opt(key) if given[key] is None else given[key])
        if value != sampler_options.DEFAULTS[key]:
            extras[label] = value
        values[key] = math.inf if key == "s_tmax" and value == 0 else value
    return SamplerParams(**values)
