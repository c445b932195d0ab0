"""Hook points of the denoise loop, their typed contexts, and the registry that holds one job's hooks.

The loop in ``denoise`` calls the hooks registered on a ``HookRegistry`` at the fixed ``HookPoint``s. Each hook
receives one context object and may change its mutable fields (the UNet call's ``kwargs``, the latents, the
prediction); that is how ControlNet adds residuals and how A1111-style ``on_cfg_denoiser`` callbacks change
the conditioning. Registries are passed in per job: there are no global hooks.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # heavy imports stay out of start-up
    import torch

    from modules.models.sd_model import Conditioning
    from modules.processing.samplers import SamplerInfo

log = logging.getLogger(__name__)


class HookPoint(enum.Enum):
    """The points of the loop where hooks run, in the order the loop reaches them.

    CFG_DENOISER / CFG_DENOISED / AFTER_CFG are A1111's on_cfg_denoiser / on_cfg_denoised / on_cfg_after_cfg;
    BEFORE_UNET / AFTER_UNET wrap every UNet call. The values are the names extensions may pass as strings.
    """

    SETUP = "setup"
    BEFORE_LOOP = "before_loop"
    BEFORE_STEP = "before_step"
    CFG_DENOISER = "cfg_denoiser"
    BEFORE_UNET = "before_unet"
    AFTER_UNET = "after_unet"
    CFG_DENOISED = "cfg_denoised"
    AFTER_CFG = "after_cfg"
    AFTER_STEP = "after_step"
    AFTER_LOOP = "after_loop"

    @classmethod
    def named(cls, point: HookPoint | str) -> HookPoint:
        """The member for ``point``; a string (the form extension code may use) must be one of the values."""
        if isinstance(point, cls):
            return point
        try:
            return cls(point)
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(f"Unknown hook point {point!r}; valid points: {valid}") from None


CondWeights = list[list[tuple[int, float]]]  # per image: (row in the cond batch, weight) for each AND part


class CondProvider(Protocol):
    """Gives the text conditioning for one denoiser call; ``step`` is the call index (A1111's ``step``).

    ``cond`` returns every sub-prompt of every image as one batch plus, per image, which rows belong to it
    and with which weight (``AND`` composition); ``uncond`` returns one row per image.
    """

    def cond(self, step: int) -> tuple[Conditioning, CondWeights]: ...

    def uncond(self, step: int) -> Conditioning: ...


@dataclasses.dataclass
class StaticCondProvider:
    """The simplest provider: fixed conditionings; one row per image with weight 1 unless ``weights`` says."""

    cond_batch: Conditioning
    uncond_batch: Conditioning
    weights: CondWeights | None = None

    def cond(self, step: int) -> tuple[Conditioning, CondWeights]:
        weights = self.weights or [[(row, 1.0)] for row in range(self.cond_batch.crossattn.shape[0])]
        return self.cond_batch, weights

    def uncond(self, step: int) -> Conditioning:
        return self.uncond_batch


@dataclasses.dataclass
class SamplingContext:
    """One sampling run; seen by setup / before_loop / after_loop and linked from every other context.

    Setup hooks may replace ``sigmas``, and ``latent_mask``: None there means the hook blends the original
    latents in itself (soft inpainting does, at after_cfg) and the loop blends nothing, after a call or at the
    end. ``x`` holds the latents from before_loop on. ``state`` is free space for hooks to keep per-run data.
    """

    sampler: SamplerInfo
    schedule: str  # the concrete schedule key ("karras", "uniform"...)
    steps: int  # the requested steps
    cfg_scale: float
    sigmas: torch.Tensor  # the sigmas the loop walks (after img2img truncation)
    batch_size: int
    is_img2img: bool = False
    is_sdxl: bool = False
    x: torch.Tensor | None = None
    init_latent: torch.Tensor | None = None
    latent_mask: torch.Tensor | None = None  # 1 = repaint, 0 = keep init_latent
    image_conditioning: torch.Tensor | None = None
    settings: Any = None
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    interrupted: bool = False


@dataclasses.dataclass
class StepContext:
    """before_step / after_step: ``denoised`` is set after the step; hooks may replace ``x``."""

    sampling: SamplingContext
    step: int
    total_steps: int
    sigma: float
    sigma_next: float
    x: torch.Tensor
    denoised: torch.Tensor | None = None


@dataclasses.dataclass
class CFGDenoiserParams:
    """cfg_denoiser (A1111 ``on_cfg_denoiser``): before the UNet calls of one denoiser evaluation.

    ``x``/``image_cond``/``sigma`` have one row per cond row followed by one per uncond row. Hooks may replace
    any field, ``text_cond`` and ``text_uncond`` included (same row counts).
    """

    x: torch.Tensor
    image_cond: torch.Tensor | None
    sigma: torch.Tensor
    sampling_step: int
    total_sampling_steps: int
    text_cond: Conditioning
    text_uncond: Conditioning
    call_index: int = 0
    sampling: SamplingContext | None = None


@dataclasses.dataclass
class UNetCallContext:
    """before_unet / after_unet: one ``unet(**kwargs)`` call.

    ``kwargs`` holds sample, timestep, encoder_hidden_states and, for SDXL, added_cond_kwargs; a before_unet
    hook may change them or add ``down_block_additional_residuals`` / ``mid_block_additional_residual``.
    ``row_images[r]`` is the image index of row r and ``row_is_uncond[r]`` whether it is a negative row.
    ``output`` is the raw prediction (eps or v) after the call; an after_unet hook may replace it.
    """

    sampling: SamplingContext
    step: int
    total_steps: int
    call_index: int
    sigma: torch.Tensor  # per row
    timestep: torch.Tensor  # per row
    kwargs: dict[str, Any]
    row_images: list[int]
    row_is_uncond: list[bool]
    output: torch.Tensor | None = None


@dataclasses.dataclass
class CFGDenoisedParams:
    """cfg_denoised (A1111 ``on_cfg_denoised``): every row's denoised prediction before CFG combination."""

    x: torch.Tensor
    sampling_step: int
    total_sampling_steps: int
    sampling: SamplingContext | None = None


@dataclasses.dataclass
class AfterCFGParams:
    """after_cfg (A1111 ``on_cfg_after_cfg``): the combined (and mask-blended) denoised latents."""

    x: torch.Tensor
    sampling_step: int
    total_sampling_steps: int
    sampling: SamplingContext | None = None


@dataclasses.dataclass(frozen=True)
class HookHandle:
    point: HookPoint
    name: str
    order: float
    serial: int
    fn: Callable[[Any], None]


class HookRegistry:
    """Named, ordered hooks for one job. Lower ``order`` runs first; equal orders run in registration order.

    With ``isolate_errors`` a hook that raises is logged and removed, and the run goes on (for extension
    hooks); otherwise the exception propagates and the generation fails with it.
    """

    def __init__(self, isolate_errors: bool = False) -> None:
        self.isolate_errors = isolate_errors
        self._hooks: dict[HookPoint, list[HookHandle]] = {point: [] for point in HookPoint}
        self._serial = itertools.count()

    def add(
        self, point: HookPoint, fn: Callable[[Any], None], *, name: str | None = None, order: float = 0
    ) -> HookHandle:
        """Register ``fn`` at ``point``; a point given as a string is converted (``HookPoint.named``)."""
        point = HookPoint.named(point)
        handle = HookHandle(point, name or getattr(fn, "__qualname__", repr(fn)), order, next(self._serial), fn)
        self._hooks[point].append(handle)
        self._hooks[point].sort(key=lambda item: (item.order, item.serial))
        return handle

    def remove(self, handle_or_name: HookHandle | str) -> int:
        """Remove one handle, or every hook with that name; returns how many were removed."""
        removed = 0
        for point, handles in self._hooks.items():
            keep = [h for h in handles if not (h == handle_or_name or h.name == handle_or_name)]
            removed += len(handles) - len(keep)
            self._hooks[point] = keep
        return removed

    def has(self, point: HookPoint) -> bool:
        return bool(self._hooks[HookPoint.named(point)])

    def names(self, point: HookPoint) -> list[str]:
        return [handle.name for handle in self._hooks[HookPoint.named(point)]]

    def run(self, point: HookPoint, context: Any) -> None:
        for handle in list(self._hooks[point]):
            if not self.isolate_errors:
                handle.fn(context)
                continue
            try:
                handle.fn(context)
            except Exception:
                log.exception("Hook %r at %s failed; it is disabled for the rest of this run", handle.name, point.value)
                self.remove(handle)

    # A1111 script_callbacks-shaped adapters
    def on_cfg_denoiser(
        self, fn: Callable[[CFGDenoiserParams], None], *, name: str | None = None, order: float = 0
    ) -> HookHandle:
        return self.add(HookPoint.CFG_DENOISER, fn, name=name, order=order)

    def on_cfg_denoised(
        self, fn: Callable[[CFGDenoisedParams], None], *, name: str | None = None, order: float = 0
    ) -> HookHandle:
        return self.add(HookPoint.CFG_DENOISED, fn, name=name, order=order)

    def on_cfg_after_cfg(
        self, fn: Callable[[AfterCFGParams], None], *, name: str | None = None, order: float = 0
    ) -> HookHandle:
        return self.add(HookPoint.AFTER_CFG, fn, name=name, order=order)
