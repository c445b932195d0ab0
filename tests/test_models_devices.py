"""Device and precision choice from flags, and the --medvram/--lowvram offload hooks."""

from __future__ import annotations

import argparse

import pytest
import torch

from modules.devices import DeviceInfo, choose_device
from modules.models.offload import attach_offload
from modules.models.vae import decode_latents
from modules.settings.cli import build_parser
from tests._models_fixtures import models_env, no_network, unet_once  # noqa: F401
from tests.checkpoint_factory import write_checkpoint


def _flags(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(list(args))


def test_cpu_runs_float32_unless_bf16_is_asked(no_network):  # noqa: F811
    info = choose_device(_flags("--use-cpu", "all"))
    assert info.device.type == "cpu" and info.dtype == torch.float32 and info.vae_dtype == torch.float32
    assert info.offload == "none" and info.attention == "sdpa"
    assert choose_device(_flags("--use-cpu", "all", "--precision", "bf16")).dtype == torch.bfloat16
    assert choose_device(_flags("--use-cpu", "all", "--medvram")).offload == "none"  # no GPU to offload from
    assert choose_device(_flags("--use-cpu", "all", "--xformers")).attention == "sdpa"


def test_cuda_precision_rules(monkeypatch, no_network):  # noqa: F811
    """Only the decision logic: CUDA presence is simulated, no CUDA call is made."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: f"GPU{index}")
    default = choose_device(_flags())
    assert (default.device, default.dtype, default.vae_dtype) == (torch.device("cuda", 0), torch.float16, torch.float16)
    assert choose_device(_flags("--device-id", "1")).device == torch.device("cuda", 1)
    assert choose_device(_flags("--no-half")).dtype == torch.float32
    assert choose_device(_flags("--precision", "full")).dtype == torch.float32
    assert choose_device(_flags("--precision", "bf16")).dtype == torch.bfloat16
    assert choose_device(_flags("--no-half-vae")).vae_dtype == torch.float32
    assert choose_device(_flags("--medvram")).offload == "medvram"
    assert choose_device(_flags("--lowvram", "--medvram")).offload == "lowvram"
    assert choose_device(_flags("--use-cpu", "all")).device.type == "cpu"


@pytest.mark.parametrize("mode", ["medvram", "lowvram"])
def test_offload_hooks_activate_the_running_part_and_keep_results(models_env, mode):
    write_checkpoint("sdxl_tiny", models_env.checkpoint_dir / "m.safetensors")
    model = models_env.manager("--no-hashing").load("m.safetensors")
    expected = decode_latents(model, unet_once(model))
    forwards = {id(m): m.forward for m in (model.unet, model.vae.decoder, *model.text_encoders)}
    offloader = attach_offload(model, torch.device("cpu"), mode)
    model.conditioner.encode(["a cat"])
    assert offloader.active == (model.text_encoders[-1],)
    out = unet_once(model)
    if mode == "medvram":
        assert offloader.active == (model.unet,)
    else:
        assert offloader.active == (model.unet.up_blocks[-1],)
    image = decode_latents(model, out)
    assert offloader.active[0] is model.vae.decoder
    assert torch.equal(image, expected)
    assert all(m.forward == forwards[id(m)] for m in (model.unet, model.vae.decoder, *model.text_encoders))
    offloader.remove()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_medvram_keeps_only_the_running_part_on_the_gpu(models_env):  # pragma: no cover - GPU only
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    info = choose_device(_flags("--medvram"))
    assert info.offload == "medvram"
    model = models_env.manager("--no-hashing", device_info=info).load("m.safetensors")
    model.conditioner.encode(["a cat"])
    assert next(model.text_encoders[0].parameters()).device.type == "cuda"
    assert next(model.unet.parameters()).device.type == "cpu"
    unet_once(model)
    assert next(model.unet.parameters()).device.type == "cuda"
    assert next(model.text_encoders[0].parameters()).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_fp16_on_cuda(models_env):  # pragma: no cover - GPU only
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    info = choose_device(_flags())
    model = models_env.manager("--no-hashing", device_info=info).load("m.safetensors")
    assert next(model.unet.parameters()).dtype == torch.float16
    assert torch.isfinite(decode_latents(model, unet_once(model).float())).all()


def test_device_info_load_device():
    info = DeviceInfo(torch.device("cpu"), torch.float32, torch.float32, offload="medvram")
    assert info.load_device == torch.device("cpu") and not info.is_cuda
