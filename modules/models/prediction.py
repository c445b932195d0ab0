"""Telling an SD 2.x v-prediction (768-v) checkpoint from an epsilon one, which its keys cannot show.

Order of evidence, first that applies wins:

1. A ``.yaml`` beside the checkpoint with ``parameterization: "v"`` (A1111 convention), or a ``v_pred`` marker
   key in the file (ComfyUI convention) - both handled in ``arch_config``.
2. A1111's probe (``is_using_v_parameterization_for_sd2``): run the UNet once at the last timestep (999) on a
   constant 0.5 latent with a constant 0.5 context. An epsilon model there predicts roughly its input (at
   t=999 the latent is almost all noise), a v model predicts roughly ``-x0``, far below the input; A1111 calls
   it v when ``mean(output - input) < -1``.
3. ComfyUI's statistic (``supported_models.SD20.model_type``): std of
   ``output_blocks.11.1.transformer_blocks.0.norm1.bias`` above 0.09 means v. Only full-size SD 2.x layouts
   have that block; it is computed and logged next to the probe, and a disagreement is logged as a warning.

Limits: both are heuristics tuned on the official 2.0/2.1 weights. Fine-tunes that drift far, merges of eps
and v models, and random-weight test files can be classified either way (a tiny random model gives an
arbitrary but deterministic answer, never an error); the ``.yaml`` is the reliable override. The probe costs
one UNet forward pass on an 8x8 latent. Inpainting SD 2.x models (9 channels) are always epsilon.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PROBE_THRESHOLD = -1.0
COMFY_KEY = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
COMFY_THRESHOLD = 0.09


def probe_score(unet: Any, device: torch.device, dtype: torch.dtype) -> float:
    """A1111's statistic: mean(unet(0.5, t=999, context=0.5) - 0.5) on an 8x8 latent (or larger if needed)."""
    import torch

    levels = len(unet.config.block_out_channels)
    size = max(8, 2 ** (levels - 1))
    sample = torch.full((1, unet.config.in_channels, size, size), 0.5, device=device, dtype=dtype)
    context = torch.full((1, 2, unet.config.cross_attention_dim), 0.5, device=device, dtype=dtype)
    timestep = torch.tensor([999], device=device)
    with torch.no_grad():
        output = unet(sample, timestep, encoder_hidden_states=context).sample
    score = (output.float() - sample.float()).mean().item()
    return score if score == score else 0.0  # NaN (broken weights) counts as "not v"


def comfy_statistic(tensors: Mapping[str, torch.Tensor]) -> float | None:
    """ComfyUI's statistic when the full-size key exists, else None."""
    tensor = tensors.get(COMFY_KEY)
    if tensor is None:
        return None
    return float(tensor.float().std(unbiased=False).item())


def is_v_prediction(
    unet: Any,
    device: torch.device,
    dtype: torch.dtype,
    tensors: Mapping[str, torch.Tensor] | None = None,
    name: str = "",
) -> bool:
    """Decide eps/v for an SD 2.x checkpoint (see the module docstring for the evidence and its limits)."""
    try:
        score = probe_score(unet, device, dtype)
    except RuntimeError as error:  # a UNet that cannot run at 8x8 must not make the load fail
        log.warning("%s: v-prediction probe failed (%s); assuming epsilon", name, error)
        score = 0.0
    verdict = score < PROBE_THRESHOLD
    comfy = comfy_statistic(tensors or {})
    if comfy is not None and (comfy > COMFY_THRESHOLD) != verdict:
        log.warning(
            "%s: v-prediction heuristics disagree (A1111 probe %.3f says %s, ComfyUI statistic %.3f "
            'says %s); using the probe. Put a .yaml with parameterization: "v" (or "eps") beside the '
            "checkpoint to decide.",
            name,
            score,
            "v" if verdict else "eps",
            comfy,
            "v" if comfy > COMFY_THRESHOLD else "eps",
        )
    log.info(
        "%s: SD 2.x prediction type %s (probe %.3f%s)",
        name,
        "v" if verdict else "epsilon",
        score,
        "" if comfy is None else f", ComfyUI statistic {comfy:.3f}",
    )
    return verdict
