"""Detection: exactly one family per layout, sizes read from shapes, key plans that fit the modules."""

from __future__ import annotations

import pytest

from modules.models.arch_config import heads_for, yaml_overrides
from modules.models.detection import RULES, describe_unknown, detect, matching_families
from tests._socket_guard import no_network  # noqa: F401
from tests.checkpoint_factory import LAYOUT_DIR, layout_shapes

pytestmark = pytest.mark.usefixtures("no_network")

ALL_LAYOUTS = sorted(p.stem for p in LAYOUT_DIR.glob("*.json"))
EXPECTED = {
    "sd15": "sd1",
    "sd15_tiny": "sd1",
    "sd15_inpaint": "sd1",
    "sd15_inpaint_tiny": "sd1",
    "sd21_v": "sd2",
    "sd21_v_tiny": "sd2",
    "sdxl_base": "sdxl",
    "sdxl_tiny": "sdxl",
    "vae_sd": "vae",
    "vae_sd_tiny": "vae",
    "controlnet_sd15": "controlnet",
    "controlnet_sd15_tiny": "controlnet",
}


def _synthetic() -> dict[str, dict[str, tuple[int, ...]]]:
    """Layouts derived from the fixtures: files people also put in model folders."""
    sd15 = layout_shapes("sd15_tiny")
    control = layout_shapes("controlnet_sd15_tiny")
    xl = layout_shapes("sdxl_tiny")
    refiner = {
        k.replace("conditioner.embedders.1.", "conditioner.embedders.0."): v
        for k, v in xl.items()
        if not k.startswith("conditioner.embedders.0.")
    }
    return {
        "controlnet_extracted": {
            k[len("control_model.") :]: v for k, v in control.items() if k.startswith("control_model.")
        },
        "sdxl_refiner_like": refiner,
        "sd15_vae_only_prefixed": {k: v for k, v in sd15.items() if k.startswith("first_stage_model.")},
        "lora_kohya": {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 32),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": (32, 4),
            "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": (),
        },
        "lora_text_only": {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 32)},
        "lora_peft": {"unet.down_blocks.0.attentions.0.proj_in.lora_A.weight": (4, 32)},
        "embedding_safetensors": {"emb_params": (2, 768)},
        "embedding_sdxl": {"clip_l": (2, 768), "clip_g": (2, 1280)},
    }


SYNTHETIC_EXPECTED = {
    "controlnet_extracted": "controlnet",
    "sdxl_refiner_like": "sdxl_refiner",
    "sd15_vae_only_prefixed": None,
    "lora_kohya": "lora",
    "lora_text_only": "lora",
    "lora_peft": "lora",
    "embedding_safetensors": "embedding",
    "embedding_sdxl": "embedding",
}


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_every_layout_matches_exactly_one_family(layout):
    families = matching_families(layout_shapes(layout))
    assert families == [EXPECTED[layout]], f"{layout}: {families}"


@pytest.mark.parametrize("name", sorted(SYNTHETIC_EXPECTED))
def test_synthetic_layouts_match_at_most_one_family(name):
    families = matching_families(_synthetic()[name])
    expected = SYNTHETIC_EXPECTED[name]
    assert families == ([expected] if expected else [])


def test_rule_table_is_declarative_and_covers_every_family():
    assert {rule.family for rule in RULES} >= {"sd1", "sd2", "sdxl", "sdxl_refiner", "vae", "lora", "controlnet"}
    assert all(rule.required or rule.required_prefixes for rule in RULES)


def test_full_size_sizes_match_the_released_diffusers_configs():
    sd15 = detect(layout_shapes("sd15")).arch
    assert sd15.unet_config["block_out_channels"] == [320, 640, 1280, 1280]
    assert sd15.unet_config["attention_head_dim"] == 8 and sd15.unet_config["cross_attention_dim"] == 768
    assert sd15.unet_config["use_linear_projection"] is False
    assert sd15.vae_config["block_out_channels"] == [128, 256, 512, 512]
    assert sd15.text_config["encoders"][0]["config"]["num_hidden_layers"] == 12
    assert sd15.text_config["encoders"][0]["config"]["num_attention_heads"] == 12

    sd21 = detect(layout_shapes("sd21_v"))
    assert sd21.needs_v_probe and sd21.arch.unet_config["attention_head_dim"] == [5, 10, 20, 20]
    assert sd21.arch.unet_config["use_linear_projection"] is True
    h = sd21.arch.text_config["encoders"][0]["config"]
    assert (h["hidden_size"], h["num_hidden_layers"], h["num_attention_heads"], h["hidden_act"]) == (
        1024,
        24,
        16,
        "gelu",
    )
    xl = detect(layout_shapes("sdxl_base")).arch
    assert xl.unet_config["transformer_layers_per_block"] == [1, 2, 10]
    assert xl.unet_config["attention_head_dim"] == [5, 10, 20]
    assert xl.unet_config["cross_attention_dim"] == 2048
    assert xl.unet_config["addition_embed_type"] == "text_time"
    assert xl.unet_config["addition_time_embed_dim"] == 256
    assert xl.unet_config["projection_class_embeddings_input_dim"] == 2816
    assert xl.latent_scale == 0.13025
    big_g = xl.text_config["encoders"][1]["config"]
    assert (big_g["hidden_size"], big_g["num_hidden_layers"], big_g["num_attention_heads"]) == (1280, 32, 20)

    inpaint = detect(layout_shapes("sd15_inpaint")).arch
    assert inpaint.is_inpainting and inpaint.label == "SD 1.x inpainting"


def test_tiny_layouts_take_the_same_path():
    tiny = detect(layout_shapes("sdxl_tiny")).arch
    assert tiny.unet_config["block_out_channels"] == [32, 64, 64]
    assert tiny.unet_config["transformer_layers_per_block"] == [1, 1, 2]
    assert tiny.unet_config["cross_attention_dim"] == 80
    assert tiny.unet_config["addition_time_embed_dim"] == 256


def test_instruct_pix2pix_is_told_by_its_eight_input_channels():
    shapes = dict(layout_shapes("sd15_tiny"))
    shapes["model.diffusion_model.input_blocks.0.0.weight"] = (32, 8, 3, 3)
    arch = detect(shapes).arch
    assert arch.unet_in_channels == 8 and "instruct-pix2pix" in arch.label


def test_yaml_overrides_prediction_and_heads():
    config = {
        "model": {"params": {"parameterization": "v", "scale_factor": 0.2, "unet_config": {"params": {"num_heads": 4}}}}
    }
    assert yaml_overrides(config) == {"prediction": "v_prediction", "num_heads": 4, "latent_scale": 0.2}
    detection = detect(layout_shapes("sd21_v_tiny"), config)
    assert detection.arch.prediction == "v_prediction" and not detection.needs_v_probe
    assert detection.arch.unet_config["attention_head_dim"] == 4
    eps = detect(layout_shapes("sd21_v_tiny"), {"model": {"params": {"parameterization": "eps"}}})
    assert eps.arch.prediction == "epsilon" and not eps.needs_v_probe


def test_v_pred_marker_key():
    shapes = dict(layout_shapes("sdxl_tiny"), v_pred=())
    assert detect(shapes).arch.prediction == "v_prediction"


def test_heads_always_divide_the_width():
    assert heads_for(320) == 5 and heads_for(1280) == 20 and heads_for(32) == 1 and heads_for(200) == 2


def test_unknown_files_are_described():
    detection = detect({"foo.bar": (1,), "foo.baz": (2,), "qux": (3,)})
    assert detection.kind == "unknown" and "3 tensors" in detection.label and "foo.*" in detection.label
    assert describe_unknown({}) == "no tensors at all"


@pytest.mark.parametrize("layout", ["sd15", "sd21_v", "sdxl_base", "sd15_tiny", "sd21_v_tiny", "sdxl_tiny"])
def test_key_plans_fit_meta_modules_exactly(layout):
    """Zero missing / unexpected keys and matching shapes, on meta modules (no memory even at full size)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from modules.models import conversion
    from modules.models.loader import build_text_encoder, has_text_model_level

    shapes = layout_shapes(layout)
    arch = detect(shapes).arch
    with torch.device("meta"):
        modules = [
            (UNet2DConditionModel(**arch.unet_config), conversion.unet_plan(shapes, arch.unet_config)),
            (AutoencoderKL(**arch.vae_config), conversion.vae_plan(shapes, arch.vae_config)),
        ]
    for spec in arch.text_config["encoders"]:
        module = build_text_encoder(spec)
        modules.append((module, conversion.text_plan(shapes, spec, has_text_model_level(module))))
    meta = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    for module, plan in modules:
        state = module.state_dict()
        assert set(plan) == set(state)
        converted = conversion.materialize(plan, meta)
        assert all(converted[key].shape == state[key].shape for key in state)
