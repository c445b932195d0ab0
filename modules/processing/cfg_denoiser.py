"""``CFGDenoiser``: a diffusers UNet as k-diffusion's ``model(x, sigma) -> denoised``, with CFG and hooks.

It batches the cond and uncond rows (AND composition, prompt editing through the ``CondProvider``), calls
``unet(**kwargs)`` with hooks around every call, converts eps / v predictions, combines them with the CFG scale
and blends an inpainting mask. The loop tells it which step runs (``begin_step``) and may switch it to another
model (``use_model``); steppers only call it, DDIM CFG++ also through ``k_samplers.GuidedDenoiser``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from modules.models.sd_model import Conditioning
from modules.processing.hooks import (
    AfterCFGParams,
    CFGDenoisedParams,
    CFGDenoiserParams,
    CondProvider,
    HookPoint,
    HookRegistry,
    SamplingContext,
    UNetCallContext,
)
from modules.processing.samplers import SamplerError
from modules.processing.schedules import ModelSigmas


@dataclasses.dataclass(frozen=True)
class ModelSwap:
    """What the loop needs to continue on another model (the refiner): its UNet and the prompts encoded by its
    text encoders; SDXL models also need their time ids."""

    unet: Any
    conds: CondProvider
    prediction_type: str = "epsilon"
    add_time_ids: torch.Tensor | None = None
    negative_add_time_ids: torch.Tensor | None = None


ModelSwitchFn = Callable[[int, int], "ModelSwap | None"]  # (step, total) -> a model to continue on


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
        integer_timesteps: bool = False,
    ) -> None:
        self.unet, self.model_sigmas, self.conds, self.hooks = unet, model_sigmas, conds, hooks
        self.sampling = sampling
        self.prediction_type, self.lcm = prediction_type, lcm
        self.add_time_ids, self.negative_add_time_ids = add_time_ids, negative_add_time_ids
        self.batch_cond_uncond, self.skip_early_cond = batch_cond_uncond, skip_early_cond
        self.s_min_uncond, self.s_min_uncond_all, self.total_calls = s_min_uncond, s_min_uncond_all, total_calls
        # A1111's timestep samplers call the UNet with the table's integer steps
        self.integer_timesteps = integer_timesteps
        self.call_index = 0  # A1111's CFGDenoiser.step: counts denoiser calls, drives prompt editing
        self.sampling_step, self.total_steps = 0, 1  # the loop's step, told by ``begin_step``
        self.cfg_scale_multiplier = 1.0  # DDIM CFG++ asks for 1/12.5 through ``guide``
        self.need_uncond = False  # DDIM CFG++ needs the uncond prediction every call
        self._last_uncond_denoised: torch.Tensor | None = None
        self.skipped_early_cond = False

    def begin_step(self, step: int, total_steps: int) -> None:
        """The loop is about to run ``step`` of ``total_steps``; hooks see these numbers in their contexts."""
        self.sampling_step, self.total_steps = step, total_steps

    def guide(self, scale_multiplier: float, always_uncond: bool) -> None:
        """``GuidedDenoiser``: scale the CFG scale and (optionally) never skip the uncond prediction."""
        self.cfg_scale_multiplier, self.need_uncond = scale_multiplier, always_uncond

    def uncond_denoised(self) -> torch.Tensor | None:
        """``GuidedDenoiser``: the uncond prediction of the last call."""
        return self._last_uncond_denoised

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
        self.hooks.run(HookPoint.CFG_DENOISER, params)
        scale = sampling.cfg_scale * self.cfg_scale_multiplier
        skip = self._skip_uncond(sigma, scale, weights)
        x_out = self._run_unet(params, len(row_images), row_images, skip)
        if skip:  # the uncond rows stand in with each image's first cond prediction, as A1111 does
            x_out = torch.cat([x_out, x_out[[parts[0][0] for parts in weights]]])
            scale = 1.0
        denoised_params = CFGDenoisedParams(x_out, self.sampling_step, self.total_steps, sampling)
        self.hooks.run(HookPoint.CFG_DENOISED, denoised_params)
        x_out = denoised_params.x
        uncond_out = x_out[-batch:]
        self._last_uncond_denoised = uncond_out
        denoised = uncond_out.clone()
        for image, parts in enumerate(weights):
            for row, weight in parts:
                denoised[image] += (x_out[row] - uncond_out[image]) * (weight * scale)
        if sampling.latent_mask is not None:
            mask = sampling.latent_mask.to(denoised)
            denoised = sampling.init_latent.to(denoised) * (1 - mask) + denoised * mask
        after = AfterCFGParams(denoised, self.sampling_step, self.total_steps, sampling)
        self.hooks.run(HookPoint.AFTER_CFG, after)
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
        if self.integer_timesteps:
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
        self.hooks.run(HookPoint.BEFORE_UNET, context)
        context.output = self.unet(**context.kwargs, return_dict=False)[0]
        self.hooks.run(HookPoint.AFTER_UNET, context)
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
