"""LoRA: applied by weight inside a context, restored bit for bit; kohya LDM/diffusers names and PEFT keys."""

from __future__ import annotations

import torch

from modules.models.lora import load_lora, lora_patch, network_delta
from tests._models_fixtures import models_env, no_network, unet_once  # noqa: F401
from tests.checkpoint_factory import write_checkpoint, write_lora, write_state_dict


def _snapshot(model):
    modules = [model.unet, *model.text_encoders]
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


def _identical(model, snapshot) -> bool:
    modules = [model.unet, *model.text_encoders]
    return all(
        torch.equal(m.state_dict()[k], v) for m, snap in zip(modules, snapshot, strict=True) for k, v in snap.items()
    )


def _setup(models_env, layout="sd15_tiny", naming="ldm"):
    write_checkpoint(layout, models_env.checkpoint_dir / "m.safetensors")
    manager = models_env.manager("--no-hashing")
    model = manager.load("m.safetensors")
    write_lora(manager.paths.lora / "style.safetensors", layout, naming=naming, module_names=model.unet_ldm_names)
    return manager, model


def test_weight_zero_is_a_no_op_and_weight_one_changes_then_restores_exactly(models_env):
    manager, model = _setup(models_env)
    snapshot = _snapshot(model)
    base = unet_once(model)
    with manager.lora_patch(model, [("style", 0.0)]) as report:
        assert torch.equal(unet_once(model), base)
        assert report.applied == {"style": 0}
    with manager.lora_patch(model, [("style", 1.0)]) as report:
        patched = unet_once(model)
        assert not torch.allclose(patched, base)
        assert report.applied["style"] > 10 and not report.unmatched
    assert _identical(model, snapshot)
    assert torch.equal(unet_once(model), base)
    with manager.lora_patch(model, [("style", 1.0, 0.0)]):  # text encoder only
        text_only = unet_once(model)
    assert not torch.allclose(text_only, base) and not torch.allclose(text_only, patched)
    assert _identical(model, snapshot)


def test_restored_even_when_generation_fails(models_env):
    manager, model = _setup(models_env)
    snapshot = _snapshot(model)
    try:
        with manager.lora_patch(model, [("style", 0.7)]):
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert _identical(model, snapshot)


def test_diffusers_and_ldm_names_hit_the_same_layers(models_env):
    manager, model = _setup(models_env, naming="diffusers")
    write_lora(manager.paths.lora / "ldm_named.safetensors", "sd15_tiny", naming="ldm")
    manager.refresh()
    with manager.lora_patch(model, [("style", 1.0, 1.0)]):
        diffusers_named = unet_once(model)
    with manager.lora_patch(model, [("ldm_named", 1.0, 1.0)]) as report:
        ldm_named = unet_once(model)
    assert not report.unmatched
    assert torch.allclose(diffusers_named, ldm_named, atol=1e-6)


def test_sdxl_lora_patches_both_text_encoders(models_env):
    manager, model = _setup(models_env, layout="sdxl_tiny")
    network = load_lora(manager.find_lora("style").path)
    prefixes = {name.split("_text_model")[0] for name in network.modules if name.startswith("lora_te")}
    assert prefixes == {"lora_te1", "lora_te2"}
    assert any(name.startswith("lora_unet_input_blocks_") for name in network.modules)
    snapshot = _snapshot(model)
    with manager.lora_patch(model, [("style", 1.0)]) as report:
        assert not report.unmatched
        for module, snap in zip([model.unet, *model.text_encoders], snapshot, strict=True):
            assert any(not torch.equal(module.state_dict()[k], v) for k, v in snap.items())
    assert _identical(model, snapshot)


def test_peft_keys_and_locon_convs(models_env):
    manager, model = _setup(models_env)
    conv = model.unet.down_blocks[0].resnets[0].conv1
    linear = model.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    g = torch.Generator().manual_seed(0)
    state = {
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.randn(
            2, 32, generator=g
        ),
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight": torch.randn(
            32, 2, generator=g
        ),
    }
    write_state_dict(state, manager.paths.lora / "peft.safetensors")
    manager.refresh()
    before_q, before_conv = linear.weight.clone(), conv.weight.clone()
    with manager.lora_patch(model, [("peft", 0.5)]):
        expected = (
            state["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight"]
            @ state["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight"]
        )
        assert torch.allclose(linear.weight, before_q + 0.5 * expected, atol=1e-6)
    with manager.lora_patch(model, [("style", 1.0)]):  # includes in_layers.2 3x3 convs (LoCon)
        assert not torch.equal(conv.weight, before_conv)
    assert torch.equal(conv.weight, before_conv) and torch.equal(linear.weight, before_q)


def test_delta_scaling_uses_alpha_over_rank():
    weight = torch.zeros(3, 5)
    down, up = torch.ones(2, 5), torch.ones(3, 2)
    delta = network_delta({"lora_down.weight": down, "lora_up.weight": up, "alpha": torch.tensor(1.0)}, weight)
    assert torch.allclose(delta, torch.full((3, 5), 1.0))  # (up @ down = 2) * alpha/rank (1/2)
    hada = {
        "hada_w1_a": torch.ones(3, 1),
        "hada_w1_b": torch.ones(1, 5),
        "hada_w2_a": torch.ones(3, 1),
        "hada_w2_b": 2 * torch.ones(1, 5),
        "alpha": torch.tensor(1.0),
    }
    assert torch.allclose(network_delta(hada, weight), torch.full((3, 5), 2.0))
    assert network_delta({"lora_down.weight": down, "lora_up.weight": up, "dora_scale": torch.ones(3)}, weight) is None


def test_unknown_lora_names_are_skipped(models_env, caplog):
    manager, model = _setup(models_env)
    with manager.lora_patch(model, [("does_not_exist", 1.0)]) as report:
        assert report.applied == {}
    assert "not found" in caplog.text
    empty = lora_patch(model, [])
    with empty as report:
        assert report.applied == {}
