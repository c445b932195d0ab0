"""Browser tests of the generating tabs: Chromium (Playwright) against one real server with tiny checkpoints.

One server is shared by the module (tests run in file order; the checkpoint switch comes last). Sizes are
64x64 with a few steps so the whole file stays well under a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import glob
import re
import time
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import RunningServer

GENERATION_TIMEOUT = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui_data")
    checkpoints = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", checkpoints / "tiny_a.safetensors", seed=0)
    write_checkpoint("sd15_tiny", checkpoints / "tiny_b.safetensors", seed=1)
    running = RunningServer(data, ["--ckpt", str(checkpoints / "tiny_a.safetensors")])
    try:
        running.wait_up()
    except Exception:
        print(running.log())
        running.stop()
        raise
    yield running
    running.stop()
    assert "Traceback" not in running.log().replace("ClientDisconnect", ""), running.log()[-4000:]


def open_page(page, server, tab: str = "txt2img"):
    page.goto(server.url)
    page.locator("#model_status").get_by_text("Loaded").wait_for(timeout=90_000)
    page.get_by_role("tab", name=tab, exact=True).click()


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def small(page, tab: str, steps: int = 2) -> None:
    for name, value in (("steps", steps), ("width", 64), ("height", 64)):
        set_number(page, f"{tab}_{name}", value)


def generate_and_wait(page, tab: str) -> str:
    """Click Generate and wait until a new result (or an error) is shown; return the shown infotext.

    A tiny run can finish before Interrupt ever becomes visible, so completion is recognised by the infotext
    changing (every run here has a random seed) with Generate visible again.
    """
    info = f"#html_info_{tab}"
    before = page.locator(info).inner_text()
    page.locator(f"#{tab}_generate").click()
    page.wait_for_function(
        """([info, message, generate, before]) => {
            const text = document.querySelector(info).innerText;
            const error = document.querySelector(message + " .error");
            const button = document.querySelector(generate);
            return (text !== before || error !== null) && button && button.offsetParent !== null;
        }""",
        arg=[info, f"#{tab}_message", f"#{tab}_generate", before],
        timeout=GENERATION_TIMEOUT,
    )
    errors = page.locator(f"#{tab}_message .error")
    assert errors.count() == 0, errors.first.inner_text()
    page.locator(f"#{tab}_gallery img").first.wait_for(timeout=10_000)
    return page.locator(info).inner_text().strip()


def saved_images(server, folder: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(server.data_dir / "outputs" / folder / "*" / "*.png")))


def test_txt2img_generates_and_saves_with_infotext(server, page):
    open_page(page, server)
    before = set(saved_images(server, "txt2img-images"))
    page.locator("#txt2img_prompt textarea").fill("a lighthouse at dusk")
    page.locator("#txt2img_token_counter").get_by_text(re.compile(r"^\d+/75$")).wait_for()
    small(page, "txt2img")
    shown = generate_and_wait(page, "txt2img")
    new = [path for path in saved_images(server, "txt2img-images") if path not in before]
    assert len(new) == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", new[0].parent.name)
    with Image.open(new[0]) as image:
        infotext = image.info["parameters"]
        assert image.size == (64, 64)
    assert infotext.startswith("a lighthouse at dusk\nSteps: 2, ")
    assert "Size: 64x64" in infotext and "CFG scale: 7," in infotext and "Model: tiny_a" in infotext
    assert shown == infotext
    seed = re.search(r"Seed: (\d+)", infotext).group(1)
    page.locator("#txt2img_reuse_seed").click()
    page.wait_for_function(f"document.querySelector('#txt2img_seed input').value === '{seed}'")


def test_paste_button_fills_fields(server, page):
    open_page(page, server)
    page.locator("#txt2img_prompt textarea").fill(
        "a red fox\nNegative prompt: blurry\nSteps: 9, Sampler: Euler a, CFG scale: 5.5, Seed: 42, Size: 96x128"
    )
    page.locator("#txt2img_paste").click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a red fox'")
    assert page.locator("#txt2img_neg_prompt textarea").input_value() == "blurry"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "9"
    assert page.locator("#txt2img_cfg_scale input[type=number]").input_value() == "5.5"
    assert page.locator("#txt2img_seed input").input_value() == "42"
    assert page.locator("#txt2img_width input[type=number]").input_value() == "96"
    assert page.locator("#txt2img_height input[type=number]").input_value() == "128"
    assert page.locator("#txt2img_sampling input").input_value() == "Euler a"


def test_interrupt_returns_early(server, page):
    open_page(page, server)
    page.locator("#txt2img_prompt textarea").fill("a very long run")
    small(page, "txt2img", steps=150)
    started = time.monotonic()
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_progress").get_by_text(re.compile(r"Step [1-9]\d*/150")).wait_for(timeout=60_000)
    page.locator("#txt2img_interrupt").click()
    page.locator("#txt2img_generate").wait_for(state="visible", timeout=30_000)
    assert time.monotonic() - started < 60
    page.get_by_text("Interrupted").first.wait_for()


def test_img2img_with_uploaded_image(server, page, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (80, 64), (200, 60, 30)).save(source)
    open_page(page, server, "img2img")
    before = set(saved_images(server, "img2img-images"))
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.locator("#img2img_prompt textarea").fill("an orange wall")
    small(page, "img2img")
    shown = generate_and_wait(page, "img2img")
    assert "Denoising strength: 0.75" in shown and "Size: 64x64" in shown
    new = [path for path in saved_images(server, "img2img-images") if path not in before]
    assert len(new) == 1


def test_inpaint_upload_with_mask(server, page, tmp_path):
    source, mask = tmp_path / "source.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (20, 90, 200)).save(source)
    mask_image = Image.new("L", (64, 64), 0)
    mask_image.paste(255, (16, 16, 48, 48))
    mask_image.save(mask)
    open_page(page, server, "img2img")
    page.get_by_role("tab", name="Inpaint upload").click()
    page.locator("#img_inpaint_base input[type=file]").set_input_files(str(source))
    page.locator("#img_inpaint_mask input[type=file]").set_input_files(str(mask))
    page.locator("#img2img_mask_blur").wait_for(state="visible")  # inpainting options appear in this mode
    page.locator("#img2img_prompt textarea").fill("a yellow square")
    small(page, "img2img")
    shown = generate_and_wait(page, "img2img")
    assert "Mask blur: 4" in shown
    with Image.open(saved_images(server, "img2img-images")[-1]) as result:
        corner = result.convert("RGB").getpixel((1, 1))
    assert (
        max(abs(a - b) for a, b in zip(corner, (20, 90, 200), strict=True)) < 40
    )  # outside the mask: the original kept


def test_img2img_batch_from_directory_saves_under_the_input_names(server, page, tmp_path):
    folder, out = tmp_path / "batch_in", tmp_path / "batch_out"
    folder.mkdir()
    for name, color in (("first", (200, 30, 30)), ("second", (30, 200, 30))):
        Image.new("RGB", (64, 64), color).save(folder / f"{name}.png")
    open_page(page, server, "img2img")
    page.locator("#mode_img2img").get_by_role("tab", name="Batch", exact=True).click()
    page.get_by_role("tab", name="From directory", exact=True).click()
    page.locator("#img2img_batch_input_dir textarea").fill(str(folder))
    page.locator("#img2img_batch_output_dir textarea").fill(str(out))
    page.locator("#img2img_prompt textarea").fill("two walls")
    small(page, "img2img")
    generate_and_wait(page, "img2img")
    page.locator("#img2img_gallery img").nth(1).wait_for(timeout=10_000)  # both results shown
    assert sorted(path.name for path in out.iterdir()) == ["first.png", "second.png"]


def test_png_info_send_to_txt2img(server, page, tmp_path):
    infotext = (
        "a castle on a hill\nNegative prompt: fog\nSteps: 7, Sampler: Euler a, CFG scale: 4.5, "
        "Seed: 1234, Size: 128x96, Model hash: 0123456789"
    )
    path = tmp_path / "with_info.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", infotext)
    Image.new("RGB", (128, 96)).save(path, pnginfo=info)
    open_page(page, server, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(path))
    page.locator("#pnginfo_html_info").get_by_text("Seed: 1234", exact=False).wait_for()
    page.locator("#pnginfo_send_txt2img").click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a castle on a hill'")
    assert page.locator("#tab_txt2img").is_visible()
    assert page.locator("#txt2img_neg_prompt textarea").input_value() == "fog"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "7"
    assert page.locator("#txt2img_sampling input").input_value() == "Euler a"
    assert page.locator("#txt2img_cfg_scale input[type=number]").input_value() == "4.5"
    assert page.locator("#txt2img_seed input").input_value() == "1234"
    assert page.locator("#txt2img_width input[type=number]").input_value() == "128"
    assert page.locator("#txt2img_height input[type=number]").input_value() == "96"


def test_two_tabs_generate_at_once_each_gets_its_own(server, page, browser):
    other_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = other_context.new_page()
    other.set_default_timeout(30_000)
    try:
        pages = {"first tab prompt": (page, 150), "second tab prompt": (other, 8)}
        for prompt, (tab_page, steps) in pages.items():
            open_page(tab_page, server)
            tab_page.locator("#txt2img_prompt textarea").fill(prompt)
            small(tab_page, "txt2img", steps=steps)
        for name in ("width", "height"):
            set_number(page, f"txt2img_{name}", 256)
        # the first job is long (a tiny run can end between two progress updates), so the second one is
        # queued while it runs; it is then interrupted, which still shows its image and infotext
        page.locator("#txt2img_generate").click()
        page.locator("#txt2img_progress").get_by_text("Step").wait_for(timeout=60_000)
        other.locator("#txt2img_generate").click()
        other.locator("#txt2img_progress").get_by_text("Waiting… position 1 in queue").wait_for(timeout=10_000)
        page.locator("#txt2img_interrupt").click()
        for prompt, (tab_page, steps) in pages.items():
            tab_page.locator("#txt2img_generate").wait_for(state="visible", timeout=GENERATION_TIMEOUT)
            shown = tab_page.locator("#html_info_txt2img").inner_text()
            assert shown.startswith(prompt + "\n"), shown
            assert f"Steps: {steps}," in shown
    finally:
        other_context.close()


def test_checkpoint_switch(server, page):
    open_page(page, server)
    dropdown = page.locator("#setting_sd_model_checkpoint input")
    dropdown.click()
    page.get_by_role("option", name=re.compile(r"^tiny_b\.safetensors")).click()
    page.locator("#model_status").get_by_text(re.compile(r"Loaded tiny_b\.safetensors")).wait_for(timeout=90_000)
    page.locator("#txt2img_prompt textarea").fill("after the switch")
    small(page, "txt2img")
    shown = generate_and_wait(page, "txt2img")
    assert "Model: tiny_b" in shown
