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
    running = RunningServer(data, ["--api"])  # --api: the Interrogate CLIP tests shorten BLIP captions
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


def _short_blip(server) -> None:
    """Short BLIP captions keep the random-weight decoder quick (A1111's interrogate_clip_* settings)."""
    import json
    import urllib.request

    body = json.dumps({"interrogate_clip_min_length": 4, "interrogate_clip_max_length": 8}).encode()
    request = urllib.request.Request(
        server.url + "/sdapi/v1/options", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=30).read()


def test_img2img_interrogate_clip_fills_the_prompt(server, page, tmp_path):
    from modules.interrogate.categories import SHIPPED, load_categories
    from tests.interrogate_factory import openai_clip_state, write_blip, write_torchscript_clip

    _short_blip(server)
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 48), (120, 200, 30)).save(source)
    page.goto(server.url)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.locator("#img2img_prompt textarea").fill("kept on error")
    page.locator("#interrogate").click()
    error = page.locator("#img2img_message .error")
    error.wait_for(timeout=30_000)
    assert "model_base_caption_capfilt_large.pth" in error.inner_text()
    assert page.locator("#img2img_prompt textarea").input_value() == "kept on error"
    models = server.data_dir / "models"
    write_blip(models / "BLIP" / "model_base_caption_capfilt_large.pth")
    write_torchscript_clip(models / "CLIP" / "ViT-L-14.pt", openai_clip_state())
    page.locator("#interrogate").click()
    page.wait_for_function(
        "() => document.querySelector('#img2img_prompt textarea').value !== 'kept on error'", timeout=120_000
    )
    prompt = page.locator("#img2img_prompt textarea").input_value()
    artists = load_categories(SHIPPED)[0].items
    assert prompt.split(", ")[0].strip() and prompt.split(", ")[1] in artists
    page.get_by_role("tab", name="Inpaint upload").click()  # the button reads the current mode's image
    page.locator("#interrogate").click()
    page.wait_for_function(
        "() => (document.querySelector('#img2img_message .error') || {}).innerText?.includes('Inpaint upload')",
        timeout=30_000,
    )
    assert page.locator("#img2img_prompt textarea").input_value() == prompt
    folder = tmp_path / "batch"  # Batch tab: A1111 writes each image's description to <name>.txt
    folder.mkdir()
    for name, color in (("one", (250, 0, 0)), ("two", (0, 0, 250))):
        Image.new("RGB", (48, 48), color).save(folder / f"{name}.png")
    page.get_by_role("tab", name="Batch", exact=True).click()
    page.get_by_role("tab", name="From directory").click()
    page.locator("#img2img_batch_input_dir textarea").fill(str(folder))
    page.locator("#interrogate").click()
    page.wait_for_function(
        "() => document.querySelector('#img2img_message').innerText.includes('Wrote descriptions of 2 images')",
        timeout=120_000,
    )
    for name in ("one", "two"):
        text = (folder / f"{name}.txt").read_text(encoding="utf-8")
        assert text.endswith("\n") and text.split(", ")[1] in artists
    assert page.locator("#img2img_prompt textarea").input_value() == prompt


def test_extras_caption_writes_txt_beside_the_image(server, page, tmp_path):
    from tests.interrogate_factory import openai_clip_state, write_blip, write_torchscript_clip
    from tests.test_interrogate import write_deepbooru

    _short_blip(server)
    models = server.data_dir / "models"
    write_deepbooru(models / "torch_deepdanbooru" / "model-resnet_custom_v3.pt")
    write_blip(models / "BLIP" / "model_base_caption_capfilt_large.pth")
    write_torchscript_clip(models / "CLIP" / "ViT-L-14.pt", openai_clip_state())
    before = set(saved(server))
    source = tmp_path / "source.png"
    Image.new("RGB", (40, 20), (10, 60, 230)).save(source)
    page.goto(server.url)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.locator("#extras_image input[type=file]").set_input_files(str(source))
    page.locator("#extras_caption").get_by_text("Caption").first.click()
    page.locator("#postprocess_caption_enable input[type=checkbox]").check()
    page.locator("#postprocess_caption_options").get_by_text("BLIP").click()
    page.locator("#extras_generate").click()
    page.wait_for_function("() => document.querySelectorAll('#extras_gallery img').length >= 1", timeout=120_000)
    new = sorted(set(saved(server)) - before)
    assert len(new) == 1
    caption = new[0].with_suffix(".txt").read_text(encoding="utf-8")
    assert caption.startswith("long hair, smile \\(happy\\), ") and len(caption.split(", ")) > 3
