"""End-to-end generation on tiny random-weight checkpoints, through the same path a user's request takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from modules.images.metadata import read_infotext
from modules.jobs.queue import JobInterrupted
from modules.processing.infotext import parse_infotext
from modules.processing.params import GenerationParams, InvalidParams
from modules.processing.samplers import list_samplers
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

SMALL = dict(width=64, height=64, steps=3, cfg_scale=5.0)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("gen")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    return make_backend(data)


def run(backend, **fields):
    return backend.generation.run(GenerationParams(**{**SMALL, **fields}))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def colour_count(image: Image.Image) -> int:
    """Distinct colours: latents that went NaN or were never denoised decode to one flat colour."""
    return len(np.unique(pixels(image).reshape(-1, 3), axis=0))


@pytest.mark.parametrize("sampler", [info.name for info in list_samplers()])
def test_every_sampler_gives_a_finite_image_and_is_deterministic(backend, sampler):
    first = run(backend, prompt="a cat", seed=7, sampler_name=sampler, do_not_save_samples=True)
    second = run(backend, prompt="a cat", seed=7, sampler_name=sampler, do_not_save_samples=True)
    assert first.images[0].size == (64, 64)
    assert colour_count(first.images[0]) > 16
    assert (pixels(first.images[0]) == pixels(second.images[0])).all()
    assert f"Sampler: {sampler}" in first.infotexts[0]


def test_batch_seeds_are_seed_plus_index_and_file_has_infotext(backend):
    result = run(backend, prompt="a photo of a cat", negative_prompt="blurry", seed=100, batch_size=2, n_iter=2)
    assert result.all_seeds == [100, 101, 102, 103]
    assert result.index_of_first_image == 1 and len(result.images) == 5  # grid first
    assert len(result.saved_paths) == 4
    saved = Image.open(result.saved_paths[2])
    text, _ = read_infotext(saved)
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "a photo of a cat" and parsed["Negative prompt"] == "blurry"
    assert parsed["Seed"] == 102 and parsed["Steps"] == 3 and parsed["Size-1"] == 64
    assert "txt2img-images" in result.saved_paths[0]
    grids = list((backend.paths.data / "outputs" / "txt2img-grids").rglob("*.png"))
    assert grids, "the batch grid is saved under outputs/txt2img-grids"


def test_random_seed_is_reported(backend):
    result = run(backend, prompt="x", seed=-1, do_not_save_samples=True)
    assert result.seed >= 0 and f"Seed: {result.seed}" in result.infotexts[0]


def test_variation_seed_changes_image_and_is_recorded(backend):
    plain = run(backend, prompt="x", seed=5, do_not_save_samples=True)
    varied = run(backend, prompt="x", seed=5, subseed=9, subseed_strength=0.5, do_not_save_samples=True)
    assert (pixels(plain.images[0]) != pixels(varied.images[0])).any()
    assert "Variation seed: 9" in varied.infotexts[0]


def test_img2img_keeps_size_and_records_denoising(backend):
    init = Image.new("RGB", (80, 48), (200, 30, 30))
    result = run(
        backend, mode="img2img", init_images=(init,), denoising_strength=0.6, prompt="red", do_not_save_samples=True
    )
    assert result.images[0].size == (64, 64)
    assert "Denoising strength: 0.6" in result.infotexts[0]


def test_inpaint_original_with_no_blur_keeps_unmasked_pixels(backend):
    rng = np.random.default_rng(0)
    init = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    result = run(
        backend,
        mode="img2img",
        init_images=(init,),
        mask=mask,
        mask_blur=0,
        inpainting_fill=1,
        denoising_strength=0.9,
        prompt="x",
        do_not_save_samples=True,
    )
    out, original = pixels(result.images[0]), pixels(init)
    outside = np.asarray(mask) == 0
    assert (out[outside] == original[outside]).all()
    assert (out[~outside] != original[~outside]).any()


def test_hires_fix_gives_upscaled_size(backend):
    result = run(
        backend,
        prompt="x",
        enable_hr=True,
        hr_scale=1.5,
        hr_upscaler="Latent",
        denoising_strength=0.5,
        hr_second_pass_steps=2,
        do_not_save_samples=True,
    )
    assert result.images[0].size == (96, 96)
    assert "Hires upscale: 1.5" in result.infotexts[0] and "Hires upscaler: Latent" in result.infotexts[0]
    lanczos = run(
        backend,
        prompt="x",
        enable_hr=True,
        hr_resize_x=128,
        hr_resize_y=80,
        hr_upscaler="Lanczos",
        do_not_save_samples=True,
    )
    assert lanczos.images[0].size == (128, 80)


def test_interrupt_returns_early(backend):
    steps_seen = []

    def task_interrupt(job):
        from modules.processing.pipeline import generate

        original = job.update

        def update(**fields):
            original(**fields)
            if fields.get("sampling_step", 0) >= 1:
                steps_seen.append(fields["sampling_step"])
                job.interrupt()

        job.update = update
        return generate(backend, GenerationParams(**{**SMALL, "steps": 20, "n_iter": 3, "prompt": "x"}), job)

    result = backend.jobs.run(task_interrupt)
    assert result.interrupted and len(result.images) == 1
    assert max(steps_seen) < 20


def test_interrupt_before_any_image_is_an_error(backend):
    job = backend.generation.submit(GenerationParams(**{**SMALL, "prompt": "x"}))
    job.interrupt()
    with pytest.raises(JobInterrupted):
        job.wait(timeout=60)


def test_bad_values_are_clear_errors(backend):
    with pytest.raises(InvalidParams, match="width"):
        run(backend, width=70)
    with pytest.raises(ValueError, match="sampler"):
        run(backend, sampler_name="No Such Sampler")


def test_legacy_sampler_name_is_split(backend):
    result = run(backend, prompt="x", sampler_name="DPM++ 2M Karras", do_not_save_samples=True, seed=1)
    assert "Sampler: DPM++ 2M" in result.infotexts[0]


def test_output_folder_setting_is_honoured(backend, tmp_path):
    target = tmp_path / "custom"
    result = run(
        backend, prompt="x", override_settings={"outdir_txt2img_samples": str(target), "samples_format": "jpg"}
    )
    assert result.saved_paths[0].startswith(str(target)) and result.saved_paths[0].endswith(".jpg")
    text, _ = read_infotext(Image.open(result.saved_paths[0]))
    assert text == result.infotexts[0]


def test_tiling_changes_output_and_restores_model(backend):
    plain = run(backend, prompt="x", seed=3, do_not_save_samples=True)
    tiled = run(backend, prompt="x", seed=3, tiling=True, do_not_save_samples=True)
    assert (pixels(plain.images[0]) != pixels(tiled.images[0])).any()
    assert "Tiling: True" in tiled.infotexts[0]
    again = run(backend, prompt="x", seed=3, do_not_save_samples=True)
    assert (pixels(plain.images[0]) == pixels(again.images[0])).all()


def test_prompt_syntax_reaches_the_model(backend):
    base = run(backend, prompt="a cat", seed=11, do_not_save_samples=True)
    weighted = run(backend, prompt="(a cat:1.6)", seed=11, do_not_save_samples=True)
    edited = run(backend, prompt="[a dog:a cat:0.5]", seed=11, do_not_save_samples=True)
    composed = run(backend, prompt="a cat AND a dog :0.5", seed=11, do_not_save_samples=True)
    for other in (weighted, edited, composed):
        assert (pixels(base.images[0]) != pixels(other.images[0])).any()
    assert colour_count(composed.images[0]) > 16


def test_lora_in_prompt_changes_image_and_weights_are_restored(backend):
    from tests.checkpoint_factory import write_lora

    write_lora(backend.paths.lora / "detail.safetensors", "sd15_tiny", seed=3)
    unet = backend.models.current.unet
    before = {name: tensor.clone() for name, tensor in unet.state_dict().items()}
    plain = run(backend, prompt="a cat", seed=4, do_not_save_samples=True)
    zero = run(backend, prompt="a cat <lora:detail:0>", seed=4, do_not_save_samples=True)
    full = run(backend, prompt="a cat <lora:detail:1>", seed=4, do_not_save_samples=True)
    assert (pixels(plain.images[0]) == pixels(zero.images[0])).all()
    assert (pixels(plain.images[0]) != pixels(full.images[0])).any()
    assert 'Lora hashes: "detail: ' in full.infotexts[0]
    assert full.all_prompts[0] == "a cat <lora:detail:1>"
    after = unet.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_embedding_by_file_name_is_used(backend):
    from tests.checkpoint_factory import write_embedding

    write_embedding(backend.paths.embeddings / "my-style.pt", vectors=2, width=32, seed=5)
    plain = run(backend, prompt="a cat", seed=4, do_not_save_samples=True)
    styled = run(backend, prompt="a cat my-style", seed=4, do_not_save_samples=True)
    assert (pixels(plain.images[0]) != pixels(styled.images[0])).any()
    assert "TI hashes: " in styled.infotexts[0] and "my-style" in styled.infotexts[0]


def test_hires_resize_to_both_sides_keeps_the_aspect_and_crops_like_a1111():
    import torch

    from modules.processing.hires import crop_latents, upscale_size

    square = GenerationParams(prompt="x", width=64, height=64, hr_resize_x=128, hr_resize_y=80)
    assert upscale_size(square, 128, 80) == (128, 128)  # cover 128x80 at 1:1, then crop rows
    wide = GenerationParams(prompt="x", width=128, height=64, hr_resize_x=128, hr_resize_y=128)
    assert upscale_size(wide, 128, 128) == (256, 128)
    assert upscale_size(GenerationParams(prompt="x", hr_resize_x=128), 128, 128) == (128, 128)
    latents = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16)
    cropped = crop_latents(latents, 128, 128, 128, 80)  # 6 latent rows cut: 3 above, 3 below
    assert cropped.shape == (1, 1, 10, 16) and torch.equal(cropped, latents[:, :, 3:13])
