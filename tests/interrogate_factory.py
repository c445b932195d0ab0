"""Tiny random-weight interrogation files in the released key layouts: Salesforce BLIP ``blip_decoder``
(``{"model": state}``, ViT ``visual_encoder.*`` + BERT ``text_decoder.*``) and OpenAI CLIP (``visual.*`` +
text ``transformer.*``), the latter also as a TorchScript archive like OpenAI's ``ViT-L-14.pt``."""

from __future__ import annotations

from pathlib import Path

import torch

BERT_VOCAB = 30524  # bert-base-uncased + [DEC] + [ENC]
CLIP_VOCAB = 49408


def _linear(state: dict, key: str, out: int, inp: int, bias: bool = True) -> None:
    state[f"{key}.weight"] = torch.randn(out, inp) * 0.2
    if bias:
        state[f"{key}.bias"] = torch.randn(out) * 0.02


def _norm(state: dict, key: str, width: int) -> None:
    state[f"{key}.weight"] = torch.ones(width)
    state[f"{key}.bias"] = torch.zeros(width)


def blip_state(
    width: int = 32,
    depth: int = 1,
    text_width: int = 32,
    text_depth: int = 1,
    image: int = 32,
    patch: int = 16,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    s: dict[str, torch.Tensor] = {}
    grid = image // patch
    s["visual_encoder.cls_token"] = torch.randn(1, 1, width) * 0.2
    s["visual_encoder.pos_embed"] = torch.randn(1, grid * grid + 1, width) * 0.2
    s["visual_encoder.patch_embed.proj.weight"] = torch.randn(width, 3, patch, patch) * 0.05
    s["visual_encoder.patch_embed.proj.bias"] = torch.zeros(width)
    for n in range(depth):
        b = f"visual_encoder.blocks.{n}"
        _norm(s, f"{b}.norm1", width)
        _linear(s, f"{b}.attn.qkv", 3 * width, width)
        _linear(s, f"{b}.attn.proj", width, width)
        _norm(s, f"{b}.norm2", width)
        _linear(s, f"{b}.mlp.fc1", 4 * width, width)
        _linear(s, f"{b}.mlp.fc2", width, 4 * width)
    _norm(s, "visual_encoder.norm", width)
    t = "text_decoder.bert"
    s[f"{t}.embeddings.word_embeddings.weight"] = torch.randn(BERT_VOCAB, text_width) * 0.2
    s[f"{t}.embeddings.position_embeddings.weight"] = torch.randn(64, text_width) * 0.2
    s[f"{t}.embeddings.position_ids"] = torch.arange(64)[None]
    _norm(s, f"{t}.embeddings.LayerNorm", text_width)
    for n in range(text_depth):
        b = f"{t}.encoder.layer.{n}"
        for part in ("query", "key", "value"):
            _linear(s, f"{b}.attention.self.{part}", text_width, text_width)
        _linear(s, f"{b}.attention.output.dense", text_width, text_width)
        _norm(s, f"{b}.attention.output.LayerNorm", text_width)
        _linear(s, f"{b}.crossattention.self.query", text_width, text_width)
        _linear(s, f"{b}.crossattention.self.key", text_width, width)
        _linear(s, f"{b}.crossattention.self.value", text_width, width)
        _linear(s, f"{b}.crossattention.output.dense", text_width, text_width)
        _norm(s, f"{b}.crossattention.output.LayerNorm", text_width)
        _linear(s, f"{b}.intermediate.dense", 4 * text_width, text_width)
        _linear(s, f"{b}.output.dense", text_width, 4 * text_width)
        _norm(s, f"{b}.output.LayerNorm", text_width)
    p = "text_decoder.cls.predictions"
    s[f"{p}.bias"] = torch.zeros(BERT_VOCAB)
    _linear(s, f"{p}.transform.dense", text_width, text_width)
    _norm(s, f"{p}.transform.LayerNorm", text_width)
    s[f"{p}.decoder.weight"] = s[f"{t}.embeddings.word_embeddings.weight"]
    s[f"{p}.decoder.bias"] = s[f"{p}.bias"]
    return s


def write_blip(path: Path, **sizes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": blip_state(**sizes), "epoch": 3}, path)
    return path


def openai_clip_state(
    width: int = 32,
    depth: int = 1,
    text_width: int = 32,
    text_depth: int = 1,
    image: int = 28,
    patch: int = 14,
    embed: int = 16,
    context: int = 77,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    s: dict[str, torch.Tensor] = {}
    grid = image // patch

    def blocks(prefix: str, w: int, count: int) -> None:
        for n in range(count):
            b = f"{prefix}.resblocks.{n}"
            s[f"{b}.attn.in_proj_weight"] = torch.randn(3 * w, w) * 0.2
            s[f"{b}.attn.in_proj_bias"] = torch.randn(3 * w) * 0.02
            _linear(s, f"{b}.attn.out_proj", w, w)
            _norm(s, f"{b}.ln_1", w)
            _linear(s, f"{b}.mlp.c_fc", 4 * w, w)
            _linear(s, f"{b}.mlp.c_proj", w, 4 * w)
            _norm(s, f"{b}.ln_2", w)

    s["visual.class_embedding"] = torch.randn(width) * 0.2
    s["visual.positional_embedding"] = torch.randn(grid * grid + 1, width) * 0.2
    s["visual.conv1.weight"] = torch.randn(width, 3, patch, patch) * 0.05
    _norm(s, "visual.ln_pre", width)
    blocks("visual.transformer", width, depth)
    _norm(s, "visual.ln_post", width)
    s["visual.proj"] = torch.randn(width, embed) * 0.2
    s["token_embedding.weight"] = torch.randn(CLIP_VOCAB, text_width) * 0.2
    s["positional_embedding"] = torch.randn(context, text_width) * 0.2
    blocks("transformer", text_width, text_depth)
    _norm(s, "ln_final", text_width)
    s["text_projection"] = torch.randn(text_width, embed) * 0.2
    s["logit_scale"] = torch.tensor(4.6052)
    return s


class _Holder(torch.nn.Module):
    """A module tree whose parameter names are the given keys (what torch.jit saves for OpenAI's CLIP)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def write_torchscript_clip(path: Path, state: dict[str, torch.Tensor]) -> Path:
    root = _Holder()
    for key, tensor in state.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, _Holder())
            module = getattr(module, name)
        module.register_parameter(leaf, torch.nn.Parameter(tensor.clone(), requires_grad=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(root), str(path))
    return path
