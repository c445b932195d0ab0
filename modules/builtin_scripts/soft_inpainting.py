"""Soft inpainting (img2img, inpaint modes): A1111 1.10's built-in extension as a built-in always-on script.

With it on, the latent mask keeps the blurred mask's soft values; at every denoiser call the original latents
are blended in through that mask raised to a power that follows the noise level, instead of the hard blend;
after sampling, the picture is composited over the original through a mask made from how much each part
changed (``_soft_inpainting``). API: ``alwayson_scripts: {"soft inpainting": {"args": [enabled, schedule
bias, preservation strength, transition contrast boost, mask influence, difference threshold, difference
contrast]}}`` (A1111's order). The infotext gets "Soft inpainting enabled" and one key per slider.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
from PIL import Image, ImageFilter

from modules import scripts
from modules.builtin_scripts._soft_inpainting import (
    SoftInpaintingSettings,
    composite_mask,
    latent_blend,
    modified_keep_weight,
)
from modules.images import ops
from modules.processing.hooks import HookPoint
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)

ENABLED_LABEL = "Soft inpainting"
ENABLED_INFOTEXT = "Soft inpainting enabled"
ENABLED_ELEM_ID = "soft_inpainting_enabled"


@dataclasses.dataclass(frozen=True)
class Slider:
    field: str  # SoftInpaintingSettings attribute, also the elem_id (A1111's)
    label: str
    infotext: str
    minimum: float
    maximum: float
    step: float
    info: str


# A1111's labels, infotext keys, ranges and order (the API's args after "enabled"); defaults from the settings.
SLIDERS = (
    Slider(
        "mask_blend_power",
        "Schedule bias",
        "Soft inpainting schedule bias",
        0,
        8,
        0.1,
        "When in the denoising the original is kept: higher keeps it more in the early steps.",
    ),
    Slider(
        "mask_blend_scale",
        "Preservation strength",
        "Soft inpainting preservation strength",
        0,
        8,
        0.05,
        "How strongly partly masked areas keep the original.",
    ),
    Slider(
        "inpaint_detail_preservation",
        "Transition contrast boost",
        "Soft inpainting transition contrast boost",
        1,
        32,
        0.5,
        "Restores the contrast a blend of the two would lose in partly masked areas.",
    ),
    Slider(
        "composite_mask_influence",
        "Mask influence",
        "Soft inpainting mask influence",
        0,
        1,
        0.05,
        "How much the mask moves the difference threshold.",
    ),
    Slider(
        "composite_difference_threshold",
        "Difference threshold",
        "Soft inpainting difference threshold",
        0,
        8,
        0.25,
        "How much an area may change and still show the original pixels.",
    ),
    Slider(
        "composite_difference_contrast",
        "Difference contrast",
        "Soft inpainting difference contrast",
        0,
        8,
        0.25,
        "How sharp the step between original and new pixels is.",
    ),
)


def settings_from_args(args: tuple[Any, ...]) -> SoftInpaintingSettings:
    """The settings from the six slider values (after "enabled"); InvalidParams names a bad one."""
    values = {}
    for slider, value in zip(SLIDERS, args, strict=False):
        try:
            values[slider.field] = float(value)
        except (TypeError, ValueError):
            raise InvalidParams(f"Soft inpainting: {slider.label} must be a number, got {value!r}") from None
    settings = SoftInpaintingSettings(**values)
    if settings.inpaint_detail_preservation <= 0:
        raise InvalidParams(
            f"Soft inpainting: Transition contrast boost must be above 0, got {settings.inpaint_detail_preservation}"
        )
    return settings


def add_infotext(extra: dict[str, Any], args: tuple[Any, ...]) -> None:
    """A1111's infotext keys, the values as the request gave them."""
    extra[ENABLED_INFOTEXT] = True
    for slider, value in zip(SLIDERS, args, strict=False):
        extra[slider.infotext] = value


class SoftInpaintingRun:
    """One job's soft inpainting: denoise-loop hooks that blend the original latents in through the soft mask,
    and the composite masks computed from the finished batch's latents."""

    def __init__(self, settings: SoftInpaintingSettings) -> None:
        self.settings = settings
        self.repaint_mask: torch.Tensor | None = None  # [B or 1, 1, h, w], 1 = repaint
        self.init_latent: torch.Tensor | None = None
        self.sigma = 0.0
        self.composites: list[Any] = []  # per image of the batch: latent-size uint8 masks

    def attach(self, hooks: Any) -> None:
        """The one place this script meets the denoise loop's hook points."""
        hooks.add(HookPoint.SETUP, self.take_over_blending, name="soft_inpainting")
        hooks.add(HookPoint.CFG_DENOISER, self.note_sigma, name="soft_inpainting")
        hooks.add(HookPoint.AFTER_CFG, self.blend, name="soft_inpainting", order=-1000)  # before other after_cfg hooks

    def take_over_blending(self, sampling: Any) -> None:
        self.repaint_mask, self.init_latent = sampling.latent_mask, sampling.init_latent
        self.composites = []
        if self.repaint_mask is not None:
            sampling.latent_mask = None  # the loop leaves the blending to ``blend``

    def note_sigma(self, params: Any) -> None:
        self.sigma = float(params.sigma[0])

    def blend(self, params: Any) -> None:
        if self.repaint_mask is None or self.init_latent is None:
            return
        x = params.x
        weight = modified_keep_weight(self.repaint_mask.to(x), self.sigma, self.settings)
        detail = self.settings.inpaint_detail_preservation
        params.x = latent_blend(self.init_latent.to(x), x, weight, detail)

    def finish_batch(self, samples: torch.Tensor) -> None:
        if self.repaint_mask is not None and self.init_latent is not None:
            self.composites = composite_mask(self.init_latent, samples, self.repaint_mask, self.settings)

    def overlay(self, index: int, original: Image.Image, size: tuple[int, int], paste_to: Any) -> Image.Image | None:
        """The original picture, opaque where the batch's image ``index`` barely changed (None: no mask)."""
        if index >= len(self.composites):
            return None
        width, height = size
        mask = ops.resize_image(2, Image.fromarray(self.composites[index], "L"), width, height)
        mask = mask.filter(ImageFilter.GaussianBlur(radius=4))
        if paste_to is not None:
            mask = ops.uncrop(mask, original.size, paste_to).convert("L")
        return ops.create_overlay(original, mask)  # the original, opaque where the mask is black


def _original(p: Any, index: int) -> Image.Image:
    """Init image ``index`` of the batch as the overlay shows it: flattened, resized unless "Only masked"."""
    params = p.params
    sources = list(params.init_images)
    image = ops.flatten(sources[index % len(sources)])
    if p.paste_to is None and params.resize_mode != 3:
        image = ops.resize_image(params.resize_mode, image, p.width, p.height)
    return image


class SoftInpainting(scripts.Script):
    section = "inpaint"

    def title(self) -> str:
        return "Soft Inpainting"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible if is_img2img else False

    def ui(self, is_img2img: bool) -> list[Any]:
        from modules.builtin_scripts._soft_inpainting_ui import build_panel

        enabled, sliders, self.infotext_fields = build_panel(SLIDERS, SoftInpaintingSettings())
        self.paste_field_names = [ENABLED_INFOTEXT, *(slider.infotext for slider in SLIDERS)]
        return [enabled, *sliders]

    def process(self, p: Any, enabled: Any = False, *values: Any) -> None:
        if not enabled or p.params.mask is None:
            return
        run = SoftInpaintingRun(settings_from_args(values))
        p.mask_round = False
        add_infotext(p.extra_generation_params, values)
        run.attach(p.hooks)
        p._soft_inpainting = run  # this job's run, for post_sample / postprocess_maskoverlay

    def post_sample(self, p: Any, ps: Any, *args: Any) -> None:
        run = getattr(p, "_soft_inpainting", None)
        if run is not None:
            run.finish_batch(ps.samples)

    def postprocess_maskoverlay(self, p: Any, ppmo: Any, *args: Any) -> None:
        run = getattr(p, "_soft_inpainting", None)
        if run is None or ppmo.overlay_image is None:
            return
        overlay = run.overlay(ppmo.index, _original(p, ppmo.index), (p.width, p.height), p.paste_to)
        if overlay is not None:
            ppmo.overlay_image = overlay
