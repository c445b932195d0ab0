"""Loading real-layout tiny checkpoints through ModelManager: every family and format, switching, errors."""

from __future__ import annotations

import time

import pytest
import torch

from modules.models.errors import ModelLoadError
from modules.models.vae import decode_latents
from tests._models_fixtures import models_env, no_network, unet_once  # noqa: F401
from tests.checkpoint_factory import write_checkpoint, write_lora

CASES = [
    ("sd15_tiny", "safetensors", torch.float32, "SD 1.x"),
    ("sd15_tiny", "ckpt", torch.float32, "SD 1.x"),
    ("sd15_tiny", "safetensors", torch.float16, "SD 1.x"),
    ("sd15_tiny", "safetensors", torch.bfloat16, "SD 1.x"),
    ("sd21_v_tiny", "safetensors", torch.float32, "SD 2.x (v-prediction)"),
    ("sd21_v_tiny", "ckpt", torch.float16, "SD 2.x (v-prediction)"),
    ("sdxl_tiny", "safetensors", torch.float32, "SDXL"),
    ("sdxl_tiny", "ckpt", torch.float16, "SDXL"),
    ("sd15_inpaint_tiny", "safetensors", torch.float32, "SD 1.x inpainting"),
]


@pytest.mark.parametrize("layout,fmt,dtype,label", CASES)
def test_each_layout_loads_and_produces_a_finite_image(models_env, layout, fmt, dtype, label):
    path = write_checkpoint(layout, models_env.checkpoint_dir / f"model.{fmt}", dtype=dtype, fmt=fmt)
    manager = models_env.manager("--no-hashing")
    model = manager.load(path.name)
    assert model.arch.label == label
    assert model.dtype == torch.float32  # CPU runs float32 whatever the file holds
    assert all(p.dtype == torch.float32 for p in model.unet.parameters())
    assert model.scheduler_config["prediction_type"] == model.arch.prediction
    out = unet_once(model)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
    image = decode_latents(model, out)
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()
    assert image.min() >= 0 and image.max() <= 1 and image.std() > 0
    assert manager.status == f"Loaded {model.checkpoint.title}"


def test_weights_equal_the_file_and_ema_copies_are_ignored(models_env):
    from tests.checkpoint_factory import make_state_dict

    path = write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "ema.ckpt", fmt="ckpt", ema_copies=True)
    model = models_env.manager("--no-hashing").load("ema.ckpt")
    expected = make_state_dict("sd15_tiny")
    conv_in = expected["model.diffusion_model.input_blocks.0.0.weight"]
    assert torch.equal(model.unet.conv_in.weight, conv_in)
    token = expected["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"]
    assert torch.equal(model.text_encoders[0].get_submodule("embeddings.token_embedding").weight, token)
    assert path.exists()


def test_safetensors_load_reads_into_owned_memory_without_extra_copies(models_env, tmp_path):
    """Tensors of a same-dtype load are the buffers read from the file (one copy), not views of a mapping."""
    from modules.models.statedict import open_state_dict

    path = write_checkpoint("sd15_tiny", tmp_path / "m.safetensors")
    state_file = open_state_dict(path)
    tensors = state_file.read(state_file.keys(), lambda key: torch.float32)
    storages = {t.untyped_storage().data_ptr() for t in tensors.values()}
    assert len(storages) == len(tensors)  # one allocation per tensor, none shared with a file map
    from safetensors.torch import load_file

    reference = load_file(str(path))
    assert all(torch.equal(tensors[key], reference[key]) for key in reference)


def test_v_prediction_probe_and_yaml_override(models_env):
    path = write_checkpoint("sd21_v_tiny", models_env.checkpoint_dir / "v.safetensors")
    manager = models_env.manager("--no-hashing")
    assert manager.load("v.safetensors").arch.prediction == "v_prediction"  # A1111 probe
    path.with_suffix(".yaml").write_text('model:\n  params:\n    parameterization: "eps"\n')
    write_checkpoint("sd21_v_tiny", models_env.checkpoint_dir / "v2.safetensors")
    path.with_suffix(".yaml").rename(models_env.checkpoint_dir / "v2.yaml")
    model = manager.load("v2.safetensors")
    assert model.arch.prediction == "epsilon" and model.scheduler_config["prediction_type"] == "epsilon"


def test_listing_titles_subfolders_and_vae_exclusion(models_env, tmp_path):
    root = models_env.checkpoint_dir
    write_checkpoint("sd15_tiny", root / "sub" / "dir" / "a.safetensors")
    write_checkpoint("vae_sd_tiny", root / "a.vae.safetensors")
    extra = tmp_path / "extra"
    write_checkpoint("sd15_tiny", extra / "b.ckpt", fmt="ckpt")
    manager = models_env.manager("--ckpt-dir", str(extra))
    assert [c.title for c in manager.checkpoints()] == ["b.ckpt", "sub/dir/a.safetensors"]
    assert [v.name for v in manager.vaes()] == ["a.vae.safetensors"]
    info = manager.find_checkpoint("a")
    assert info.name == "sub/dir/a.safetensors" and info.model_name == "sub_dir_a"
    (root / "c.safetensors").write_bytes((root / "sub" / "dir" / "a.safetensors").read_bytes())
    assert len(manager.checkpoints()) == 2 and len(manager.refresh()) == 3


def test_startup_checkpoint_order(models_env):
    root = models_env.checkpoint_dir
    for name in ("a", "b", "c"):
        write_checkpoint("sd15_tiny", root / f"{name}.safetensors", seed=ord(name))
    settings = models_env.settings()
    assert models_env.manager(settings=settings).startup_checkpoint().name == "a.safetensors"
    settings.set("sd_model_checkpoint", "b.safetensors [0123456789]")
    assert models_env.manager(settings=settings).startup_checkpoint().name == "b.safetensors"
    chosen = models_env.manager("--ckpt", str(root / "c.safetensors"), settings=settings)
    assert chosen.startup_checkpoint().name == "c.safetensors"
    empty = models_env.manager("--ckpt-dir", str(root / "none"), "--models-dir", str(root / "nothing"))
    assert empty.startup_checkpoint() is None
    assert empty.status.startswith("No checkpoints found. Put .safetensors or .ckpt files in ")
    with pytest.raises(ModelLoadError, match="No checkpoints found"):
        empty.load("anything")


def test_switching_back_to_a_cached_model_is_fast_and_remembered(models_env):
    root = models_env.checkpoint_dir
    write_checkpoint("sd15_tiny", root / "a.safetensors", seed=1)
    write_checkpoint("sd21_v_tiny", root / "b.safetensors", seed=2)
    settings = models_env.settings()
    manager = models_env.manager("--no-hashing", settings=settings)
    first = manager.load("a.safetensors")
    second = manager.load("b.safetensors")
    assert second is not first and manager.current is second
    start = time.thread_time()  # CPU time of this thread: robust to other test processes on a busy machine
    again = manager.load("a.safetensors")
    assert time.thread_time() - start <= 0.5
    assert again is first and settings.get("sd_model_checkpoint") == "a.safetensors"
    settings.set("sd_checkpoint_cache", 0)
    manager.load("b.safetensors")
    third = manager.load("a.safetensors")  # cache disabled: read from disk again
    assert third is not first


def _error_files(root):
    write_checkpoint("sd15_tiny", root / "truncated.safetensors")
    data = (root / "truncated.safetensors").read_bytes()
    (root / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    write_checkpoint("sd15_tiny", root / "truncated.ckpt", fmt="ckpt")
    data = (root / "truncated.ckpt").read_bytes()
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (root / "empty.safetensors").write_bytes(b"")
    write_lora(root / "a_lora.safetensors")
    write_checkpoint("vae_sd_tiny", root / "a_vae_in_wrong_place.safetensors")
    write_checkpoint("controlnet_sd15_tiny", root / "control.safetensors")
    from tests.checkpoint_factory import write_state_dict

    write_state_dict({"net.layer.weight": torch.ones(4, 4)}, root / "unknown.safetensors")


ERRORS = {
    "truncated.safetensors": "truncated",
    "truncated.ckpt": "truncated or corrupt",
    "empty.safetensors": "empty",
    "a_lora.safetensors": "it is a LoRA",
    "a_vae_in_wrong_place.safetensors": "it is a VAE",
    "control.safetensors": "ControlNet",
    "unknown.safetensors": "not a recognised Stable Diffusion checkpoint",
}


def test_bad_files_raise_clear_errors_and_the_old_model_keeps_working(models_env):
    root = models_env.checkpoint_dir
    write_checkpoint("sd15_tiny", root / "good.safetensors")
    _error_files(root)
    manager = models_env.manager("--no-hashing")
    model = manager.load("good.safetensors")
    before = unet_once(model)
    for name, expected in ERRORS.items():
        with pytest.raises(ModelLoadError) as caught:
            manager.load(name)
        message = str(caught.value)
        assert name in message and expected in message, message
        assert manager.current is model
        assert "still using good.safetensors" in manager.status
        assert torch.equal(unet_once(model), before)


def test_checkpoint_without_vae_needs_a_vae_file(models_env):
    from tests.checkpoint_factory import make_state_dict, write_state_dict

    state = {k: v for k, v in make_state_dict("sd15_tiny").items() if not k.startswith("first_stage_model.")}
    write_state_dict(state, models_env.checkpoint_dir / "novae.safetensors")
    manager = models_env.manager("--no-hashing")
    with pytest.raises(ModelLoadError, match="contains no VAE weights"):
        manager.load("novae.safetensors")
    write_checkpoint("vae_sd_tiny", models_env.vae_dir / "tiny.safetensors")
    manager.set_vae("tiny.safetensors")
    model = manager.load("novae.safetensors")
    assert torch.isfinite(decode_latents(model, unet_once(model))).all()


def test_importing_the_manager_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, modules.models.manager, modules.models.options, modules.devices; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_sdxl_refiner_layout_loads_with_five_time_ids(models_env):
    """The refiner has only the bigG encoder (as embedder 0) and 5 time ids (size, crop, aesthetic score)."""
    from tests.checkpoint_factory import make_state_dict, write_state_dict

    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, tensor in make_state_dict("sdxl_tiny").items():
        if key.startswith("conditioner.embedders.0."):
            continue
        key = key.replace("conditioner.embedders.1.", "conditioner.embedders.0.")
        if key.endswith(("attn2.to_k.weight", "attn2.to_v.weight")):
            tensor = torch.randn(tensor.shape[0], 48, generator=generator) / 48**0.5
        if key == "model.diffusion_model.label_emb.0.0.weight":
            tensor = torch.randn(tensor.shape[0], 48 + 5 * 256, generator=generator) / 40
        state[key] = tensor
    write_state_dict(state, models_env.checkpoint_dir / "refiner.safetensors")
    model = models_env.manager("--no-hashing").load("refiner.safetensors")
    assert model.arch.family == "sdxl_refiner" and model.arch.label == "SDXL refiner"
    cond = model.conditioner.encode(["a photo of a cat"])
    assert cond.crossattn.shape == (1, 77, 48) and cond.pooled.shape == (1, 48)
    out = unet_once(model)
    assert torch.isfinite(decode_latents(model, out)).all()


def test_text_encoder_keys_without_text_model_level_are_tolerated(models_env):
    """Files saved from transformers 5 have no ``text_model.`` level and no ``position_ids`` buffer."""
    from tests.checkpoint_factory import make_state_dict, write_state_dict

    state = make_state_dict("sd15_tiny")
    write_state_dict(state, models_env.checkpoint_dir / "old_names.safetensors")
    renamed = {
        k.replace("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."): v
        for k, v in state.items()
        if not k.endswith("position_ids")
    }
    write_state_dict(renamed, models_env.checkpoint_dir / "new_names.safetensors")
    manager = models_env.manager("--no-hashing")
    old = manager.load("old_names.safetensors").conditioner.encode(["a photo of a cat"]).crossattn
    new = manager.load("new_names.safetensors").conditioner.encode(["a photo of a cat"]).crossattn
    assert torch.equal(old, new)


def test_open_clip_tower_matches_a_reference_forward(models_env):
    """The fused-qkv OpenCLIP tower, run as OpenCLIP runs it (nn.MultiheadAttention), equals the converted model."""
    from tests.checkpoint_factory import make_state_dict

    write_checkpoint("sd21_v_tiny", models_env.checkpoint_dir / "h.safetensors")
    model = models_env.manager("--no-hashing").load("h.safetensors")
    encoder = model.text_encoders[0]
    raw = {
        k[len("cond_stage_model.model.") :]: v
        for k, v in make_state_dict("sd21_v_tiny").items()
        if k.startswith("cond_stage_model.model.")
    }
    heads = encoder.config.num_attention_heads
    tokens = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407] + [0] * 70])
    x = raw["token_embedding.weight"][tokens] + raw["positional_embedding"]
    mask = torch.full((77, 77), float("-inf")).triu(1)
    layers = sorted({int(k.split(".")[2]) for k in raw if k.startswith("transformer.resblocks.")})
    width = x.shape[-1]
    ln = torch.nn.functional.layer_norm
    for index in layers:
        p = {k.split(f"resblocks.{index}.", 1)[1]: v for k, v in raw.items() if f"resblocks.{index}." in k}
        attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        attention.load_state_dict(
            {
                "in_proj_weight": p["attn.in_proj_weight"],
                "in_proj_bias": p["attn.in_proj_bias"],
                "out_proj.weight": p["attn.out_proj.weight"],
                "out_proj.bias": p["attn.out_proj.bias"],
            }
        )
        h = ln(x, (width,), p["ln_1.weight"], p["ln_1.bias"])
        x = x + attention(h, h, h, attn_mask=mask, need_weights=False)[0]
        h = ln(x, (width,), p["ln_2.weight"], p["ln_2.bias"])
        h = torch.nn.functional.gelu(h @ p["mlp.c_fc.weight"].T + p["mlp.c_fc.bias"])
        x = x + h @ p["mlp.c_proj.weight"].T + p["mlp.c_proj.bias"]
    reference = ln(x, (width,), raw["ln_final.weight"], raw["ln_final.bias"])
    with torch.no_grad():
        ours = encoder(input_ids=tokens).last_hidden_state
    assert torch.allclose(ours, reference, atol=1e-5)
