"""BLIP captioning (the first half of A1111's "Interrogate CLIP") from Salesforce's released checkpoint.

A1111 builds Salesforce's own ``blip_decoder(vit='base')`` from ``models/BLIP/model_base_caption_capfilt_large.pth``.
Here the same weights go into transformers' ``BlipForConditionalGeneration``: the BERT text decoder already has
Salesforce's key names, only the ViT encoder is renamed (``to_transformers_keys``, a pure function). Widths,
depths and the image size are read from the tensor shapes, so small test files take the same path as the real
one. The tokenizer is bert-base-uncased's WordPiece vocabulary shipped in ``data/`` (Apache-2.0, Google BERT)
plus BLIP's two added tokens ``[DEC]`` and ``[ENC]``; nothing is downloaded.
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

MODEL_FILE = "model_base_caption_capfilt_large.pth"
VOCAB_FILE = Path(__file__).parent / "data" / "bert-base-uncased-vocab.txt"
PROMPT = "a picture of "  # blip_decoder's default prompt; the caption is what follows it
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_WIDTH = 64  # ViT-B/16 and BERT-base both use 64-wide attention heads

_VISION_RENAMES = (
    (r"^visual_encoder\.cls_token$", "vision_model.embeddings.class_embedding"),
    (r"^visual_encoder\.pos_embed$", "vision_model.embeddings.position_embedding"),
    (r"^visual_encoder\.patch_embed\.proj\.", "vision_model.embeddings.patch_embedding."),
    (r"^visual_encoder\.norm\.", "vision_model.post_layernorm."),
    (r"^visual_encoder\.blocks\.(\d+)\.norm1\.", r"vision_model.encoder.layers.\1.layer_norm1."),
    (r"^visual_encoder\.blocks\.(\d+)\.norm2\.", r"vision_model.encoder.layers.\1.layer_norm2."),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.qkv\.", r"vision_model.encoder.layers.\1.self_attn.qkv."),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.proj\.", r"vision_model.encoder.layers.\1.self_attn.projection."),
    (r"^visual_encoder\.blocks\.(\d+)\.mlp\.(fc\d)\.", r"vision_model.encoder.layers.\1.mlp.\2."),
)


def to_transformers_keys(state: Mapping[str, Any]) -> dict[str, Any]:
    """Salesforce ``blip_decoder`` keys -> ``BlipForConditionalGeneration`` keys (values untouched).

    Keys of neither the ViT nor the text decoder (e.g. ``position_ids`` buffers) are dropped."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("text_decoder."):
            if not key.endswith("position_ids"):
                out[key] = value
            continue
        for pattern, replacement in _VISION_RENAMES:
            new, count = re.subn(pattern, replacement, key)
            if count:
                out[new] = value
                break
    return out


def _count(state: Mapping[str, Any], pattern: str) -> int:
    found = {int(m.group(1)) for key in state if (m := re.match(pattern, key))}
    return max(found) + 1 if found else 0


def config_from_shapes(state: Mapping[str, Any]) -> Any:
    """A ``BlipConfig`` whose sizes match the tensors of a (renamed) BLIP state dict."""
    from transformers import BlipConfig

    position = state["vision_model.embeddings.position_embedding"].shape
    patch = state["vision_model.embeddings.patch_embedding.weight"].shape
    width = position[-1]
    grid = round((position[1] - 1) ** 0.5)
    words = state["text_decoder.bert.embeddings.word_embeddings.weight"].shape
    text_width = words[1]
    vision = {
        "hidden_size": width,
        "intermediate_size": state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
        "num_hidden_layers": _count(state, r"vision_model\.encoder\.layers\.(\d+)\."),
        "num_attention_heads": max(1, width // HEAD_WIDTH),
        "patch_size": patch[-1],
        "image_size": grid * patch[-1],
        "layer_norm_eps": 1e-6,
    }
    prefix = "text_decoder.bert.encoder.layer.0."
    text = {
        "vocab_size": words[0],
        "hidden_size": text_width,
        "encoder_hidden_size": state[prefix + "crossattention.self.key.weight"].shape[1],
        "intermediate_size": state[prefix + "intermediate.dense.weight"].shape[0],
        "num_hidden_layers": _count(state, r"text_decoder\.bert\.encoder\.layer\.(\d+)\."),
        "num_attention_heads": max(1, text_width // HEAD_WIDTH),
        "max_position_embeddings": state["text_decoder.bert.embeddings.position_embeddings.weight"].shape[0],
        "layer_norm_eps": 1e-12,
        "bos_token_id": 30522,
        "sep_token_id": 102,
        "pad_token_id": 0,
        "eos_token_id": 102,
    }
    return BlipConfig(vision_config=vision, text_config=text, projection_dim=width)


def bert_tokenizer() -> Any:
    """bert-base-uncased WordPiece plus BLIP's ``[DEC]`` (id 30522, the decoder's BOS) and ``[ENC]``."""
    from transformers import BertTokenizer

    words = VOCAB_FILE.read_text(encoding="utf-8").split("\n")[:-1]
    tokenizer = BertTokenizer(vocab={word: index for index, word in enumerate(words)}, do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    if tokenizer.bos_token_id != 30522:
        raise RuntimeError(f"{VOCAB_FILE.name}: [DEC] got id {tokenizer.bos_token_id}, BLIP expects 30522")
    return tokenizer


def read_state(path: Path) -> dict[str, Any]:
    """The tensors of a BLIP checkpoint (``{"model": state}`` or a bare state dict), read without running code."""
    import torch

    from modules.models.statedict import load_pickle

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        data: Any = load_file(str(path))
    else:
        data = load_pickle(path, mmap=False)
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict):
        raise ModelLoadError(path, "is not a BLIP checkpoint (no state dict in it)")
    return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def build_model(path: Path) -> Any:
    """``BlipForConditionalGeneration`` with the weights of a Salesforce BLIP caption checkpoint (eval mode)."""
    import torch
    from transformers import BlipForConditionalGeneration

    state = {k: v.float() if v.is_floating_point() else v for k, v in to_transformers_keys(read_state(path)).items()}
    try:
        config = config_from_shapes(state)
    except (KeyError, IndexError) as error:
        raise ModelLoadError(path, f"is not a BLIP caption checkpoint (missing {error})") from error
    with torch.device("meta"):
        model = BlipForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise ModelLoadError(path, f"is not a BLIP caption checkpoint (no {missing[0]})")
    model.tie_weights()
    for name, buffer in list(model.named_buffers()):
        if buffer.is_meta:  # position_ids: not stored in the file
            owner = model.get_submodule(name.rsplit(".", 1)[0])
            setattr(owner, name.rsplit(".", 1)[1], torch.arange(buffer.shape[-1]).expand(buffer.shape).clone())
    log.debug("BLIP %s: %d unexpected keys ignored", path.name, len(unexpected))
    return model.eval()


def pixels(image: Image.Image, size: int) -> Any:
    """A1111's BLIP input: bicubic resize to size x size, CLIP mean/std normalisation, (1, 3, H, W)."""
    import numpy as np
    import torch

    array = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    array = (array - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def caption(model: Any, tokenizer: Any, image: Image.Image, *, num_beams: int, min_length: int, max_length: int) -> str:
    """Beam-search caption (no sampling), without the ``a picture of`` prompt, as A1111's generate_caption."""
    import torch

    size = model.config.vision_config.image_size
    prompt = tokenizer(PROMPT, return_tensors="pt").input_ids
    weight = next(model.parameters())
    with torch.no_grad():
        tokens = model.generate(
            pixel_values=pixels(image, size).to(weight.device, weight.dtype),
            input_ids=prompt.to(weight.device),
            num_beams=max(1, int(num_beams)),
            do_sample=False,
            min_length=int(min_length),
            max_length=max(int(max_length), prompt.shape[1] + 1),
            repetition_penalty=1.0,
        )
    text = tokenizer.decode(tokens[0], skip_special_tokens=True)
    return text[len(PROMPT.strip()) :].strip() if text.startswith(PROMPT.strip()) else text.strip()
