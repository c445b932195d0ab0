"""The one denoise loop: every sampler, txt2img, img2img and inpainting run through ``sample``.

``CFGDenoiser`` turns a diffusers UNet into k-diffusion's ``model(x, sigma) -> denoised``: it batches the
cond and uncond rows (AND composition, prompt editing through the ``CondProvider``), calls ``unet(**kwargs)``
with hooks around every call, converts eps / v predictions, combines them with the CFG scale and blends an
inpainting mask. ``sample`` builds the sigmas, the starting latents and the stepper, then walks the steps,
calling the hook points, the progress callback and the interrupt check between steps.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from modules.models.sd_model import Conditioning
from modules.processing import sampler_options
from modules.processing.brownian import BrownianNoise
from modules.processing.hooks import (
    AfterCFGParams,
    CFGDenoisedParams,
    CFGDenoiserParams,
    CondProvider,
    HookRegistry,
    SamplingContext,
    StepContext,
    UNetCallContext,
)
from modules.processing.k_samplers import SamplerParams
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

NoiseFn = Callable[[torch.Size], torch.Tensor]
TIMESTEP_ALGORITHMS = ("ddim", "ddim_cfgpp", "plms")  # A1111's sd_samplers_timesteps (UniPC runs its own)
ProgressFn = Callable[[int, int, torch.Tensor], None]


@dataclasses.dataclass
class ModelSwap:
    """What the loop needs to continue on another model (the refiner): its UNet and the prompts encoded by its
    text encoders; SDXL models also need their time ids."""

    unet: Any
    conds: CondProvider
    prediction_type: str = "epsilon"
    add_time_ids: torch.Tensor | None = None
    negative_add_time_ids: torch.Tensor | None = None


ModelSwitchFn = Callable[[int, int], "ModelSwap | None"]


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


class CFGDenoiser:
    """``model(x, sigma) -> denoised`` for the steppers: CFG over a diffusers UNet, with hooks."""

    def __init__(
        self,
        unet: Any,
        model_sigmas: ModelSigmas,
        conds: CondProvider,
        hooks: HookRegistry,
        sampling: SamplingContext,
        *,
        prediction_type: str,
        lcm: bool = False,
        add_time_ids: torch.Tensor | None = None,
        negative_add_time_ids: torch.Tensor | None = None,
        batch_cond_uncond: bool = True,
        skip_early_cond: float = 0.0,
        s_min_uncond: float = 0.0,
        s_min_uncond_all: bool = False,
        total_calls: int = 1,
    ) -> None:
        self.unet, self.model_sigmas, self.conds, self.hooks = unet, model_sigmas, conds, hooks
        self.sampling = sampling
        self.prediction_type, self.lcm = prediction_type, lcm
        self.add_time_ids, self.negative_add_time_ids = add_time_ids, negative_add_time_ids
        self.batch_cond_uncond, self.skip_early_cond = batch_cond_uncond, skip_early_cond
        self.s_min_uncond, self.s_min_uncond_all, self.total_calls = s_min_uncond, s_min_uncond_all, total_calls
        self.call_index = 0  # A1111's CFGDenoiser.step: counts denoiser calls, drives prompt editing
        self.sampling_step, self.total_steps = 0, 1  # set by the loop
        self.cfg_scale_multiplier = 1.0  # DDIM CFG++ sets 1/12.5
        self.need_uncond = False  # DDIM CFG++ needs the uncond prediction every call
        self.last_uncond_denoised: torch.Tensor | None = None
        self.skipped_early_cond = False
        self.integer_timesteps = False

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        cond, weights = self.conds.cond(self.call_index)
        uncond = self.conds.uncond(self.call_index)
        batch, sampling = x.shape[0], self.sampling
        row_images = [0] * cond.crossattn.shape[0]
        for image, parts in enumerate(weights):
            for row, _ in parts:
                row_images[row] = image
        image_cond = sampling.image_conditioning
        params = CFGDenoiserParams(
            x=torch.cat([x[row_images], x]),
            image_cond=None if image_cond is None else torch.cat([image_cond[row_images], image_cond]),
            sigma=torch.full((len(row_images) + batch,), sigma, device=x.device, dtype=torch.float32),
            sampling_step=self.sampling_step,
            total_sampling_steps=self.total_steps,
            text_cond=cond,
            text_uncond=uncond,
            call_index=self.call_index,
            sampling=sampling,
        )
        self.hooks.run("cfg_denoiser", params)
        scale = sampling.cfg_scale * self.cfg_scale_multiplier
        skip = self._skip_uncond(sigma, scale, weights)
        x_out = self._run_unet(params, len(row_images), row_images, skip)
        if skip:  # the uncond rows stand in with each image's first cond prediction, as A1111 does
            x_out = torch.cat([x_out, x_out[[parts[0][0] for parts in weights]]])
            scale = 1.0
        denoised_params = CFGDenoisedParams(x_out, self.sampling_step, self.total_steps, sampling)
        self.hooks.run("cfg_denoised", denoised_params)
        x_out = denoised_params.x
        uncond_out = x_out[-batch:]
        self.last_uncond_denoised = uncond_out
        denoised = uncond_out.clone()
        for image, parts in enumerate(weights):
            for row, weight in parts:
                denoised[image] += (x_out[row] - uncond_out[image]) * (weight * scale)
        if sampling.latent_mask is not None:
            mask = sampling.latent_mask.to(denoised)
            denoised = sampling.init_latent.to(denoised) * (1 - mask) + denoised * mask
        after = AfterCFGParams(denoised, self.sampling_step, self.total_steps, sampling)
        self.hooks.run("after_cfg", after)
        self.call_index += 1
        return after.x

    def use_model(self, swap: ModelSwap) -> None:
        """Continue on another model from the next call; the step count and prompt schedule carry on."""
        self.unet, self.conds, self.prediction_type = swap.unet, swap.conds, swap.prediction_type
        self.add_time_ids, self.negative_add_time_ids = swap.add_time_ids, swap.negative_add_time_ids

    @staticmethod
    def _trivial_cfg(scale: float, weights: list[list[tuple[int, float]]]) -> bool:
        """CFG scale 1 with one weight-1 prompt per image: the uncond prediction cancels out."""
        return scale == 1.0 and all(len(parts) == 1 and parts[0][1] == 1.0 for parts in weights)

    def _skip_uncond(self, sigma: float, scale: float, weights: list[list[tuple[int, float]]]) -> bool:
        if self.need_uncond:
            return False
        if self.skip_early_cond and self.call_index / max(self.total_calls, 1) <= self.skip_early_cond:
            self.skipped_early_cond = True
            return True
        if (self.call_index % 2 or self.s_min_uncond_all) and self.s_min_uncond > 0 and sigma < self.s_min_uncond:
            return True
        return self._trivial_cfg(scale, weights)

    def _run_unet(self, params: CFGDenoiserParams, n_cond: int, row_images: list[int], skip: bool) -> torch.Tensor:
        batch = params.x.shape[0] - n_cond
        cond, uncond = params.text_cond, params.text_uncond
        same_length = cond.crossattn.shape[1] == uncond.crossattn.shape[1]
        rows = list(range(n_cond if skip else n_cond + batch))
        if same_length and self.batch_cond_uncond and not skip:
            groups = [rows]
        else:
            chunk = n_cond if self.batch_cond_uncond else batch
            groups = [rows[a : a + chunk] for a in range(0, n_cond, chunk)]
            if not skip:
                groups += [rows[n_cond + a : n_cond + a + batch] for a in range(0, batch, batch)]
        outputs = [self._call(params, group, n_cond, row_images) for group in groups]
        return torch.cat(outputs)

    def _call(self, params: CFGDenoiserParams, rows: list[int], n_cond: int, row_images: list[int]) -> torch.Tensor:
        """One ``unet(**kwargs)`` call for the given rows of the denoiser batch."""
        x, sigma = params.x[rows], params.sigma[rows]
        images = [row_images[r] if r < n_cond else r - n_cond for r in rows]
        is_uncond = [r >= n_cond for r in rows]
        crossattn = _rows(params.text_cond, params.text_uncond, rows, n_cond, "crossattn")
        c_in = (sigma**2 + 1) ** -0.5
        sample = x * c_in[:, None, None, None]
        if params.image_cond is not None:
            sample = torch.cat([sample, params.image_cond[rows]], dim=1)
        timestep = self.model_sigmas.model_timestep(sigma.cpu()).to(x.device)
        if self.integer_timesteps:  # A1111's timestep samplers call the UNet with the table's integer steps
            timestep = timestep.round()
        dtype = self.unet.dtype
        kwargs: dict[str, Any] = {
            "sample": sample.to(dtype),
            "timestep": timestep,
            "encoder_hidden_states": crossattn.to(x.device, dtype),
        }
        if self.add_time_ids is not None:
            pooled = _rows(params.text_cond, params.text_uncond, rows, n_cond, "pooled")
            negative = self.negative_add_time_ids if self.negative_add_time_ids is not None else self.add_time_ids
            tables = [negative if u else self.add_time_ids for u in is_uncond]
            time_ids = torch.stack([table[i % len(table)] for i, table in zip(images, tables, strict=True)])
            kwargs["added_cond_kwargs"] = {
                "text_embeds": pooled.to(x.device, dtype),
                "time_ids": time_ids.to(x.device, dtype),
            }
        context = UNetCallContext(
            self.sampling,
            self.sampling_step,
            self.total_steps,
            self.call_index,
            sigma,
            timestep,
            kwargs,
            images,
            is_uncond,
        )
        self.hooks.run("before_unet", context)
        context.output = self.unet(**context.kwargs, return_dict=False)[0]
        self.hooks.run("after_unet", context)
        return self._to_denoised(x, sigma, timestep, context.output.to(x.dtype))

    def _to_denoised(
        self, x: torch.Tensor, sigma: torch.Tensor, timestep: torch.Tensor, output: torch.Tensor
    ) -> torch.Tensor:
        sigma = sigma[:, None, None, None]
        if self.prediction_type == "v_prediction":
            denoised = x / (sigma**2 + 1) - output * sigma / (sigma**2 + 1) ** 0.5
        elif self.prediction_type == "sample":
            denoised = output
        else:
            denoised = x - output * sigma
        if self.lcm:  # LCM boundary condition on the scaled timestep (sigma_data 0.5)
            scaled = timestep.to(x.device, x.dtype)[:, None, None, None] * 10.0
            c_skip, c_out = 0.25 / (scaled**2 + 0.25), scaled / (scaled**2 + 0.25) ** 0.5
            denoised = c_out * denoised + c_skip * x
        return denoised


def _rows(cond: Conditioning, uncond: Conditioning, rows: list[int], n_cond: int, field: str) -> torch.Tensor:
    parts = [getattr(cond, field)[r] if r < n_cond else getattr(uncond, field)[r - n_cond] for r in rows]
    if any(part is None for part in parts):
        raise SamplerError(f"The conditioning has no {field!r}, which this model needs")
    return torch.stack(parts)


def img2img_steps(steps: int, strength: float, fix_steps: bool) -> tuple[int, int]:
    """(schedule length, t_enc) as A1111's setup_img2img_steps: the loop runs the last t_enc + 1 steps."""
    strength = min(strength, 0.999)
    if fix_steps:
        return (int(steps / strength) if strength > 0 else 0), steps - 1
    return steps, int(strength * steps)


def sample(
    unet: Any,
    noise: torch.Tensor,
    conds: CondProvider,
    sampler: SamplerInfo | str,
    schedule: str | None = "Automatic",
    steps: int = 20,
    cfg_scale: float = 7.0,
    scheduler_config: Mapping[str, Any] | None = None,
    *,
    hooks: HookRegistry | None = None,
    init_latent: torch.Tensor | None = None,
    denoising_strength: float = 1.0,
    latent_mask: torch.Tensor | None = None,
    image_conditioning: torch.Tensor | None = None,
    add_time_ids: torch.Tensor | None = None,
    negative_add_time_ids: torch.Tensor | None = None,
    noise_fn: NoiseFn | None = None,
    noise_seeds: Sequence[int] | None = None,
    noise_source: str = "CPU",
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: Any = None,
    eta: float | None = None,
    s_churn: float | None = None,
    s_tmin: float | None = None,
    s_tmax: float | None = None,
    s_noise: float | None = None,
    s_min_uncond: float | None = None,
    extra_generation_params: dict[str, Any] | None = None,
    console_progress: bool = True,
    model_switch: ModelSwitchFn | None = None,
) -> torch.Tensor:
    """Denoise ``noise`` (unit normal latents, [B, 4, h, w]) into latents; see the module docstring.

    img2img: pass ``init_latent`` and ``denoising_strength``; the run starts from init + noise at the sigma
    A1111 picks. ``latent_mask`` (1 = repaint) keeps the rest of ``init_latent`` after every denoiser call and
    at the end. ``image_conditioning`` ([B, 5, h, w]: mask, masked-image latents) is concatenated to the UNet
    input for 9-channel inpainting models. SDXL UNets need ``add_time_ids`` ([B or 1, 6]) and pooled
    embeddings in the conditionings. ``noise_fn(shape)`` supplies the per-image seeded noise of ancestral and
    SDE steps; with ``noise_seeds`` (one per image) the SDE samplers draw from per-image Brownian trees as A1111
    does (``noise_source``: the "RNG" setting). ``should_stop()`` is checked after every step; when it is true
    the loop ends and returns the last denoised estimate. ``extra_generation_params`` (if given) receives
    A1111's extra infotext keys. ``model_switch(step, total)`` is asked before each step and may return a
    ``ModelSwap`` (the refiner) that the rest of the loop runs on.
    """
    info = find_sampler(sampler) if isinstance(sampler, str) else sampler
    hooks = hooks or HookRegistry()
    opt = Options(settings)
    extras = extra_generation_params if extra_generation_params is not None else {}
    config = dict(scheduler_config or {})
    model_sigmas = ModelSigmas.from_config(config, opt("sd_noise_schedule") == "Zero Terminal SNR")
    if info.algorithm == "lcm":
        model_sigmas = model_sigmas.lcm_grid()
    is_sdxl = getattr(getattr(unet, "config", None), "addition_embed_type", None) == "text_time"
    if is_sdxl and add_time_ids is None:
        raise SamplerError("This UNet is SDXL-style (text_time embedding): add_time_ids are required")
    schedule_key = automatic_schedule_name(info, schedule)

    is_img2img = init_latent is not None
    if latent_mask is not None and not is_img2img:
        raise SamplerError("latent_mask needs init_latent: the masked-out region is kept from it")
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
    unipc = info.algorithm == "unipc" and find_schedule(schedule).name == "automatic"
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

    sampling = SamplingContext(
        info,
        schedule_key,
        steps,
        cfg_scale,
        sigmas,
        noise.shape[0],
        is_img2img,
        is_sdxl,
        init_latent=init_latent,
        latent_mask=latent_mask,
        image_conditioning=image_conditioning,
        settings=settings,
    )
    hooks.run("setup", sampling)
    sigmas = sampling.sigmas
    noise = noise.to(torch.float32)
    if is_img2img:
        x = init_latent.to(noise) + noise * float(sigmas[0])
        extra_noise = float(opt("img2img_extra_noise", 0.0))
        if extra_noise > 0:
            extras["Extra noise"] = extra_noise
            x = x + noise * extra_noise
    elif info.unit_variance_start or opt("sgm_noise_multiplier"):
        if not info.unit_variance_start:
            extras["SGM noise multiplier"] = True
        x = noise * math.sqrt(1.0 + float(sigmas[0]) ** 2)
    else:
        x = noise * float(sigmas[0])
    sampling.x = x
    hooks.run("before_loop", sampling)
    x = sampling.x

    params = _sampler_params(info, eta, s_churn, s_tmin, s_tmax, s_noise, opt, extras)
    s_min = float(opt("s_min_uncond") if s_min_uncond is None else s_min_uncond)
    denoiser = CFGDenoiser(
        unet,
        model_sigmas,
        conds,
        hooks,
        sampling,
        prediction_type=config.get("prediction_type", "epsilon"),
        lcm=info.algorithm == "lcm",
        add_time_ids=add_time_ids if is_sdxl else None,
        negative_add_time_ids=negative_add_time_ids,
        batch_cond_uncond=bool(opt("batch_cond_uncond")),
        skip_early_cond=float(opt("skip_early_cond")),
        s_min_uncond=s_min,
        s_min_uncond_all=bool(opt("s_min_uncond_all")),
        total_calls=info.total_model_calls(len(sigmas) - 1),
    )
    denoiser.integer_timesteps = on_timesteps and info.algorithm != "unipc"
    if s_min > 0:
        extras["NGMS"] = s_min

    def draw_noise(like: torch.Tensor) -> torch.Tensor:
        if noise_fn is None:
            return torch.randn_like(like)
        return noise_fn(like.shape).to(like.device, like.dtype)

    stepper = make_stepper(info.algorithm, denoiser, sigmas, draw_noise, params)
    if info.options.get("brownian_noise") and noise_seeds is not None:
        stepper.brownian = BrownianNoise(x, full_sigmas, noise_seeds, noise_source)
    denoiser.total_steps = stepper.total_steps
    x = _loop(stepper, denoiser, x, sampling, hooks, progress, should_stop, console_progress, model_switch)
    if denoiser.skipped_early_cond:
        extras["Skip Early CFG"] = denoiser.skip_early_cond
    if on_timesteps and not sampling.interrupted and float(sampling.sigmas[-1]) > 0:
        x = x / math.sqrt(1.0 + float(sampling.sigmas[-1]) ** 2)  # the variance-preserving latents at t = 0
    if sampling.latent_mask is not None and init_latent is not None:  # None: a setup hook took the blend over
        mask = sampling.latent_mask.to(x)
        x = init_latent.to(x) * (1 - mask) + x * mask
    sampling.x = x
    hooks.run("after_loop", sampling)
    return sampling.x


def _loop(
    stepper: Any,
    denoiser: CFGDenoiser,
    x: torch.Tensor,
    sampling: SamplingContext,
    hooks: HookRegistry,
    progress: ProgressFn | None,
    should_stop: Callable[[], bool] | None,
    console: bool,
    model_switch: ModelSwitchFn | None = None,
) -> torch.Tensor:
    """The loop itself: hooks around each step, progress, tqdm and the stop check between steps."""
    total = stepper.total_steps
    step = 0
    with torch.no_grad(), tqdm(total=total, desc=sampling.sampler.name, disable=not console, leave=False) as bar:
        while not stepper.finished(step):
            if model_switch is not None:
                swap = model_switch(step, total)
                if swap is not None:
                    denoiser.use_model(swap)
                    model_switch = None
            sigma, sigma_next = stepper.sigma_pair(step)
            context = StepContext(sampling, step, total, sigma, sigma_next, x)
            hooks.run("before_step", context)
            denoiser.sampling_step = step
            x, denoised = stepper.step(step, context.x)
            context.x, context.denoised = x, denoised
            hooks.run("after_step", context)
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


def _sampler_params(
    info: SamplerInfo,
    eta: float | None,
    s_churn: float | None,
    s_tmin: float | None,
    s_tmax: float | None,
    s_noise: float | None,
    opt: Options,
    extras: dict[str, Any],
) -> SamplerParams:
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
        values["eta"] = float(opt(info.eta_setting) if eta is None else eta)
        if values["eta"] != default_eta:
            extras["Eta DDIM" if info.eta_setting == "eta_ddim" else "Eta"] = values["eta"]
    else:
        values["eta"] = 0.0 if info.algorithm in ("ddim", "ddim_cfgpp") else 1.0
    given = {"s_churn": s_churn, "s_tmin": s_tmin, "s_tmax": s_tmax, "s_noise": s_noise}
    labels = {"s_churn": "Sigma churn", "s_tmin": "Sigma tmin", "s_tmax": "Sigma tmax", "s_noise": "Sigma noise"}
    for key, label in labels.items():
        if key not in info.params:
            continue
        value = float(opt(key) if given[key] is None else given[key])
        if value != sampler_options.DEFAULTS[key]:
            extras[label] = value
        values[key] = math.inf if key == "s_tmax" and value == 0 else value
    return SamplerParams(**values)
