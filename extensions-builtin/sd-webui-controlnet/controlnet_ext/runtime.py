"""Applying ControlNet during sampling: a ``before_unet`` hook that adds the units' residuals.

For every UNet call of the denoise loop, each active unit whose [guidance start, guidance end) range holds
the current step runs its ``ControlNetModel`` on the call's latents, timestep and text conditioning with the
unit's hint image (fitted to the latent size, so the hires-fix pass gets a hint at its own size) and adds the
down/mid residuals it returns, scaled by the unit's weight, to the call's keyword arguments. Control modes
follow A1111's extension: "My prompt is more important" fades the residuals from the middle block outwards
(scale ``0.825 ** (last - i)``); "ControlNet is more important" does the same and keeps the control out of
the negative (uncond) rows.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from controlnet_ext.imageops import fit_to, to_control_tensor

log = logging.getLogger(__name__)

SOFT_DECAY = 0.825


@dataclasses.dataclass
class PreparedUnit:
    """One unit ready to run: its model, detected map and how strongly/when it applies."""

    index: int
    model: Any  # diffusers ControlNetModel
    detected: np.ndarray  # the preprocessed map (any size; fitted per call size)
    weight: float
    guidance_start: float
    guidance_end: float
    control_mode: str
    resize_mode: str
    line_map: bool
    hr_option: str = "Both"
    calls: int = 0  # how many UNet calls it took part in (tests, logging)
    _hints: dict[tuple[int, int, int], Any] = dataclasses.field(default_factory=dict)

    def active_at(self, step: int, total: int) -> bool:
        """True while ``step / total`` is in [start, end); an end of 1 includes the last step."""
        fraction = step / max(1, total)
        return self.guidance_start <= fraction and (fraction < self.guidance_end or self.guidance_end >= 1.0)

    def hint(self, height: int, width: int, rows: int, device: Any, dtype: Any) -> Any:
        key = (height, width, rows)
        if key not in self._hints:
            fitted = fit_to(self.detected, width, height, self.resize_mode, fill_black=self.line_map)
            self._hints = {key: to_control_tensor(fitted, rows, device, dtype)}  # one size at a time
        return self._hints[key]


def scales(count: int, weight: float, soft: bool) -> list[float]:
    """Per-residual weights, down blocks first and the middle block last.

    >>> [round(s, 3) for s in scales(3, 1.0, True)]
    [0.681, 0.825, 1.0]
    """
    if not soft:
        return [weight] * count
    return [weight * SOFT_DECAY ** float(count - 1 - i) for i in range(count)]


class ControlNetHook:
    """The ``before_unet`` hook of one generation; holds its prepared units."""

    def __init__(self, units: list[PreparedUnit], is_hires: Any = None) -> None:
        self.units = units
        self.is_hires = is_hires  # callable(height, width) -> bool: this call belongs to the hires pass

    def __call__(self, context: Any) -> None:
        import torch

        kwargs = context.kwargs
        sample = kwargs["sample"]
        rows, _, latent_h, latent_w = sample.shape
        down_total, mid_total = None, None
        for unit in self.units:
            if not unit.active_at(context.step, context.total_steps) or not self._pass_allowed(
                unit, latent_h, latent_w
            ):
                continue
            model = unit.model
            dtype = next(model.parameters()).dtype
            device = sample.device
            hint = unit.hint(latent_h * 8, latent_w * 8, rows, device, dtype)
            extra = {}
            if kwargs.get("added_cond_kwargs") is not None and model.config.addition_embed_type == "text_time":
                extra["added_cond_kwargs"] = {k: v.to(dtype) for k, v in kwargs["added_cond_kwargs"].items()}
            with torch.no_grad():
                down, mid = model(
                    sample[:, : model.config.in_channels].to(dtype),
                    kwargs["timestep"],
                    encoder_hidden_states=kwargs["encoder_hidden_states"].to(dtype),
                    controlnet_cond=hint,
                    conditioning_scale=1.0,
                    return_dict=False,
                    **extra,
                )
            unit.calls += 1
            soft = unit.control_mode != "Balanced"
            weights = scales(len(down) + 1, unit.weight, soft)
            row_mask = None
            if unit.control_mode == "ControlNet is more important":
                row_mask = torch.tensor(
                    [0.0 if u else 1.0 for u in context.row_is_uncond], device=device, dtype=sample.dtype
                )[:, None, None, None]
            # strict=False: the last weight is the middle block's
            down = [self._scaled(r, w, row_mask, sample.dtype) for r, w in zip(down, weights, strict=False)]
            mid = self._scaled(mid, weights[-1], row_mask, sample.dtype)
            down_total = down if down_total is None else [a + b for a, b in zip(down_total, down, strict=True)]
            mid_total = mid if mid_total is None else mid_total + mid
        if down_total is None:
            return
        existing = kwargs.get("down_block_additional_residuals")
        if existing is not None:
            down_total = [a + b for a, b in zip(existing, down_total, strict=True)]
            mid_total = kwargs["mid_block_additional_residual"] + mid_total
        kwargs["down_block_additional_residuals"] = down_total
        kwargs["mid_block_additional_residual"] = mid_total

    def _pass_allowed(self, unit: PreparedUnit, latent_h: int, latent_w: int) -> bool:
        if unit.hr_option == "Both" or self.is_hires is None:
            return True
        hires = self.is_hires(latent_h, latent_w)
        return hires if unit.hr_option == "High res only" else not hires

    @staticmethod
    def _scaled(residual: Any, weight: float, row_mask: Any, dtype: Any) -> Any:
        residual = residual.to(dtype) * weight
        return residual * row_mask if row_mask is not None else residual
