"""Architecture sizes read from tensor shapes, turned into diffusers/transformers configs.

Everything a model needs to be built is visible in its weights except attention head counts; those follow
the released models (SD 1.x: 8 heads; SD 2.x / SDXL and all text encoders: 64 channels per head) unless a
``.yaml`` beside the checkpoint says otherwise. Models narrower than any release (UNet below 320 channels,
text encoders below 768: the tiny test and reference checkpoints) use 16 channels per head, the convention
the tiny A1111 reference checkpoints were made with. The UNet and VAE configs go through diffusers' own
``create_*_diffusers_config_from_ldm`` helpers, fed an LDM-style config dict built here from shapes, so the
key conversion that follows (``convert_ldm_*_checkpoint``) sees exactly the config it expects.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

from modules.models.sd_model import ModelArch

Shapes = Mapping[str, tuple[int, ...]]
UNET = "model.diffusion_model."
LATENT_SCALE = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025, "sdxl_refiner": 0.13025}
SDXL_TIME_IDS = {"sdxl": 6, "sdxl_refiner": 5}  # size+crop+target / size+crop+aesthetic score
DEFAULT_VAE_DDCONFIG = {
    "ch": 128,
    "ch_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "z_channels": 4,
    "in_channels": 3,
    "out_ch": 3,
    "double_z": True,
    "resolution": 256,
    "attn_resolutions": [],
    "dropout": 0.0,
}


RELEASED_UNET_WIDTH = 320  # model_channels of every released SD 1.x / 2.x / XL UNet
RELEASED_TEXT_WIDTH = 768  # the narrowest released text encoder (CLIP ViT-L)
SMALL_MODEL_HEAD_CHANNELS = 16


def text_head_channels(width: int) -> int:
    """Channels per head of a text encoder ``width`` wide (64 for releases, 16 below them)."""
    return 64 if width >= RELEASED_TEXT_WIDTH else SMALL_MODEL_HEAD_CHANNELS


def heads_for(width: int, head_dim: int = 64) -> int:
    """Heads for a layer ``width`` wide with ``head_dim`` channels per head; at least 1, always a divisor."""
    heads = max(1, width // head_dim)
    while width % heads:
        heads -= 1
    return heads


def _indices(shapes: Shapes, pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in shapes if (m := regex.match(key))})


def unet_params_from_shapes(shapes: Shapes, prefix: str = UNET) -> dict[str, Any]:
    """LDM ``UNetModel`` params (model_channels, channel_mult, depths, context dim...) from an LDM UNet."""
    p = re.escape(prefix)
    model_channels, in_channels = shapes[prefix + "input_blocks.0.0.weight"][:2]
    levels: list[dict[str, Any]] = [{"res": 0, "channels": model_channels, "depth": 0}]
    context_dim = None
    linear = False
    for index in _indices(shapes, p + r"input_blocks\.(\d+)\."):
        block = f"{prefix}input_blocks.{index}."
        if block + "0.op.weight" in shapes:
            levels.append({"res": 0, "channels": levels[-1]["channels"], "depth": 0})
            continue
        if block + "0.in_layers.2.weight" not in shapes:
            continue
        level = levels[-1]
        level["res"] += 1
        level["channels"] = shapes[block + "0.in_layers.2.weight"][0]
        if block + "1.proj_in.weight" in shapes:
            depth = len(_indices(shapes, re.escape(block) + r"1\.transformer_blocks\.(\d+)\."))
            level["depth"] = depth
            linear = len(shapes[block + "1.proj_in.weight"]) == 2
            context_dim = shapes[block + "1.transformer_blocks.0.attn2.to_k.weight"][1]
    res_counts = {level["res"] for level in levels}
    if len(res_counts) != 1:
        raise ValueError(f"UNet levels have different numbers of res blocks ({sorted(res_counts)})")
    mid_depth = len(_indices(shapes, p + r"middle_block\.1\.transformer_blocks\.(\d+)\."))
    depths = [level["depth"] for level in levels]
    params: dict[str, Any] = {
        "in_channels": in_channels,
        "out_channels": shapes[prefix + "out.2.weight"][0],
        "model_channels": model_channels,
        "channel_mult": [level["channels"] // model_channels for level in levels],
        "num_res_blocks": res_counts.pop(),
        "attention_resolutions": [2**i for i, depth in enumerate(depths) if depth],
        "transformer_depth": depths,
        "transformer_depth_middle": mid_depth,
        "context_dim": context_dim,
        "use_linear_in_transformer": linear,
    }
    if prefix + "label_emb.0.0.weight" in shapes:
        params["num_classes"] = "sequential"
        params["adm_in_channels"] = shapes[prefix + "label_emb.0.0.weight"][1]
    return params


def vae_ddconfig_from_shapes(shapes: Shapes, prefix: str = "first_stage_model.") -> dict[str, Any]:
    """LDM ``ddconfig`` of a VAE in LDM key layout (``encoder.down.N.block.M``)."""
    if prefix + "encoder.conv_in.weight" not in shapes:
        return dict(DEFAULT_VAE_DDCONFIG)
    ch, in_channels = shapes[prefix + "encoder.conv_in.weight"][:2]
    p = re.escape(prefix)
    levels = _indices(shapes, p + r"encoder\.down\.(\d+)\.block\.0\.conv2\.weight")
    return {
        "ch": ch,
        "ch_mult": [shapes[f"{prefix}encoder.down.{i}.block.0.conv2.weight"][0] // ch for i in levels],
        "num_res_blocks": len(_indices(shapes, p + r"encoder\.down\.0\.block\.(\d+)\.conv1\.weight")),
        "z_channels": shapes[prefix + "decoder.conv_in.weight"][1],
        "in_channels": in_channels,
        "out_ch": shapes[prefix + "decoder.conv_out.weight"][0],
        "double_z": True,
        "resolution": 256,
        "attn_resolutions": [],
        "dropout": 0.0,
    }


def vae_config_from_shapes(
    shapes: Shapes, prefix: str = "first_stage_model.", scaling_factor: float = 0.18215
) -> dict[str, Any]:
    """diffusers ``AutoencoderKL`` config for an LDM-layout or diffusers-layout VAE state dict."""
    if prefix + "encoder.down_blocks.0.resnets.0.conv1.weight" in shapes:  # already diffusers layout
        p = re.escape(prefix)
        levels = _indices(shapes, p + r"encoder\.down_blocks\.(\d+)\.resnets\.0\.conv2\.weight")
        channels = [shapes[f"{prefix}encoder.down_blocks.{i}.resnets.0.conv2.weight"][0] for i in levels]
        return {
            "in_channels": shapes[prefix + "encoder.conv_in.weight"][1],
            "out_channels": shapes[prefix + "decoder.conv_out.weight"][0],
            "down_block_types": ["DownEncoderBlock2D"] * len(channels),
            "up_block_types": ["UpDecoderBlock2D"] * len(channels),
            "block_out_channels": channels,
            "latent_channels": shapes[prefix + "decoder.conv_in.weight"][1],
            "layers_per_block": len(_indices(shapes, p + r"encoder\.down_blocks\.0\.resnets\.(\d+)\.conv1\.weight")),
            "scaling_factor": scaling_factor,
            "sample_size": 512,
        }
    from diffusers.loaders.single_file_utils import create_vae_diffusers_config_from_ldm

    ldm = {
        "model": {
            "params": {
                "first_stage_config": {"params": {"ddconfig": vae_ddconfig_from_shapes(shapes, prefix)}},
                "scale_factor": scaling_factor,
            }
        }
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(create_vae_diffusers_config_from_ldm(ldm, {}, image_size=512, scaling_factor=scaling_factor))


def _unet_config(
    family: str, params: dict[str, Any], text_pooled_dim: int | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    ldm_params = {k: v for k, v in params.items() if k != "transformer_depth_middle"}
    depths = params["transformer_depth"]
    attention_depths = {depth for depth in depths if depth}
    if len(attention_depths) <= 1:  # one depth everywhere (SD 1.x/2.x): diffusers takes an int
        ldm_params["transformer_depth"] = attention_depths.pop() if attention_depths else 1
    else:  # per level (SDXL); levels without attention ignore their entry
        ldm_params["transformer_depth"] = [depth or 1 for depth in depths]
    small = params["model_channels"] < RELEASED_UNET_WIDTH
    default_head_channels = SMALL_MODEL_HEAD_CHANNELS if small else 64
    if family == "sd1":
        default_heads = heads_for(params["model_channels"], SMALL_MODEL_HEAD_CHANNELS) if small else 8
        ldm_params["num_heads"] = int(overrides.get("num_heads") or default_heads)
    else:  # heads are set per level below; the helper only needs a value
        ldm_params["num_head_channels"] = int(overrides.get("num_head_channels") or default_head_channels)
    ldm = {
        "model": {
            "params": {
                "unet_config": {"params": ldm_params},
                "first_stage_config": {"params": {"ddconfig": DEFAULT_VAE_DDCONFIG}},
            }
        }
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = dict(create_unet_diffusers_config_from_ldm(ldm, {}, image_size=1024 if "xl" in family else 512))
    channels = config["block_out_channels"]
    if family != "sd1":
        if overrides.get("num_heads"):
            config["attention_head_dim"] = int(overrides["num_heads"])
        else:
            head_dim = int(overrides.get("num_head_channels") or default_head_channels)
            config["attention_head_dim"] = [heads_for(c, head_dim) for c in channels]
    mid = params["transformer_depth_middle"]
    per_block = config["transformer_layers_per_block"]
    last = per_block[-1] if isinstance(per_block, list) else per_block
    if mid and mid != last:
        raise ValueError(f"middle block has {mid} transformer layers but the last level has {last}")
    if family in SDXL_TIME_IDS:
        adm = params["adm_in_channels"]
        time_dim, rest = divmod(adm - (text_pooled_dim or 0), SDXL_TIME_IDS[family])
        if rest or time_dim <= 0:
            raise ValueError(f"label_emb input width {adm} does not fit pooled width {text_pooled_dim}")
        config.update(
            class_embed_type=None,
            addition_embed_type="text_time",
            addition_time_embed_dim=time_dim,
            projection_class_embeddings_input_dim=adm,
        )
    return config


def _hf_clip(shapes: Shapes, prefix: str) -> tuple[str, dict[str, Any]]:
    """(root prefix, CLIPTextConfig kwargs) of a transformers-layout CLIP text model under ``prefix``."""
    root = next(
        (
            key[: -len("embeddings.token_embedding.weight")]
            for key in shapes
            if key.startswith(prefix) and key.endswith("embeddings.token_embedding.weight")
        ),
        None,
    )
    if root is None:
        raise ValueError(f"no CLIP token embedding under {prefix}")
    vocab, width = shapes[root + "embeddings.token_embedding.weight"]
    layers = _indices(shapes, re.escape(root) + r"encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight")
    return root, {
        "vocab_size": vocab,
        "hidden_size": width,
        "num_hidden_layers": len(layers),
        "intermediate_size": shapes[root + "encoder.layers.0.mlp.fc1.weight"][0],
        "num_attention_heads": heads_for(width, text_head_channels(width)),
        "max_position_embeddings": shapes[root + "embeddings.position_embedding.weight"][0],
        "hidden_act": "quick_gelu",
        "projection_dim": width,
    }


def _open_clip(shapes: Shapes, root: str) -> dict[str, Any]:
    vocab, width = shapes[root + "token_embedding.weight"]
    layers = _indices(shapes, re.escape(root) + r"transformer\.resblocks\.(\d+)\.attn\.in_proj_weight")
    projection = shapes.get(root + "text_projection")
    return {
        "vocab_size": vocab,
        "hidden_size": width,
        "num_hidden_layers": len(layers),
        "intermediate_size": shapes[root + "transformer.resblocks.0.mlp.c_fc.weight"][0],
        "num_attention_heads": heads_for(width, text_head_channels(width)),
        "max_position_embeddings": shapes[root + "positional_embedding"][0],
        "hidden_act": "gelu",
        "projection_dim": projection[1] if projection else width,
    }


def _encoder(name: str, fmt: str, prefix: str, config: dict[str, Any], **policy: Any) -> dict[str, Any]:
    config = dict(
        config,
        layer_norm_eps=1e-5,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=0 if fmt == "openclip" else 49407,
    )
    return {"name": name, "format": fmt, "prefix": prefix, "config": config, **policy}


def text_encoders_from_shapes(family: str, shapes: Shapes) -> list[dict[str, Any]]:
    """Specs of the text encoders: where their keys are, their configs and how A1111 reads them."""
    if family == "sd1":
        root, config = _hf_clip(shapes, "cond_stage_model.transformer.")
        return [
            _encoder("clip_l", "hf", root, config, projection=False, layer="last", final_norm=True, clip_skip="always")
        ]
    if family == "sd2":
        root = "cond_stage_model.model."
        return [
            _encoder(
                "clip_h",
                "openclip",
                root,
                _open_clip(shapes, root),
                projection=False,
                layer="penultimate",
                final_norm=True,
                clip_skip="never",
            )
        ]
    big_g_root = "conditioner.embedders.1.model." if family == "sdxl" else "conditioner.embedders.0.model."
    big_g = _encoder(
        "clip_g",
        "openclip",
        big_g_root,
        _open_clip(shapes, big_g_root),
        projection=True,
        layer="penultimate",
        final_norm=False,
        clip_skip="never",
    )
    if family == "sdxl_refiner":
        return [big_g]
    root, config = _hf_clip(shapes, "conditioner.embedders.0.transformer.")
    return [
        _encoder(
            "clip_l",
            "hf",
            root,
            config,
            projection=False,
            layer="penultimate",
            final_norm=False,
            clip_skip="sdxl_clip_l_skip",
        ),
        big_g,
    ]


def yaml_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
    """The values of an LDM/SGM ``.yaml`` that change how weights are used."""
    params = (config.get("model") or {}).get("params") or {}
    unet = ((params.get("unet_config") or params.get("network_config") or {}).get("params")) or {}
    out: dict[str, Any] = {}
    if params.get("parameterization") == "v":
        out["prediction"] = "v_prediction"
    elif params.get("parameterization") == "eps":
        out["prediction"] = "epsilon"
    if isinstance(unet.get("num_heads"), int) and unet["num_heads"] > 0:
        out["num_heads"] = unet["num_heads"]
    if isinstance(unet.get("num_head_channels"), int) and unet["num_head_channels"] > 0:
        out["num_head_channels"] = unet["num_head_channels"]
    if isinstance(params.get("scale_factor"), (int, float)):
        out["latent_scale"] = float(params["scale_factor"])
    return out


def infer_arch(family: str, shapes: Shapes, yaml_config: Mapping[str, Any]) -> tuple[ModelArch, bool]:
    """(architecture, whether the eps/v question is still open) for a checkpoint of ``family``."""
    overrides = yaml_overrides(yaml_config)
    params = unet_params_from_shapes(shapes)
    encoders = text_encoders_from_shapes(family, shapes)
    if params["context_dim"] is not None:
        width = sum(e["config"]["hidden_size"] for e in encoders)
        if width != params["context_dim"]:
            raise ValueError(
                f"text encoder width {width} does not match the UNet context width {params['context_dim']}"
            )
    pooled = encoders[-1]["config"]["projection_dim"] if family in SDXL_TIME_IDS else None
    latent_scale = overrides.get("latent_scale", LATENT_SCALE[family])
    prediction = overrides.get("prediction")
    if prediction is None and "v_pred" in shapes:  # marker key written by some v-prediction SDXL releases
        prediction = "v_prediction"
    needs_probe = prediction is None and family == "sd2" and params["in_channels"] == 4
    arch = ModelArch(
        family=family,
        prediction=prediction or "epsilon",
        unet_in_channels=params["in_channels"],
        latent_scale=latent_scale,
        unet_config=_unet_config(family, params, pooled, overrides),
        vae_config=vae_config_from_shapes(shapes, "first_stage_model.", latent_scale),
        text_config={"encoders": encoders, "has_vae": "first_stage_model.encoder.conv_in.weight" in shapes},
    )
    return arch, needs_probe
