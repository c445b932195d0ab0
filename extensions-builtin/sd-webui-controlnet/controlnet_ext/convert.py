"""A ControlNet weights file -> diffusers ``ControlNetModel``, with the config inferred from tensor shapes.

Original files (``control_sd15_*.pth``, ``control_v11*``: LDM UNet key names, optionally under
``control_model.``; fp16 or fp32) are renamed with diffusers' ``convert_controlnet_checkpoint``
(``input_hint_block`` -> ``controlnet_cond_embedding``, ``zero_convs`` -> ``controlnet_down_blocks``,
``middle_block_out`` -> ``controlnet_mid_block``, UNet blocks to diffusers names), which works offline. The
config is then read from the converted shapes; head counts, which shapes do not show, come from the loaded
base UNet when the widths match (the released ControlNets copy their base model), else the released rule
(SD 1.x: 8 heads; otherwise 64 channels per head). Diffusers-format files use their ``config.json``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Shapes = Mapping[str, tuple[int, ...]]
ORIGINAL_PREFIX = "control_model."


class NotAControlNet(ValueError):
    """The file is not a ControlNet this loader understands; the message says what it looks like."""


def _indices(shapes: Shapes, pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in shapes if (m := regex.match(key))})


def classify(keys: list[str]) -> tuple[str, str]:
    """("original" | "diffusers", key prefix to strip); NotAControlNet for anything else."""
    keyset = set(keys)
    if "controlnet_cond_embedding.conv_in.weight" in keyset:
        return "diffusers", ""
    for prefix in (ORIGINAL_PREFIX, ""):
        if prefix + "input_hint_block.0.weight" in keyset:
            return "original", prefix
    if any("lora_controlnet" in key for key in keys):
        raise NotAControlNet("it is a Control-LoRA, which this build does not support")
    if any(key.startswith(("adapter.", "body.")) for key in keys):
        raise NotAControlNet("it is a T2I-Adapter, which this build does not support")
    if any(key.startswith("model.diffusion_model.") for key in keys):
        raise NotAControlNet("it is a Stable Diffusion checkpoint; put it in models/Stable-diffusion")
    raise NotAControlNet("no ControlNet hint encoder (input_hint_block / controlnet_cond_embedding) found")


def convert_original(state: dict[str, Any]) -> dict[str, Any]:
    """Original (LDM-named, prefix stripped) tensors -> diffusers ControlNetModel names."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    blocks = _indices(state, r"input_blocks\.(\d+)\.")
    levels = [i for i in blocks if f"input_blocks.{i}.0.op.weight" in state]
    layers_per_block = (blocks[-1] - len(levels)) // (len(levels) + 1) if blocks else 2
    converted = convert_controlnet_checkpoint(state, {"layers_per_block": layers_per_block})
    return {key: value for key, value in converted.items() if value is not None}


def _heads(channels: list[int], cross_dim: int, linear: bool, base: Mapping[str, Any] | None) -> Any:
    if base and list(base.get("block_out_channels", [])) == channels and base.get("attention_head_dim"):
        return base["attention_head_dim"]
    if not linear and cross_dim == 768:  # SD 1.x
        return 8
    heads = []
    for width in channels:
        count = max(1, width // 64)
        while width % count:
            count -= 1
        heads.append(count)
    return heads


def config_from_shapes(shapes: Shapes, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``ControlNetModel`` kwargs from diffusers-named shapes (``base``: the loaded UNet's config, for hints)."""
    levels = _indices(shapes, r"down_blocks\.(\d+)\.resnets\.0\.conv1\.weight")
    if not levels:
        raise NotAControlNet("no down blocks found")
    channels = [shapes[f"down_blocks.{i}.resnets.0.conv1.weight"][0] for i in levels]
    attention = [f"down_blocks.{i}.attentions.0.proj_in.weight" in shapes for i in levels]
    depths = [
        len(_indices(shapes, rf"down_blocks\.{i}\.attentions\.0\.transformer_blocks\.(\d+)\.")) or 1 for i in levels
    ]
    attn_keys = [k for k in shapes if k.endswith("attn2.to_k.weight")]
    cross_dim = shapes[attn_keys[0]][1] if attn_keys else (base or {}).get("cross_attention_dim", 768)
    proj = next((k for k in shapes if k.endswith("proj_in.weight")), None)
    linear = proj is not None and len(shapes[proj]) == 2
    cond_blocks = _indices(shapes, r"controlnet_cond_embedding\.blocks\.(\d+)\.weight")
    embedding = [shapes["controlnet_cond_embedding.conv_in.weight"][0]]
    embedding += [shapes[f"controlnet_cond_embedding.blocks.{i}.weight"][0] for i in cond_blocks if i % 2]
    config: dict[str, Any] = {
        "in_channels": shapes["conv_in.weight"][1],
        "conditioning_channels": shapes["controlnet_cond_embedding.conv_in.weight"][1],
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "block_out_channels": channels,
        "layers_per_block": len(_indices(shapes, r"down_blocks\.0\.resnets\.(\d+)\.conv1\.weight")),
        "cross_attention_dim": cross_dim,
        "transformer_layers_per_block": depths if len(set(depths)) > 1 else depths[0],
        "attention_head_dim": _heads(channels, cross_dim, linear, base),
        "use_linear_projection": linear,
        "conditioning_embedding_out_channels": embedding,
        "mid_block_type": "UNetMidBlock2DCrossAttn"
        if "mid_block.attentions.0.proj_in.weight" in shapes
        else "UNetMidBlock2D",
    }
    if "add_embedding.linear_1.weight" in shapes:  # SDXL
        config.update(
            addition_embed_type="text_time",
            projection_class_embeddings_input_dim=shapes["add_embedding.linear_1.weight"][1],
            addition_time_embed_dim=int((base or {}).get("addition_time_embed_dim") or 256),
        )
    return config


MAX_CONFIG_BYTES = 1024 * 1024  # a diffusers config.json is about 2 KB


def _read_config_sidecar(path: Path) -> dict[str, Any]:
    """The ``config.json`` beside a diffusers ControlNet: a JSON object of at most 1 MB, else NotAControlNet."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise NotAControlNet(f"{path}: larger than {MAX_CONFIG_BYTES} bytes, not a diffusers model config")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise NotAControlNet(f"{path}: not a readable JSON model config ({error})") from error
    if not isinstance(data, dict):
        raise NotAControlNet(f"{path}: not a JSON object")
    return {str(k): v for k, v in data.items() if not str(k).startswith("_")}


def load_controlnet(
    path: Path, device: Any, dtype: Any, base_config: Mapping[str, Any] | None = None, allow_unsafe_pickle: bool = False
) -> Any:
    """Build the ``ControlNetModel`` of ``path`` on ``device`` in ``dtype``; ValueError naming the file."""
    import torch
    from diffusers import ControlNetModel

    from modules.extension_api import open_state_dict

    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        kind, prefix = classify(state_file.keys())
        keys = [k for k in state_file.shapes if k.startswith(prefix)]
        tensors = state_file.read(keys, lambda key: dtype)
    except NotAControlNet as error:
        raise NotAControlNet(f"{path.name}: not a usable ControlNet model: {error}") from error
    finally:
        state_file.close()
    state = {key[len(prefix) :]: value for key, value in tensors.items()}
    if kind == "original":
        state = convert_original(state)
    config_file = path.parent / "config.json"
    if kind == "diffusers" and config_file.is_file():
        config = _read_config_sidecar(config_file)
    else:
        config = config_from_shapes({k: tuple(v.shape) for k, v in state.items()}, base_config)
    with torch.device("meta"):
        model = ControlNetModel(**config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise NotAControlNet(
            f"{path.name}: weights do not fit the inferred ControlNet layout (missing "
            f"{sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]})"
        )
    model.requires_grad_(False)
    return model.to(device).eval()  # tensors were read in ``dtype`` already
