"""Key maps from released single-file checkpoints to diffusers and transformers module names.

A conversion is computed from key names and shapes only, as a ``Plan``: for every parameter of the target
module, which source key it comes from and whether it is a row slice (OpenCLIP's fused q/k/v), a transpose
(OpenCLIP's ``text_projection``) or a reshape (1x1 conv attention weights to linear). The loader then reads
exactly the source keys a plan needs and builds each tensor as a view of what was read, so conversion never
copies weights.

UNet and VAE plans come from diffusers' ``convert_ldm_unet_checkpoint`` / ``convert_ldm_vae_checkpoint``,
run over placeholder references instead of tensors. The CLIP text-encoder maps are written out here: released
files use transformers-4.19 names (``text_model.`` level, ``position_ids`` buffer) or OpenCLIP names, while
transformers 5's ``CLIPTextModel`` has neither the level nor the buffer in its state dict.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Shapes = Mapping[str, tuple[int, ...]]
UNET = "model.diffusion_model."


@dataclasses.dataclass(frozen=True)
class Source:
    """Where one target tensor comes from."""

    key: str
    rows: tuple[int, int] | None = None  # narrow dim 0 to [start, end)
    transpose: bool = False
    shape: tuple[int, ...] | None = None  # final shape (a view: 1x1 conv weight -> linear weight)


Plan = dict[str, Source]


class _KeyRef:
    """Placeholder passed through diffusers' converters in place of a tensor: records key and shape."""

    def __init__(self, key: str, shape: tuple[int, ...]) -> None:
        self.key = key
        self.shape = tuple(shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: Any) -> _KeyRef:  # converters only squeeze trailing 1x1 dims
        return _KeyRef(self.key, self.shape[:2])


def _plan_from_refs(converted: Mapping[str, Any], shapes: Shapes) -> Plan:
    plan: Plan = {}
    for target, ref in converted.items():
        if not isinstance(ref, _KeyRef):
            raise TypeError(f"converter produced {type(ref).__name__} for {target}; diffusers changed its API")
        plan[target] = Source(ref.key, shape=ref.shape if ref.shape != tuple(shapes[ref.key]) else None)
    return plan


def unet_plan(shapes: Shapes, unet_config: Mapping[str, Any], prefix: str = UNET) -> Plan:
    """diffusers ``UNet2DConditionModel`` keys -> LDM keys (``model.diffusion_model.*``)."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    refs = {key: _KeyRef(key, shape) for key, shape in shapes.items() if key.startswith(prefix)}
    if prefix != UNET:
        refs = {UNET + key[len(prefix) :]: ref for key, ref in refs.items()}
    return _plan_from_refs(convert_ldm_unet_checkpoint(refs, dict(unet_config)), shapes)


def vae_plan(shapes: Shapes, vae_config: Mapping[str, Any], prefix: str = "first_stage_model.") -> Plan:
    """diffusers ``AutoencoderKL`` keys -> keys of an LDM-layout (or already diffusers-layout) VAE."""
    if prefix + "encoder.down_blocks.0.resnets.0.conv1.weight" in shapes:
        return {
            key[len(prefix) :]: Source(key)
            for key in shapes
            if key.startswith(prefix) and key.split(".", 1)[0] not in ("loss",)
        }
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    refs = {
        "first_stage_model." + key[len(prefix) :]: _KeyRef(key, shape)
        for key, shape in shapes.items()
        if key.startswith(prefix)
        and key[len(prefix) :].split(".", 1)[0] in ("encoder", "decoder", "quant_conv", "post_quant_conv")
    }
    return _plan_from_refs(convert_ldm_vae_checkpoint(refs, dict(vae_config)), shapes)


_OPEN_CLIP_LAYER = {
    "ln_1.": "layer_norm1.",
    "ln_2.": "layer_norm2.",
    "attn.out_proj.": "self_attn.out_proj.",
    "mlp.c_fc.": "mlp.fc1.",
    "mlp.c_proj.": "mlp.fc2.",
}


def text_plan(shapes: Shapes, encoder: Mapping[str, Any], text_model_level: bool) -> Plan:
    """transformers ``CLIPTextModel``/``...WithProjection`` keys -> checkpoint keys of one text encoder.

    ``encoder`` is a spec from ``arch_config.text_encoders_from_shapes``; ``text_model_level`` says whether
    the target module names its parameters ``text_model.*`` (transformers 5: only the projection class).
    """
    root = encoder["prefix"]
    plan: Plan = {}
    if encoder["format"] == "hf":
        for key in shapes:
            if key.startswith(root) and not key.endswith("position_ids"):
                plan[key[len(root) :]] = Source(key)
    else:
        plan["embeddings.token_embedding.weight"] = Source(root + "token_embedding.weight")
        plan["embeddings.position_embedding.weight"] = Source(root + "positional_embedding")
        plan["final_layer_norm.weight"] = Source(root + "ln_final.weight")
        plan["final_layer_norm.bias"] = Source(root + "ln_final.bias")
        pattern = re.compile(re.escape(root) + r"transformer\.resblocks\.(\d+)\.(.+)$")
        for key, shape in shapes.items():
            match = pattern.match(key)
            if not match:
                continue
            layer, rest = f"encoder.layers.{match.group(1)}.", match.group(2)
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                width = shape[0] // 3
                kind = "weight" if rest.endswith("weight") else "bias"
                for index, name in enumerate("qkv"):
                    plan[f"{layer}self_attn.{name}_proj.{kind}"] = Source(
                        key, rows=(index * width, (index + 1) * width)
                    )
                continue
            for old, new in _OPEN_CLIP_LAYER.items():
                if rest.startswith(old):
                    plan[layer + new + rest[len(old) :]] = Source(key)
                    break
    if text_model_level:
        plan = {("text_model." + k): v for k, v in plan.items()}
    if encoder.get("projection"):
        plan["text_projection.weight"] = Source(root + "text_projection", transpose=True)
    return plan


def source_keys(*plans: Plan) -> list[str]:
    """The file keys the plans read, each once."""
    return list(dict.fromkeys(source.key for plan in plans for source in plan.values()))


def materialize(plan: Plan, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Build the target state dict as views of ``tensors`` (a transpose is the only copy, and it is small)."""
    out: dict[str, torch.Tensor] = {}
    for target, source in plan.items():
        tensor = tensors[source.key]
        if source.rows is not None:
            tensor = tensor.narrow(0, source.rows[0], source.rows[1] - source.rows[0])
        if source.transpose:
            tensor = tensor.t().contiguous()
        if source.shape is not None:
            tensor = tensor.reshape(source.shape)
        out[target] = tensor
    return out


def ldm_module_names(plan: Plan, prefix: str = UNET) -> dict[str, str]:
    """LDM module path -> diffusers module path (``input_blocks.1.1.proj_in`` -> ``down_blocks.0...``)."""
    names: dict[str, str] = {}
    for target, source in plan.items():
        if source.key.startswith(prefix):
            names[source.key[len(prefix) :].rsplit(".", 1)[0]] = target.rsplit(".", 1)[0]
    return names
