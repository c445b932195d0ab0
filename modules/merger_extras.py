"""Checkpoint Merger's "Bake in VAE" and "Copy config from", as A1111 1.10 does them.

Bake in VAE replaces the merged checkpoint's ``first_stage_model.*`` weights with a VAE file's (original
LDM key layout, as A1111 expects). Copy config from puts the ``.yaml`` that lies beside A (or B, C) next to the
result, so a model needing its own config (v-prediction, inpainting) keeps it after the merge.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CONFIG_SOURCES = ("A, B or C", "B", "C", "Don't")
VAE_PREFIX = "first_stage_model."
_LDM_VAE_MARKER = "encoder.conv_in.weight"


class BakeVaeError(ValueError):
    """The chosen VAE file cannot be baked in (named with the reason)."""


def vae_tensors(path: Path, allow_unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The VAE file's weights keyed as in a checkpoint (``first_stage_model.encoder...``), loss keys left out."""
    from modules.models.statedict import open_state_dict

    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        keys = [key for key in state_file.shapes if not key.startswith("loss")]
        bare = [key.removeprefix(VAE_PREFIX) for key in keys]
        if _LDM_VAE_MARKER not in bare:
            raise BakeVaeError(f"Bake in VAE: {path.name} is not a VAE in the original (LDM) key layout")
        tensors = state_file.read(keys, lambda key: None)
    finally:
        state_file.close()
    return {VAE_PREFIX + key.removeprefix(VAE_PREFIX): tensor for key, tensor in tensors.items()}


def bake_in_vae(result: dict[str, torch.Tensor], vae: dict[str, torch.Tensor], half: bool) -> int:
    """Put ``vae`` into ``result`` (as float16 when the merge saves half); returns how many tensors."""
    for key, tensor in vae.items():
        result[key] = (tensor.half() if half and tensor.is_floating_point() else tensor).contiguous()
    return len(vae)


def config_near(checkpoint: Path | None) -> Path | None:
    """``model.yaml`` beside ``model.safetensors``, if there is one."""
    if checkpoint is None:
        return None
    candidate = Path(checkpoint).with_suffix(".yaml")
    return candidate if candidate.is_file() else None


def copy_config(source: str, result: Path, a: Path | None, b: Path | None, c: Path | None) -> Path | None:
    """Copy the chosen model's ``.yaml`` beside ``result``; returns the new file (None when there was none)."""
    if source == "A, B or C":
        config = config_near(a) or config_near(b) or config_near(c)
    elif source == "B":
        config = config_near(b)
    elif source == "C":
        config = config_near(c)
    else:
        config = None
    if config is None:
        return None
    target = result.with_suffix(".yaml")
    shutil.copyfile(config, target)
    log.info("Copied %s to %s", config, target)
    return target
