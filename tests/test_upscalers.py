"""Upscaler registry, spandrel networks from tiny random weights in real key layouts, latent modes, Extras."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from modules import postprocessing
from modules.models.errors import ModelLoadError
from modules.upscaling import spandrel_loader, tiling
from modules.upscaling.options import OPTIONS
from modules.upscaling.upscalers import LATENT_UPSCALE_MODES, UpscalerRegistry, extra_upscaler_dirs, latent_upscale


def conv(sd, name, cin, cout):
    sd[f"{name}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
    sd[f"{name}.bias"] = torch.randn(cout) * 0.01


def rrdb_state_dict(nf=8, nb=2, gc=32, n_up=2, in_ch=3, out_ch=3, seed=0):
    """Random weights in the BasicSR / Real-ESRGAN RRDBNet key layout."""
    torch.manual_seed(seed)
    sd = {}
    conv(sd, "conv_first", in_ch, nf)
    for b in range(nb):
        for r in (1, 2, 3):
            for c in range(1, 5):
                conv(sd, f"body.{b}.rdb{r}.conv{c}", nf + (c - 1) * gc, gc)
            conv(sd, f"body.{b}.rdb{r}.conv5", nf + 4 * gc, nf)
    conv(sd, "conv_body", nf, nf)
    for k in range(1, n_up + 1):
        conv(sd, f"conv_up{k}", nf, nf)
    conv(sd, "conv_hr", nf, nf)
    conv(sd, "conv_last", nf, out_ch)
    return sd


def to_old_layout(sd, nb=2, n_up=2):
    """The same weights under the original ESRGAN ``model.N`` names."""
    old = {}
    for key, value in sd.items():
        head, kind = key.rsplit(".", 1)
        if head == "conv_first":
            old[f"model.0.{kind}"] = value
        elif head.startswith("body."):
            _, b, rdb, c = head.split(".")
            old[f"model.1.sub.{b}.RDB{rdb[-1]}.{c}.0.{kind}"] = value
        elif head == "conv_body":
            old[f"model.1.sub.{nb}.{kind}"] = value
        elif head.startswith("conv_up"):
            old[f"model.{3 * int(head[-1])}.{kind}"] = value
        elif head == "conv_hr":
            old[f"model.{3 * n_up + 2}.{kind}"] = value
        else:
            old[f"model.{3 * n_up + 4}.{kind}"] = value
    return old


def noise(width, height, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture
def esrgan_dir(tmp_path):
    folder = tmp_path / "models" / "ESRGAN"
    folder.mkdir(parents=True)
    torch.save({"params_ema": rrdb_state_dict()}, folder / "Tiny_4x.pth")
    return folder


def test_registry_lists_a1111_names_and_model_files(esrgan_dir):
    (esrgan_dir / "notes.txt").write_text("not a model")
    registry = UpscalerRegistry(esrgan_dir)
    assert registry.names() == ["None", "Lanczos", "Nearest", "Tiny_4x"]
    assert registry.get("Tiny_4x").kind == "model" and registry.get("Tiny_4x").scale == 4
    assert registry.hires_upscaler_names()[:6] == list(LATENT_UPSCALE_MODES)
    save_file(rrdb_state_dict(n_up=1, in_ch=12), str(esrgan_dir / "Other_x2.safetensors"))
    assert "Other_x2" not in registry.names()
    registry.refresh()
    assert registry.get("Other_x2").scale == 2
    with pytest.raises(KeyError):
        registry.get("Missing")
    with pytest.raises(ValueError):
        registry.get("Latent (bicubic)")
    assert UpscalerRegistry(esrgan_dir / "absent").names() == ["None", "Lanczos", "Nearest"]


def test_resample_upscalers_give_requested_size(tmp_path):
    registry = UpscalerRegistry(tmp_path)
    image = noise(64, 48)
    for name in ("Lanczos", "Nearest", "None"):
        assert registry.upscale(image, name, 2.0).size == (128, 96)
        assert registry.upscale(image, name, (100, 60)).size == (100, 60)
    nearest = np.array(registry.upscale(image, "Nearest", 2.0))
    assert (nearest[::2, ::2] == np.array(image)).all() and (nearest[1::2, 1::2] == np.array(image)).all()
    # A1111 rounds a scale target down to a multiple of 8
    assert registry.upscale(noise(30, 30), "Lanczos", 2.0).size == (56, 56)


@pytest.mark.parametrize("mode", list(LATENT_UPSCALE_MODES))
def test_latent_upscale_modes_shape(mode):
    latents = torch.randn(2, 4, 8, 8)
    out = latent_upscale(latents, mode, width=128, height=96)
    assert out.shape == (2, 4, 12, 16)
    assert torch.isfinite(out).all()


def test_latent_upscale_rejects_unknown_mode():
    with pytest.raises(ValueError):
        latent_upscale(torch.zeros(1, 4, 8, 8), "Latent (cubic)", 64, 64)


def bgr_forward(model, image):
    tensor = torch.from_numpy(np.array(image)[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        out = model(tensor)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return out[:, :, ::-1]


def test_esrgan_model_upscales_16_to_64(esrgan_dir):
    registry = UpscalerRegistry(esrgan_dir, settings={"ESRGAN_tile": 0})
    image = noise(16, 16)
    result = registry.upscale(image, "Tiny_4x", 4)
    assert result.size == (64, 64) and result.mode == "RGB"
    descriptor = spandrel_loader.load_descriptor(esrgan_dir / "Tiny_4x.pth")
    assert descriptor.architecture.id == "ESRGAN" and descriptor.scale == 4
    assert (np.array(result) == bgr_forward(descriptor.model, image)).all()
    assert not (np.array(result) == np.array(image.resize((64, 64), Image.Resampling.LANCZOS))).all()
    # 2x from a 4x network: one pass, then Lanczos down to the target
    assert registry.upscale(image, "Tiny_4x", 2.0).size == (32, 32)


def test_esrgan_tiles_are_counted_and_shape_kept(esrgan_dir):
    calls = []
    registry = UpscalerRegistry(esrgan_dir, settings={"ESRGAN_tile": 8, "ESRGAN_tile_overlap": 2})
    result = registry.upscale(noise(20, 12), "Tiny_4x", 4, progress=lambda done, total: calls.append((done, total)))
    assert result.size == (80, 48)
    assert calls[-1] == (6, 6) and len(calls) == 6  # 3 columns x 2 rows


def test_tiled_blending_matches_whole_image_for_a_local_model():
    class Nearest2x(torch.nn.Module):
        scale = 2

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    image = torch.rand(1, 3, 37, 29)
    whole = tiling.upscale_tensor(Nearest2x(), image, tile=0, overlap=0)
    tiled = tiling.upscale_tensor(Nearest2x(), image, tile=10, overlap=4)
    assert tiled.shape == (1, 3, 74, 58)
    assert torch.allclose(whole, tiled, atol=1e-6)


def test_old_esrgan_layout_loads_to_the_same_network(tmp_path):
    sd = rrdb_state_dict()
    save_file(sd, str(tmp_path / "new.safetensors"))
    save_file(to_old_layout(sd), str(tmp_path / "old.safetensors"))
    new = spandrel_loader.load_descriptor(tmp_path / "new.safetensors").model
    old = spandrel_loader.load_descriptor(tmp_path / "old.safetensors").model
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(new(x), old(x))


def test_realesrgan_x2_unshuffle_handles_odd_sizes():
    descriptor = spandrel_loader.describe(rrdb_state_dict(in_ch=12, n_up=2))
    assert descriptor.scale == 2
    with torch.no_grad():
        assert descriptor.model(torch.rand(1, 3, 16, 14)).shape == (1, 3, 32, 28)


def test_compact_network_is_recognised():
    torch.manual_seed(0)
    sd = {}
    conv(sd, "body.0", 3, 8)
    sd["body.1.weight"] = torch.full((8,), 0.25)
    conv(sd, "body.2", 8, 8)
    sd["body.3.weight"] = torch.full((8,), 0.25)
    conv(sd, "body.4", 8, 3 * 16)
    descriptor = spandrel_loader.describe(sd)
    assert descriptor.architecture.id == "Compact" and descriptor.scale == 4
    with torch.no_grad():
        assert descriptor.model(torch.rand(1, 3, 6, 5)).shape == (1, 3, 24, 20)


def swinir_state_dict(scale=2):
    """A tiny SwinIR (classical SR, pixelshuffle) built by spandrel's own class: the released key layout."""
    spandrel_loader.import_spandrel()
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(1)
    net = SwinIR(
        upscale=scale,
        in_chans=3,
        img_size=8,
        window_size=4,
        embed_dim=12,
        depths=[1],
        num_heads=[2],
        mlp_ratio=2,
        upsampler="pixelshuffle",
        resi_connection="1conv",
    )
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def test_swinir_file_in_its_a1111_folder_is_listed_and_upscales(tmp_path):
    models = tmp_path / "models"
    (models / "SwinIR").mkdir(parents=True)
    save_file(swinir_state_dict(), str(models / "SwinIR" / "TinySwin_x2.safetensors"))
    registry = UpscalerRegistry(models / "ESRGAN", extra_dirs=extra_upscaler_dirs(models), settings={"ESRGAN_tile": 0})
    assert registry.names() == ["None", "Lanczos", "Nearest", "TinySwin_x2"]
    assert registry.get("TinySwin_x2").scale == 2
    result = registry.upscale(noise(12, 8), "TinySwin_x2", 2)
    assert result.size == (24, 16)
    assert not (np.array(result) == np.array(noise(12, 8).resize((24, 16), Image.Resampling.LANCZOS))).all()


def test_unknown_architecture_and_pickled_code_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported architecture"):
        spandrel_loader.describe({"weird.weight": torch.zeros(3)})
    save_file({"weird.weight": torch.zeros(3)}, str(tmp_path / "weird.safetensors"))
    with pytest.raises(ModelLoadError, match="weird.safetensors.*not a usable model"):
        spandrel_loader.load_descriptor(tmp_path / "weird.safetensors")
    torch.save({"payload": Image.new("RGB", (2, 2))}, tmp_path / "evil.pth")  # any non-tensor object
    with pytest.raises(ModelLoadError, match="refused"):
        spandrel_loader.read_state_dict(tmp_path / "evil.pth")


def test_spandrel_import_leaves_no_torchvision_behind():
    import subprocess
    import sys

    code = (
        "import sys; from modules.upscaling import spandrel_loader as s; s.import_spandrel();"
        "import importlib.util; print('torchvision' in sys.modules, importlib.util.find_spec('torchvision'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False None"


def test_extras_scale_by_and_second_upscaler_blend(tmp_path):
    registry = UpscalerRegistry(tmp_path)
    image = noise(32, 24)
    image.info["parameters"] = "a cat\nSteps: 20"
    single, info = postprocessing.run_extras(image, registry=registry, upscaler_1="Lanczos", upscaling_resize=2)
    assert single.size == (64, 48)
    assert "Postprocess upscale by: 2, Postprocess upscaler: Lanczos" in info
    assert single.info["parameters"] == "a cat\nSteps: 20"
    assert single.info["postprocessing"] == "Postprocess upscale by: 2, Postprocess upscaler: Lanczos"
    blended, info2 = postprocessing.run_extras(
        image, registry=registry, upscaler_1="Lanczos", upscaler_2="Nearest", extras_upscaler_2_visibility=0.5
    )
    nearest = registry.upscale(image, "Nearest", 2.0)
    assert blended.size == (64, 48) and "Postprocess upscaler 2: Nearest" in info2
    assert not (np.array(blended) == np.array(single)).all()
    expected = Image.blend(single, nearest, 0.5)
    assert (np.array(blended) == np.array(expected)).all()
    invisible, _ = postprocessing.run_extras(image, registry=registry, upscaler_1="Lanczos", upscaler_2="Nearest")
    assert (np.array(invisible) == np.array(single)).all()


def test_extras_scale_to_crop_none_and_batch(esrgan_dir):
    registry = UpscalerRegistry(esrgan_dir)
    image = noise(40, 20)
    cropped, info = postprocessing.run_extras(
        image, registry=registry, resize_mode=1, upscaling_resize_w=64, upscaling_resize_h=64, upscaler_1="Tiny_4x"
    )
    assert cropped.size == (64, 64) and "Postprocess crop to: 64x64" in info
    kept, _ = postprocessing.run_extras(
        image,
        registry=registry,
        resize_mode=1,
        upscaling_resize_w=64,
        upscaling_resize_h=64,
        upscaling_crop=False,
        upscaler_1="Lanczos",
    )
    assert kept.size == (128, 64)
    untouched, info = postprocessing.run_extras(image, registry=registry)
    assert untouched.size == image.size and info == "<p></p>"
    results, _ = postprocessing.run_extras_batch([image, noise(16, 16)], registry=registry, upscaler_1="Nearest")
    assert [r.size for r in results] == [(80, 40), (32, 32)]
    limited, info = postprocessing.run_extras(
        noise(64, 32), registry=registry, upscaler_1="Lanczos", upscaling_resize=4, max_side_length=128
    )
    assert limited.size == (128, 64) and "Max side length: 128" in info
    with pytest.raises(KeyError):
        postprocessing.run_extras(image, registry=registry, upscaler_1="Missing")


def test_upscaling_options():
    options = {option.key: option for option in OPTIONS}
    assert options["ESRGAN_tile"].default == 192 and options["ESRGAN_tile_overlap"].default == 8
    assert options["upscaler_for_img2img"].default is None
    assert {option.section.id for option in OPTIONS} == {"upscaling", "face-restoration"}
    assert options["face_restoration"].default is False and options["code_former_weight"].default == 0.5
    assert options["face_restoration_model"].choice_list() == ["CodeFormer", "GFPGAN"]


def test_importing_upscalers_and_extras_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, modules.postprocessing, modules.upscaling.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available: GPU upscale not checked")
def test_esrgan_runs_on_cuda_half(esrgan_dir):
    cpu = UpscalerRegistry(esrgan_dir).upscale(noise(16, 16), "Tiny_4x", 4)
    gpu = UpscalerRegistry(esrgan_dir, device="cuda", dtype=torch.float16).upscale(noise(16, 16), "Tiny_4x", 4)
    assert gpu.size == (64, 64)
    assert np.abs(np.array(gpu).astype(int) - np.array(cpu).astype(int)).max() <= 3


def test_split_oversized_cuts_overlapping_target_sized_pieces():
    from modules.images.split_flip import split_oversized

    wide = noise(400, 100)
    pieces = split_oversized(wide, 128, 128, threshold=0.5, overlap_ratio=0.2)
    # resized to 512x128, then 128-wide pieces overlapping by at least 20%: ceil((512-25.6)/102.4) = 5
    assert [p.size for p in pieces] == [(128, 128)] * 5
    resized = np.array(wide.resize((512, 128)))
    assert (np.array(pieces[0]) == resized[:, :128]).all() and (np.array(pieces[-1]) == resized[:, -128:]).all()
    tall = split_oversized(noise(60, 300), 64, 128, threshold=0.9, overlap_ratio=0.0)
    assert len(tall) == 3 and {p.size for p in tall} == {(64, 128)}
    square = noise(100, 100)
    assert split_oversized(square, 128, 128) == [square]  # not oversized: untouched
    assert (
        split_oversized(noise(150, 100), 128, 128, threshold=0.5) != []
        and len(split_oversized(noise(150, 100), 128, 128, threshold=0.5)) == 1
    )  # ratio 0.67 above the threshold


def test_flipped_copies_and_extras_outputs(tmp_path):
    from modules.images.split_flip import flipped_copies

    image = noise(6, 4)
    horizontal, vertical, both = flipped_copies(image, ["Both", "Horizontal", "Vertically"])
    array = np.array(image)
    assert (np.array(horizontal) == array[:, ::-1]).all() and (np.array(vertical) == array[::-1]).all()
    assert (np.array(both) == array[::-1, ::-1]).all()
    with pytest.raises(ValueError, match="unknown flip option"):
        flipped_copies(image, ["Diagonal"])
    registry = UpscalerRegistry(tmp_path)
    source = noise(200, 50)
    source.info["parameters"] = "a cat"
    outputs, info = postprocessing.run_extras_all(
        source,
        registry=registry,
        resize_mode=1,
        upscaler_1="Lanczos",
        upscaling_resize_w=64,
        upscaling_resize_h=64,
        upscaling_crop=False,
        split_oversized=True,
        flip_options=("Horizontal",),
    )
    # upscaled to 256x64, split into 64x64 pieces, then one mirrored copy of each
    assert len(outputs) % 2 == 0 and {o.size for o in outputs} == {(64, 64)}
    half = len(outputs) // 2
    assert (np.array(outputs[half]) == np.array(outputs[0])[:, ::-1]).all()
    assert all(
        o.info["parameters"] == "a cat" and "Postprocess upscaler: Lanczos" in o.info["postprocessing"] for o in outputs
    )
    results, _ = postprocessing.run_extras_batch([source, noise(8, 8)], registry=registry, flip_options=("Both",))
    assert [r.size for r in results] == [(200, 50), (200, 50), (8, 8), (8, 8)]


def test_focal_crop_follows_detail_and_faces(tmp_path):
    from modules.images.focal_crop import focal_crop

    # a flat grey picture with one detailed patch on the right: entropy and corners both point there
    image = Image.new("RGB", (300, 100), (128, 128, 128))
    image.paste(noise(60, 60, seed=3), (220, 20))
    crop, debug = focal_crop(image, 100, 100, debug=True)
    assert crop.size == (100, 100) and debug.size == (300, 100)

    def detailed(picture):  # pixels of the noise patch (the rest is flat grey)
        return int((np.array(picture) != 128).any(axis=2).sum())

    assert detailed(crop) == detailed(image)  # the whole patch is inside the crop
    # a face far left outweighs the detail when its weight dominates
    (face_crop,) = focal_crop(
        image, 100, 100, face_weight=1.0, entropy_weight=0.0, edges_weight=0.0, find_faces=lambda im: [(0, 30, 40, 70)]
    )
    assert (np.array(face_crop) == np.array(image.crop((0, 0, 100, 100)))).all()
    # nothing to go by: the centre; smaller inputs are resized up to cover the target first
    (plain,) = focal_crop(Image.new("RGB", (50, 20)), 40, 40, entropy_weight=0, edges_weight=0)
    assert plain.size == (40, 40)
    outputs, _ = postprocessing.run_extras_all(
        image, registry=UpscalerRegistry(tmp_path), resize_mode=1, upscaling_resize_w=100, upscaling_resize_h=100,
        focal_crop=True,
    )  # fmt: skip
    assert [o.size for o in outputs] == [(100, 100)]
