"""Chromium checks of the Extras tab's new sections (flipped copies come out as extra saved images, and
CodeFormer without its weights names the missing file) and of the img2img Interrogate buttons."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from PIL import Image

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui_extras")
    checkpoints = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", checkpoints / "tiny.safetensors", seed=0)
    running = RunningServer(data, [])
    try:
        running.wait_up()
    except Exception:
        print(running.log())
        running.stop()
        raise
    yield running
    running.stop()


def saved(server) -> list[Path]:
    return sorted(
        Path(p) for p in glob.glob(str(server.data_dir / "outputs" / "extras-images" / "**" / "*.png"), recursive=True)
    )


def test_flipped_copies_and_missing_codeformer_in_extras(server, page, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (40, 20), (200, 60, 30)).save(source)
    page.goto(server.url)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.locator("#extras_image input[type=file]").set_input_files(str(source))
    page.locator("#extras_flipped_copies").get_by_text("Create flipped copies").click()
    page.locator("#postprocess_flip_enable input[type=checkbox]").check()
    page.locator("#extras_generate").click()
    page.wait_for_function("() => document.querySelectorAll('#extras_gallery img').length >= 2", timeout=60_000)
    files = saved(server)
    assert len(files) == 2
    sizes = {Image.open(path).size for path in files}
    assert sizes == {(40, 20)}  # Upscaler 1 "None": the image itself and its mirrored copy
    page.locator("#extras_codeformer").get_by_text("CodeFormer").first.click()
    page.locator("#extras_codeformer_enable input[type=checkbox]").check()
    page.locator("#extras_generate").click()
    error = page.locator("#extras_message .error")
    error.wait_for(timeout=30_000)
    assert "codeformer-v0.1.0.pth" in error.inner_text()
    assert len(saved(server)) == 2


def test_img2img_interrogate_buttons(server, page, tmp_path):
    from tests.test_interrogate import write_deepbooru

    source = tmp_path / "source.png"
    Image.new("RGB", (64, 48), (20, 60, 200)).save(source)
    page.goto(server.url)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.locator("#img2img_prompt textarea").fill("kept on error")
    page.locator("#deepbooru").click()
    error = page.locator("#img2img_message .error")
    error.wait_for(timeout=30_000)
    assert "model-resnet_custom_v3.pt" in error.inner_text()
    assert page.locator("#img2img_prompt textarea").input_value() == "kept on error"
    write_deepbooru(server.data_dir / "models" / "torch_deepdanbooru" / "model-resnet_custom_v3.pt")
    page.locator("#deepbooru").click()
    page.wait_for_function(
        "() => document.querySelector('#img2img_prompt textarea').value.startsWith('long hair')", timeout=60_000
    )
    assert page.locator("#img2img_prompt textarea").input_value() == "long hair, smile \\(happy\\)"
    page.locator("#interrogate").click()
    page.locator("#img2img_message .error").get_by_text("model_base_caption_capfilt_large.pth").wait_for(timeout=30_000)
