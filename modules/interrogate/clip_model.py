"""CLIP ViT-L/14 image/text embeddings (the ranking half of A1111's "Interrogate CLIP") from a user-placed file.

A1111 calls ``clip.load("ViT-L/14", download_root=--clip-models-path)``, which reads OpenAI's ``ViT-L-14.pt``
(a TorchScript archive). Accepted here, in ``models/CLIP`` (``--clip-models-path``): that archive (read by
``torchscript.read_tensors``, no code run), or a ``.safetensors`` / ``.bin`` / ``.pt`` state dict in OpenAI or
open_clip key layout (``visual.*``, ``transformer.*``) or transformers' ``CLIPModel`` layout (``vision_model.*``,
``text_model.*``). OpenAI keys become ``CLIPModel`` keys by ``to_transformers_keys`` (pure); sizes come from
the shapes. Text is tokenised by the project's offline CLIP tokenizer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from modules.models.errors import ModelLoadError

log = logging.getLogger(__name__)

PREFERRED_FILES = ("ViT-L-14.pt", "ViT-L-14.safetensors", "model.safetensors", "open_clip_pytorch_model.bin")
SUFFIXES = (".pt", ".safetensors", ".bin", ".pth")
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT = 77
HEAD_WIDTH = 64

_BLOCK_RENAMES = (
    ("ln_1.", "layer_norm1."),
    ("ln_2.", "layer_norm2."),
    ("attn.out_proj.", "self_attn.out_proj."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
)
_RENAMES = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}


def find_file(folder: Path) -> Path | None:
    """The CLIP file in ``folder``: a preferred name first, else the only/first weights file there."""
    for name in PREFERRED_FILES:
        if (folder / name).is_file():
            return folder / name
    if folder.is_dir():
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        if found:
            return found[0]
    return None


def to_transformers_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI/open_clip CLIP keys -> ``CLIPModel`` keys; fused attention projections split in three,
    projection matrices transposed. A state already in ``CLIPModel`` layout is returned as it is."""
    if any(key.startswith("text_model.") for key in state):
        return {k: v for k, v in state.items() if not k.endswith("position_ids")}
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key in _RENAMES:
            out[_RENAMES[key]] = value
            continue
        if key == "visual.proj":
            out["visual_projection.weight"] = value.t().contiguous()
            continue
        if key == "text_projection":
            out["text_projection.weight"] = value.t().contiguous()
            continue
        found = re.match(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$", key)
        if not found:
            continue
        tower = "vision_model" if found.group(1) else "text_model"
        prefix, rest = f"{tower}.encoder.layers.{found.group(2)}.", found.group(3)
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = rest.rsplit("_", 1)[1]
            for part, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                out[f"{prefix}self_attn.{part}_proj.{kind}"] = chunk.contiguous()
            continue
        for old, new in _BLOCK_RENAMES:
            if rest.startswith(old):
                out[prefix + new + rest[len(old) :]] = value
                break
    return out


def _count(state: Mapping[str, Any], tower: str) -> int:
    found = {int(m.group(1)) for key in state if (m := re.match(rf"{tower}\.encoder\.layers\.(\d+)\.", key))}
    return max(found) + 1 if found else 0


def config_from_shapes(state: Mapping[str, Any]) -> Any:
    """A ``CLIPConfig`` (quick-GELU, as OpenAI's) sized by the tensors of a ``CLIPModel`` state dict."""
    from transformers import CLIPConfig

    patch = state["vision_model.embeddings.patch_embedding.weight"].shape
    positions = state["vision_model.embeddings.position_embedding.weight"].shape[0]
    width = patch[0]
    tokens = state["text_model.embeddings.token_embedding.weight"].shape
    vision = {
        "hidden_size": width,
        "intermediate_size": state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
        "num_hidden_layers": _count(state, "vision_model"),
        "num_attention_heads": max(1, width // HEAD_WIDTH),
        "patch_size": patch[-1],
        "image_size": round((positions - 1) ** 0.5) * patch[-1],
        "hidden_act": "quick_gelu",
    }
    text = {
        "vocab_size": tokens[0],
        "hidden_size": tokens[1],
        "intermediate_size": state["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
        "num_hidden_layers": _count(state, "text_model"),
        "num_attention_heads": max(1, tokens[1] // HEAD_WIDTH),
        "max_position_embeddings": state["text_model.embeddings.position_embedding.weight"].shape[0],
        "hidden_act": "quick_gelu",
    }
    projection = state["visual_projection.weight"].shape[0]
    return CLIPConfig(vision_config=vision, text_config=text, projection_dim=projection)


def read_state(path: Path) -> dict[str, Any]:
    """Tensors of the CLIP file, whatever of the accepted formats it is, read without running code."""
    import torch

    from modules.interrogate.torchscript import is_torchscript, read_tensors
    from modules.models.statedict import load_pickle, unwrap_state_dict

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if is_torchscript(path):
        return read_tensors(path)
    data = load_pickle(path, mmap=False)
    state = unwrap_state_dict(data)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def build_model(path: Path) -> Any:
    """``CLIPModel`` with the file's weights, float32, eval mode."""
    import torch
    from transformers import CLIPModel

    state = to_transformers_keys(read_state(path))
    try:
        config = config_from_shapes(state)
    except (KeyError, IndexError) as error:
        raise ModelLoadError(path, f"is not a CLIP model (missing {error})") from error
    with torch.device("meta"):
        model = CLIPModel(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing, _unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise ModelLoadError(path, f"is not a CLIP model (no {missing[0]})")
    for name, buffer in list(model.named_buffers()):
        if buffer.is_meta:
            owner, attribute = name.rsplit(".", 1)
            setattr(model.get_submodule(owner), attribute, torch.arange(buffer.shape[-1]).expand(buffer.shape).clone())
    return model.eval()


def pixels(image: Image.Image, size: int) -> Any:
    """OpenAI CLIP's preprocessing: bicubic resize of the short side, centre crop, mean/std; (1, 3, S, S)."""
    import numpy as np
    import torch

    image = image.convert("RGB")
    scale = size / min(image.size)
    resized = image.resize(
        (max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.Resampling.BICUBIC
    )
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    array = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / 255
    array = (array - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def image_features(model: Any, image: Image.Image) -> Any:
    """Unit-length image embedding, (1, D)."""
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        values = pixels(image, model.config.vision_config.image_size).to(device)
        pooled = model.vision_model(pixel_values=values).pooler_output
        features = model.visual_projection(pooled)
    return features / features.norm(dim=-1, keepdim=True)


def text_features(model: Any, texts: list[str], batch: int = 256) -> Any:
    """Unit-length text embeddings, (N, D); each text cut to CLIP's 77 tokens as ``clip.tokenize(truncate=True)``."""
    import torch

    from modules.models.tokenizer import clip_tokenizer

    tokenizer = clip_tokenizer()
    context = min(CONTEXT, model.config.text_config.max_position_embeddings)
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            encoded = tokenizer(
                texts[start : start + batch],
                padding="max_length",
                truncation=True,
                max_length=context,
                return_tensors="pt",
            )
            ids, mask = encoded.input_ids.to(device), encoded.attention_mask.to(device)
            pooled = model.text_model(input_ids=ids, attention_mask=mask).pooler_output
            parts.append(model.text_projection(pooled).cpu())
    features = torch.cat(parts)
    return features / features.norm(dim=-1, keepdim=True)
