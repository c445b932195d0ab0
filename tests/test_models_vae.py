"""VAE choice and swapping, and the fp16 NaN fallback of decode/encode."""

from __future__ import annotations

import dataclasses

import torch

from modules.models.vae import decode_latents, encode_images
from tests._models_fixtures import models_env, no_network, unet_once  # noqa: F401
from tests.checkpoint_factory import write_checkpoint


def _latent() -> torch.Tensor:
    return torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))


def test_vae_swap_changes_only_the_vae_weights(models_env):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    write_checkpoint("vae_sd_tiny", models_env.vae_dir / "other.safetensors", seed=42)
    write_checkpoint("vae_sd_tiny", models_env.vae_dir / "other_pt.pt", seed=42, fmt="ckpt")
    manager = models_env.manager("--no-hashing")
    model = manager.load("m.safetensors")
    unet, vae, unet_weight = model.unet, model.vae, model.unet.conv_in.weight.clone()
    own = decode_latents(model, _latent())
    manager.set_vae("other.safetensors")
    swapped = decode_latents(model, _latent())
    assert model.unet is unet and model.vae is vae and torch.equal(model.unet.conv_in.weight, unet_weight)
    assert not torch.allclose(own, swapped)
    assert model.vae_info.name == "other.safetensors"
    manager.set_vae("other_pt.pt")  # same weights saved as a pickle
    assert torch.allclose(decode_latents(model, _latent()), swapped)
    manager.set_vae("None")
    assert torch.equal(decode_latents(model, _latent()), own) and model.vae_info is None
    assert manager.settings.get("sd_vae") == "None"


def test_automatic_vae_uses_the_file_named_like_the_checkpoint(models_env):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    write_checkpoint("vae_sd_tiny", models_env.checkpoint_dir / "m.vae.safetensors", seed=9)
    manager = models_env.manager("--no-hashing")
    assert [c.name for c in manager.checkpoints()] == ["m.safetensors"]
    model = manager.load("m.safetensors")
    assert model.vae_info is not None and model.vae_info.name == "m.vae.safetensors"
    with_near = decode_latents(model, _latent())
    manager.set_vae("None")  # "None" beats the near-checkpoint VAE when the selection overrides preferences
    assert not torch.allclose(decode_latents(model, _latent()), with_near)


def test_a_checkpoint_is_not_accepted_as_a_vae(models_env):
    import pytest

    from modules.models.errors import ModelLoadError

    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    write_checkpoint("sd15_tiny", models_env.vae_dir / "notvae.safetensors")
    manager = models_env.manager("--no-hashing")
    model = manager.load("m.safetensors")
    before = decode_latents(model, _latent())
    with pytest.raises(ModelLoadError, match="is not a VAE file"):
        manager.set_vae("notvae.safetensors")
    assert torch.equal(decode_latents(model, _latent()), before)


def test_fp16_vae_nan_is_redone_in_fp32(models_env, caplog):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    model = models_env.manager("--no-hashing").load("m.safetensors")
    reference = decode_latents(model, _latent())
    model.vae.to(torch.float16)
    model.vae_dtype = torch.float16
    with torch.no_grad():  # activations that overflow float16 (max 65504) but not float32
        model.vae.post_quant_conv.weight.mul_(2000.0)
        model.vae.post_quant_conv.bias.fill_(0)
        half = model.vae.decode(_latent().half() / model.arch.latent_scale).sample
    assert not torch.isfinite(half).all()
    image = decode_latents(model, _latent())
    assert torch.isfinite(image).all() and model.vae_dtype == torch.float32
    assert next(model.vae.parameters()).dtype == torch.float32
    assert "NaNs" in caplog.text
    assert image.shape == reference.shape


def test_encode_then_decode_shapes(models_env):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    model = models_env.manager("--no-hashing").load("m.safetensors")
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    latents = encode_images(model, images, generator=torch.Generator().manual_seed(1))
    assert latents.shape == (2, 4, 8, 8) and torch.isfinite(latents).all()
    again = encode_images(model, images, generator=torch.Generator().manual_seed(1))
    assert torch.equal(latents, again)
    assert decode_latents(model, latents).shape == (2, 3, 64, 64)


def test_no_half_vae_flag_gives_an_fp32_vae():
    import argparse

    from modules.devices import choose_device

    info = choose_device(argparse.Namespace(use_cpu=["all"], precision="bf16", no_half_vae=True))
    assert info.dtype == torch.bfloat16 and info.vae_dtype == torch.float32
    assert dataclasses.replace(info, vae_dtype=torch.float16).vae_dtype == torch.float16
