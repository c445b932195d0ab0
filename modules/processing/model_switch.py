"""Refiner and Hires checkpoint: another checkpoint takes over inside the same job.

A1111 swaps the loaded model in the middle of a job (without writing the choice to the settings): the refiner
at the first step where ``step / total_steps >= switch_at``, the hires checkpoint before the second pass. The
latents continue; the prompts are encoded again with the new model's text encoders. The next job loads the
model named in the settings again (``pipeline._model_for``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modules.models.errors import ModelLoadError
from modules.processing.cfg_denoiser import ModelSwap
from modules.processing.params import InvalidParams
from modules.processing.state import ProcessingState

if TYPE_CHECKING:
    from modules.processing.host import ProcessingHost

log = logging.getLogger(__name__)

SAME_CHECKPOINT = "Use same checkpoint"
NO_REFINER = ("", "None", "none")
# A1111's "Hires fix: which pass to enable refiner for" (setting hires_fix_refiner_pass)
REFINER_PASSES = ("first pass", "second pass", "both passes")


def refiner_wanted(name: str | None) -> bool:
    """Whether a ``refiner_checkpoint`` value names a refiner at all ("None" and "" do not).

    >>> refiner_wanted("None"), refiner_wanted(None), refiner_wanted("x [abc]")
    (False, False, True)
    """
    return name is not None and name not in NO_REFINER


def hires_checkpoint_wanted(name: str | None) -> bool:
    """Whether an ``hr_checkpoint_name`` asks for another model ("Use same checkpoint" does not)."""
    return bool(name) and name != SAME_CHECKPOINT


def should_switch(step: int, total: int, switch_at: float | None) -> bool:
    """A1111's test before a denoiser step: the completed fraction has reached ``switch_at`` (None: at once).

    >>> [should_switch(s, 4, 0.5) for s in range(4)]
    [False, False, True, True]
    """
    return switch_at is None or step / max(total, 1) >= switch_at


def refiner_in_pass(option: str, hires_enabled: bool, is_hr_pass: bool) -> bool:
    """Whether the refiner may switch in this pass, per the ``hires_fix_refiner_pass`` setting.

    >>> refiner_in_pass("second pass", False, False), refiner_in_pass("second pass", True, False)
    (True, False)
    """
    if not hires_enabled:
        return True
    if option == "first pass":
        return not is_hr_pass
    if option == "second pass":
        return is_hr_pass
    return True


def find_checkpoint(backend: ProcessingHost, name: str, field: str) -> Any:
    """The checkpoint ``name`` (title, name or hash) names; InvalidParams naming ``field`` when none does."""
    models = backend.require_models()
    info = models.find_checkpoint(name)
    if info is None:
        models.refresh()
        info = models.find_checkpoint(name)
    if info is None:
        raise InvalidParams(f"{field}: checkpoint {name!r} not found; choose one of the listed checkpoints")
    return info


def short_title(backend: ProcessingHost, info: Any) -> str:
    """A1111's ``short_title`` of a checkpoint: the file name without extension and the short hash."""
    digest = backend.require_models().hash_of(info)
    return f"{info.path.stem} [{digest[:10]}]" if digest else info.path.stem


def switch_to(backend: ProcessingHost, p: ProcessingState, info: Any) -> Any:
    """Load ``info`` for the rest of this job (not remembered as the selected checkpoint); ``p.model`` follows."""
    models = backend.require_models()
    if _same_file(p.model, info):
        return p.model
    p.job.update(textinfo=f"Loading {info.title}")
    try:
        model = models.load(info, remember=False)
    except ModelLoadError as error:
        raise InvalidParams(f"Could not switch to {info.title}: {error}") from error
    models.use_vae(model, p.settings.get("sd_vae"), strict=False)
    if p.networks is not None:  # the prompt's LoRAs and hypernetworks act on the new model too, as in A1111
        p.networks.apply(model)
    p.model = model
    return model


def _same_file(model: Any, info: Any) -> bool:
    checkpoint = getattr(model, "checkpoint", None)
    return checkpoint is not None and checkpoint.path.resolve() == info.path.resolve()


def use_hires_checkpoint(backend: ProcessingHost, p: ProcessingState) -> Any:
    """Switch to the hires checkpoint when one is asked for; the model the second pass runs on."""
    name = p.params.hr_checkpoint_name
    if not hires_checkpoint_wanted(name):
        return p.model
    return switch_to(backend, p, find_checkpoint(backend, str(name), "hr_checkpoint_name"))


def record_hires_checkpoint(backend: ProcessingHost, p: ProcessingState) -> None:
    name = p.params.hr_checkpoint_name
    if hires_checkpoint_wanted(name):
        info = find_checkpoint(backend, str(name), "hr_checkpoint_name")
        p.extra_generation_params["Hires checkpoint"] = short_title(backend, info)


def refiner_switch(
    backend: ProcessingHost,
    p: ProcessingState,
    *,
    is_hr_pass: bool,
    make_swap: Callable[[Any], ModelSwap],
) -> Callable[[int, int], ModelSwap | None] | None:
    """The denoise loop's ``model_switch`` for this pass, or None when no refiner applies to it.

    ``make_swap(model)`` builds the new UNet call inputs (conditioning, SDXL time ids) for the loaded model.
    """
    params = p.params
    if not refiner_wanted(params.refiner_checkpoint):
        return None
    hires_enabled = params.enable_hr and not params.is_img2img
    option = str(p.settings.get("hires_fix_refiner_pass"))
    if not refiner_in_pass(option, hires_enabled, is_hr_pass):
        return None
    info = find_checkpoint(backend, str(params.refiner_checkpoint), "refiner_checkpoint")
    if _same_file(p.model, info):
        return None
    switch_at = params.refiner_switch_at

    def switch(step: int, total: int) -> ModelSwap | None:
        if not should_switch(step, total, switch_at) or _same_file(p.model, info):
            return None
        extra = p.extra_generation_params
        if hires_enabled and option != "second pass":
            extra["Hires refiner"] = option
        extra["Refiner"] = short_title(backend, info)
        extra["Refiner switch at"] = switch_at
        log.info("Switching to the refiner %s at step %d of %d", info.title, step, total)
        return make_swap(switch_to(backend, p, info))

    return switch
