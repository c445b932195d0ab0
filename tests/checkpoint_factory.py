"""Random-weight checkpoints in the exact key layout of released Stable Diffusion files, for tests.

``write_checkpoint("sd15_tiny", path)`` writes every tensor listed in
``tests/fixtures/checkpoint_layouts/sd15_tiny.json`` (names and shapes read from the reference
implementations) with deterministic random values, so a test file goes through the same loading code as a
real multi-GB download. Values are chosen to keep activations finite and non-degenerate:

- weights ~ N(0, 1/fan_in); embeddings ~ N(0, 0.02);
- 1-D ``*.weight`` tensors are norm scales: 1 + N(0, 0.02); 1-D biases: N(0, 0.02) (nonzero shifts matter:
  A1111's "Original" emphasis divides by the mean of the CLIP output);
- schedule buffers hold the real scaled-linear schedule; ``position_ids`` are ``arange``;
- ``sd21_v_tiny``'s output bias is shifted by -3 so A1111's v-prediction probe answers "v" as it does for the
  real 768-v release.

Layouts: sd15_tiny, sd21_v_tiny, sdxl_tiny, sd15_inpaint_tiny, vae_sd_tiny, controlnet_sd15_tiny (and the
full-size sd15, sd15_inpaint, sd21_v, sdxl_base, vae_sd, controlnet_sd15, written tensor by tensor).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import torch

LAYOUT_DIR = Path(__file__).resolve().parent / "fixtures" / "checkpoint_layouts"
V_PREDICTION_LAYOUTS = {"sd21_v_tiny": "model.diffusion_model.out.2.bias"}
_ST_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.float64: "F64",
    torch.int32: "I32",
    torch.uint8: "U8",
}


def load_layout(layout_name: str) -> dict:
    """The layout JSON (keys, shapes, dtypes, config) of ``layout_name``."""
    with open(LAYOUT_DIR / f"{layout_name}.json", encoding="utf-8") as handle:
        return json.load(handle)


def layout_shapes(layout_name: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a layout: what detection sees, without allocating any weight."""
    return {key: tuple(shape) for key, shape in load_layout(layout_name)["keys"].items()}


def _schedule(length: int) -> dict[str, torch.Tensor]:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, length, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    variance = betas * (1 - prev) / (1 - alphas_cumprod)
    return {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - alphas_cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1 / alphas_cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / alphas_cumprod - 1).sqrt(),
        "posterior_variance": variance,
        "posterior_log_variance_clipped": variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - alphas_cumprod),
        "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - alphas_cumprod),
    }


_SCHEDULE_KEYS = frozenset(_schedule(2))


def random_tensor(key: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A trained-like random value for ``key`` (float32; see the module docstring)."""
    leaf = key.rsplit(".", 1)[-1]
    if key.endswith("position_ids"):
        return torch.arange(shape[-1], dtype=torch.int64).expand(shape).clone()
    if key in _SCHEDULE_KEYS:
        return _schedule(shape[0])[key].float()
    if key == "logvar":
        return torch.zeros(shape)
    if leaf == "logit_scale":
        return torch.full(shape, math.log(1 / 0.07))
    if len(shape) == 1 and leaf.endswith("weight"):
        return 1 + 0.02 * torch.randn(shape, generator=generator)
    if len(shape) <= 1:
        return 0.02 * torch.randn(shape, generator=generator)
    if "embedding" in key or key.endswith(("positional_embedding", "emb_params")):
        return 0.02 * torch.randn(shape, generator=generator)
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=generator) / math.sqrt(fan_in)


def iter_tensors(
    layout_name: str, dtype: torch.dtype = torch.float32, seed: int = 0
) -> Iterator[tuple[str, torch.Tensor]]:
    """(key, tensor) of a layout one at a time, floats in ``dtype`` (ints keep their dtype)."""
    layout = load_layout(layout_name)
    int_keys = {key for key, name in layout.get("dtypes", {}).items() if "int" in name}
    generator = torch.Generator().manual_seed(seed)
    shift_key = V_PREDICTION_LAYOUTS.get(layout_name)
    for key, shape in layout["keys"].items():
        tensor = random_tensor(key, tuple(shape), generator)
        if key == shift_key:
            tensor = tensor - 3.0
        yield key, (tensor if key in int_keys else tensor.to(dtype))


def _dtype_for(layout: dict, key: str, dtype: torch.dtype) -> torch.dtype:
    name = layout.get("dtypes", {}).get(key)
    return torch.int64 if name and "int" in name else dtype


def write_safetensors_stream(
    path: Path,
    layout_name: str,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a layout as .safetensors tensor by tensor (constant memory; used for multi-GB files)."""
    layout = load_layout(layout_name)
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for key, shape in layout["keys"].items():
        tensor_dtype = _dtype_for(layout, key, dtype)
        size = math.prod(shape) * tensor_dtype.itemsize
        header[key] = {"dtype": _ST_DTYPES[tensor_dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for _key, tensor in iter_tensors(layout_name, dtype, seed):
            handle.write(memoryview(tensor.contiguous().reshape(-1).view(torch.uint8).numpy()))
    return path


def write_state_dict(
    state: dict[str, torch.Tensor],
    path: Path,
    fmt: str = "safetensors",
    metadata: dict[str, str] | None = None,
    wrap: bool = True,
) -> Path:
    """Save a state dict as .safetensors or as an A1111-style .ckpt (``{"state_dict": ...}`` wrapper)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=metadata)
    elif fmt == "ckpt":
        torch.save({"state_dict": state, "global_step": 1, "epoch": 0} if wrap else state, path)
    else:
        raise ValueError(f"fmt must be 'safetensors' or 'ckpt', not {fmt!r}")
    return path


def make_state_dict(layout_name: str, dtype: torch.dtype = torch.float32, seed: int = 0) -> dict[str, torch.Tensor]:
    return dict(iter_tensors(layout_name, dtype, seed))


def write_checkpoint(
    layout_name: str,
    path: Path,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    fmt: str = "safetensors",
    ema_copies: bool = False,
) -> Path:
    """Write a random-weight checkpoint of ``layout_name`` to ``path`` (.safetensors or .ckpt).

    ``ema_copies`` adds ``model_ema.*`` keys (as unpruned training files have), which loaders must ignore.
    """
    path = Path(path)
    if fmt == "safetensors" and not ema_copies:
        return write_safetensors_stream(path, layout_name, dtype, seed)
    state = make_state_dict(layout_name, dtype, seed)
    if ema_copies:
        for key, tensor in list(state.items()):
            if key.startswith("model.diffusion_model."):
                state["model_ema." + key[len("model.") :].replace(".", "")] = tensor.clone() + 1
        state["model_ema.decay"] = torch.tensor(0.9999)
    return write_state_dict(state, path, fmt)


def lora_targets(layout_name: str) -> list[tuple[str, str, tuple[int, ...]]]:
    """(kohya prefix, module path, weight shape) of the layers a kohya LoRA trains, in LDM/HF naming."""
    shapes = layout_shapes(layout_name)
    targets: list[tuple[str, str, tuple[int, ...]]] = []
    unet_prefix = "model.diffusion_model."
    text_roots = {
        "cond_stage_model.transformer.text_model.": "lora_te_",
        "conditioner.embedders.0.transformer.text_model.": "lora_te1_",
    }
    for key, shape in shapes.items():
        if not key.endswith(".weight"):
            continue
        module = key[: -len(".weight")]
        if key.startswith(unet_prefix):
            rest = module[len(unet_prefix) :]
            if any(
                part in rest
                for part in (".attn1.", ".attn2.", ".ff.net.", "proj_in", "proj_out", "in_layers.2", "out_layers.3")
            ):
                targets.append(("lora_unet_", rest, shape))
        for root, kohya in text_roots.items():
            if key.startswith(root) and (".self_attn." in key or ".mlp." in key):
                targets.append((kohya, "text_model." + module[len(root) :], shape))
    big_g = "conditioner.embedders.1.model.transformer.resblocks."  # kohya names it in transformers form
    open_clip_names = {"attn.out_proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    for key, shape in shapes.items():
        if not key.startswith(big_g):
            continue
        layer, rest = key[len(big_g) :].split(".", 1)
        hf = f"text_model.encoder.layers.{layer}."
        if rest == "attn.in_proj_weight":
            width = shape[1]
            targets += [("lora_te2_", hf + f"self_attn.{n}_proj", (width, width)) for n in "qkv"]
        elif rest.endswith(".weight") and rest[: -len(".weight")] in open_clip_names:
            targets.append(("lora_te2_", hf + open_clip_names[rest[: -len(".weight")]], shape))
    return targets


def write_lora(
    path: Path,
    layout_name: str = "sd15_tiny",
    rank: int = 4,
    alpha: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    scale: float = 0.1,
    include_text: bool = True,
    naming: str = "ldm",
    module_names: dict[str, str] | None = None,
) -> Path:
    """Write a kohya-format LoRA (``lora_down``/``lora_up``/``alpha``, LoCon convs) for ``layout_name``.

    ``naming="ldm"`` names UNet layers as kohya does for SDXL (``lora_unet_input_blocks_1_1_...``);
    ``naming="diffusers"`` uses ``module_names`` (LDM -> diffusers module path, e.g. ``SDModel.unet_ldm_names``)
    to write the SD 1.x kohya names (``lora_unet_down_blocks_0_attentions_0_...``).
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for prefix, module, shape in lora_targets(layout_name):
        if prefix == "lora_unet_" and naming == "diffusers":
            if not module_names or module not in module_names:
                continue
            module = module_names[module]
        elif not include_text and prefix != "lora_unet_":
            continue
        name = prefix + module.replace(".", "_")
        out_features, in_features = shape[0], shape[1]
        kernel = tuple(shape[2:])
        down_shape = (rank, in_features, *kernel) if kernel else (rank, in_features)
        up_shape = (out_features, rank, 1, 1) if kernel else (out_features, rank)
        state[f"{name}.lora_down.weight"] = (torch.randn(down_shape, generator=generator) * scale).to(dtype)
        state[f"{name}.lora_up.weight"] = (torch.randn(up_shape, generator=generator) * scale).to(dtype)
        state[f"{name}.alpha"] = torch.tensor(float(alpha if alpha is not None else rank)).to(dtype)
    return write_state_dict(
        state, path, "safetensors", metadata={"ss_output_name": Path(path).stem, "ss_network_dim": str(rank)}
    )


def write_embedding(
    path: Path,
    vectors: int = 2,
    width: int = 32,
    seed: int = 0,
    form: str = "string_to_param",
    widths: dict[str, int] | None = None,
) -> Path:
    """Write a textual-inversion embedding.

    ``form``: ``string_to_param`` (A1111 .pt), ``emb_params`` (.safetensors), ``diffusers`` (.bin, one key),
    ``sdxl`` (``clip_l``/``clip_g``; ``widths`` gives their widths, default 32 and 48 as in sdxl_tiny).
    """
    generator = torch.Generator().manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "sdxl":
        widths = widths or {"clip_l": 32, "clip_g": 48}
        state = {name: torch.randn(vectors, w, generator=generator) * 0.02 for name, w in widths.items()}
        return write_state_dict(state, path, "safetensors")
    vec = torch.randn(vectors, width, generator=generator) * 0.02
    if form == "emb_params":
        return write_state_dict({"emb_params": vec}, path, "safetensors")
    if form == "diffusers":
        torch.save({f"<{path.stem}>": vec[0]}, path)
        return path
    torch.save(
        {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": vec},
            "name": path.stem,
            "step": 100,
            "sd_checkpoint": "abcdef1234",
            "sd_checkpoint_name": "tiny",
        },
        path,
    )
    return path


def write_hypernetwork(
    path: Path,
    widths: tuple[int, ...] = (32, 64),
    seed: int = 0,
    scale: float = 0.5,
    layer_norm: bool = True,
) -> Path:
    """Write a hypernetwork ``.pt`` as A1111 saves it: ``{width: (k_state, v_state), 'layer_structure': ...}``.

    Layer structure ``[1, 2, 1]`` with ReLU and (optionally) layer norm, output not activated, so the saved
    ``nn.Sequential`` indices are A1111's: Linear 0, ReLU 1, LayerNorm 2, Linear 3, LayerNorm 4 (without
    layer norm: Linear 0, ReLU 1, Linear 2).
    """
    generator = torch.Generator().manual_seed(seed)

    def side(dim: int) -> dict[str, torch.Tensor]:
        hidden = dim * 2
        first, second = ("linear.0", "linear.3") if layer_norm else ("linear.0", "linear.2")
        state = {
            f"{first}.weight": torch.randn(hidden, dim, generator=generator) * scale,
            f"{first}.bias": torch.randn(hidden, generator=generator) * scale,
            f"{second}.weight": torch.randn(dim, hidden, generator=generator) * scale,
            f"{second}.bias": torch.randn(dim, generator=generator) * scale,
        }
        if layer_norm:
            for index, width in (("2", hidden), ("4", dim)):
                state[f"linear.{index}.weight"] = 1 + torch.randn(width, generator=generator) * 0.1
                state[f"linear.{index}.bias"] = torch.randn(width, generator=generator) * 0.1
        return state

    data: dict = {width: (side(width), side(width)) for width in widths}
    data.update(
        {
            "step": 100,
            "name": Path(path).stem,
            "layer_structure": [1, 2, 1],
            "activation_func": "relu",
            "is_layer_norm": layer_norm,
            "weight_initialization": "Normal",
            "use_dropout": False,
            "sd_checkpoint": "abcdef12",
            "sd_checkpoint_name": "tiny",
            "activate_output": False,
            "last_layer_dropout": False,
        }
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path
