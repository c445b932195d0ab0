"""Checkpoint Merger: Bake in VAE, Copy config from, and where merges are saved (A1111's places)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.merger import MergeError, MergeRequest, merge_checkpoints
from modules.paths import Paths
from modules.ui.tab_merger import merge_output_dir
from tests.test_merger import KEY_W, write

VAE_KEYS = ("encoder.conv_in.weight", "decoder.conv_out.bias")


@pytest.fixture
def models(tmp_path):
    paths = {}
    for name in "abc":
        paths[name] = tmp_path / f"{name}.safetensors"
        write(paths[name], ord(name))
    return paths


def write_vae(path, layout: str = "ldm"):
    keys = VAE_KEYS if layout == "ldm" else ("encoder.conv_in.weight_diffusers_style.x",)
    state = {key: torch.full((3, 2), 0.25) for key in keys}
    state["loss.logvar"] = torch.zeros(1)
    save_file(state, str(path))
    return path


def test_bake_in_vae_replaces_first_stage_model(models, tmp_path):
    vae = write_vae(tmp_path / "vae.safetensors")
    out = merge_checkpoints(
        MergeRequest(models["a"], models["b"], custom_name="baked", bake_in_vae=vae, save_as_half=True)
    )
    merged = load_file(str(out))
    for key in VAE_KEYS:
        assert merged["first_stage_model." + key].dtype == torch.float16
        assert torch.all(merged["first_stage_model." + key] == 0.25)
    assert not any(key.startswith("first_stage_model.loss") for key in merged)
    assert KEY_W in merged
    with safe_open(str(out), "pt") as handle:
        assert json.loads(handle.metadata()["sd_merge_recipe"])["bake_in_vae"] == "vae.safetensors"


def test_bake_in_vae_refuses_other_layouts(models, tmp_path):
    vae = write_vae(tmp_path / "odd.safetensors", layout="other")
    with pytest.raises(MergeError, match="odd.safetensors is not a VAE in the original"):
        merge_checkpoints(MergeRequest(models["a"], models["b"], custom_name="x", bake_in_vae=vae))


@pytest.mark.parametrize(
    ("source", "yaml_beside", "expected"),
    [("A, B or C", "b", "b"), ("A, B or C", "a", "a"), ("B", "a", None), ("C", "c", "c"), ("Don't", "a", None)],
)
def test_copy_config_from(models, tmp_path, source, yaml_beside, expected):
    models[yaml_beside].with_suffix(".yaml").write_text(f"model: {yaml_beside}\n", encoding="utf-8")
    out = merge_checkpoints(
        MergeRequest(
            models["a"], models["b"], models["c"], method="Add difference", custom_name="cfg", config_source=source
        )
    )
    copied = out.with_suffix(".yaml")
    if expected is None:
        assert not copied.exists()
    else:
        assert copied.read_text(encoding="utf-8") == f"model: {expected}\n"


def _paths(tmp_path, ckpt_dir=None) -> Paths:
    flags = argparse.Namespace(
        data_dir=str(tmp_path), models_dir=None, ckpt_dir=ckpt_dir, vae_dir=None, lora_dir=None,
        embeddings_dir=None, localizations_dir=None, ui_settings_file=None, ui_config_file=None, styles_file=None,
    )  # fmt: skip
    return Paths.from_flags(flags)


def test_merges_go_where_a1111_puts_them(tmp_path):
    assert merge_output_dir(_paths(tmp_path)) == tmp_path / "models" / "Stable-diffusion"
    custom = tmp_path / "my-ckpts"
    assert merge_output_dir(_paths(tmp_path, str(custom))) == custom.resolve()
