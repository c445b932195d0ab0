"""Checkpoint merger: the three methods, inpainting channels, fp16, formats, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.merger import MergeError, MergeRequest, default_name, merge_checkpoints

KEY_W = "model.diffusion_model.input_blocks.0.0.weight"
KEY_B = "model.diffusion_model.out.2.bias"
KEY_TE = "cond_stage_model.transformer.text_model.embeddings.position_ids"
KEY_OTHER = "alphas_cumprod"  # no "model" in the name: copied from A, never merged


def write(path, seed: int, in_channels: int = 4, extra: dict | None = None):
    generator = torch.Generator().manual_seed(seed)
    state = {
        KEY_W: torch.randn(8, in_channels, 3, 3, generator=generator),
        KEY_B: torch.randn(4, generator=generator),
        KEY_TE: torch.arange(77, dtype=torch.int64).unsqueeze(0) + seed,
        KEY_OTHER: torch.rand(10, generator=generator),
    }
    state.update(extra or {})
    save_file(state, str(path))
    return state


@pytest.fixture
def models(tmp_path):
    return {
        name: (tmp_path / f"{name}.safetensors", write(tmp_path / f"{name}.safetensors", seed))
        for name, seed in (("a", 1), ("b", 2), ("c", 3))
    }


def test_weighted_sum(models, tmp_path):
    (a_path, a), (b_path, b) = models["a"], models["b"]
    out = merge_checkpoints(
        MergeRequest(
            a_path, b_path, method="Weighted sum", multiplier=0.3, custom_name="ws", output_dir=tmp_path / "out"
        )
    )
    assert out == tmp_path / "out" / "ws.safetensors"
    merged = load_file(str(out))
    torch.testing.assert_close(merged[KEY_W], a[KEY_W] * 0.7 + b[KEY_W] * 0.3)
    torch.testing.assert_close(merged[KEY_B], a[KEY_B] * 0.7 + b[KEY_B] * 0.3)
    assert torch.equal(merged[KEY_OTHER], a[KEY_OTHER])  # not a model weight: A's copy
    assert torch.equal(merged[KEY_TE], a[KEY_TE])  # skipped on merge, as A1111
    with safe_open(str(out), "pt") as handle:
        recipe = json.loads(handle.metadata()["sd_merge_recipe"])
    assert recipe["interp_method"] == "Weighted sum" and recipe["multiplier"] == 0.3


def test_add_difference_and_missing_key_in_c(models, tmp_path):
    (a_path, a), (b_path, b) = models["a"], models["b"]
    c_path = tmp_path / "c_partial.safetensors"
    c = write(c_path, 3)
    c_state = load_file(str(c_path))
    del c_state[KEY_B]
    save_file(c_state, str(c_path))
    out = merge_checkpoints(
        MergeRequest(a_path, b_path, c_path, method="Add difference", multiplier=0.5, custom_name="ad")
    )
    merged = load_file(str(out))
    torch.testing.assert_close(merged[KEY_W], a[KEY_W] + (b[KEY_W] - c[KEY_W]) * 0.5)
    assert torch.equal(merged[KEY_B], a[KEY_B])  # C lacks it: no difference is added


def test_no_interpolation_fp16_ckpt(models, tmp_path):
    a_path, a = models["a"]
    out = merge_checkpoints(
        MergeRequest(a_path, method="No interpolation", save_as_half=True, checkpoint_format="ckpt", custom_name="half")
    )
    assert out.suffix == ".ckpt"
    loaded = torch.load(out, weights_only=True)["state_dict"]
    assert loaded[KEY_W].dtype == torch.float16 and loaded[KEY_TE].dtype == torch.int64
    torch.testing.assert_close(loaded[KEY_W].float(), a[KEY_W], atol=1e-3, rtol=1e-3)


def test_ckpt_input_goes_through_the_safe_loader(models, tmp_path):
    a_path, _a = models["a"]
    b_state = load_file(str(models["b"][0]))
    b_ckpt = tmp_path / "b.ckpt"
    torch.save({"state_dict": b_state}, b_ckpt)
    out = merge_checkpoints(MergeRequest(a_path, b_ckpt, multiplier=1.0, custom_name="from_ckpt"))
    torch.testing.assert_close(load_file(str(out))[KEY_W], b_state[KEY_W])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": b_state, "x": Evil()}, evil)
    with pytest.raises(Exception, match="refused|not an allowed"):
        merge_checkpoints(MergeRequest(a_path, evil, custom_name="never"))
    assert not (tmp_path / "never.safetensors").exists()


def test_inpainting_primary_merges_first_four_channels(tmp_path):
    a = write(tmp_path / "inp.safetensors", 1, in_channels=9)
    b = write(tmp_path / "b.safetensors", 2)
    out = merge_checkpoints(
        MergeRequest(tmp_path / "inp.safetensors", tmp_path / "b.safetensors", multiplier=0.5, custom_name="x")
    )
    assert out.name == "x.inpainting.safetensors"
    merged = load_file(str(out))
    torch.testing.assert_close(merged[KEY_W][:, :4], a[KEY_W][:, :4] * 0.5 + b[KEY_W] * 0.5)
    assert torch.equal(merged[KEY_W][:, 4:], a[KEY_W][:, 4:])
    with pytest.raises(MergeError, match="primary model"):
        merge_checkpoints(MergeRequest(tmp_path / "b.safetensors", tmp_path / "inp.safetensors", custom_name="y"))


def test_errors_name_the_problem(models, tmp_path):
    a_path = models["a"][0]
    with pytest.raises(MergeError, match="secondary model"):
        merge_checkpoints(MergeRequest(a_path, method="Weighted sum"))
    with pytest.raises(MergeError, match="tertiary"):
        merge_checkpoints(MergeRequest(a_path, models["b"][0], method="Add difference"))
    with pytest.raises(MergeError, match="overwrite"):
        merge_checkpoints(MergeRequest(a_path, models["b"][0], custom_name="a"))
    with pytest.raises(MergeError, match="file name"):
        merge_checkpoints(MergeRequest(a_path, models["b"][0], custom_name="../escape"))
    other = tmp_path / "other.safetensors"
    save_file({KEY_W: torch.zeros(2, 2)}, str(other))
    with pytest.raises(MergeError, match="different architectures"):
        merge_checkpoints(MergeRequest(a_path, other, custom_name="z"))
    assert not list(tmp_path.glob(".*.tmp"))


def test_default_names():
    request = MergeRequest(primary=Path("/m/a.safetensors"), secondary=Path("/m/b.ckpt"), multiplier=0.3)
    assert default_name(request) == "0.7(a) + 0.3(b)"


def test_discard_weights(models):
    a_path = models["a"][0]
    out = merge_checkpoints(
        MergeRequest(a_path, method="No interpolation", discard_weights=r"out\.2", custom_name="discard")
    )
    assert KEY_B not in load_file(str(out)) and KEY_W in load_file(str(out))
