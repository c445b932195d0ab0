"""Chromium against a real server: the ControlNet panel (upload, canny preview, generate) and an example
extension's tab, script and page assets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.annotator_weights import write_hed_weights
from tests.checkpoint_factory import make_state_dict, write_checkpoint, write_state_dict
from tests.conftest import RunningServer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "extensions" / "example-ext"
CN = "#script_txt2img_controlnet"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("cn_ui")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    control = {
        k[len("control_model.") :]: v
        for k, v in make_state_dict("controlnet_sd15_tiny").items()
        if k.startswith("control_model.")
    }
    write_state_dict(control, data / "models" / "ControlNet" / "control_tiny.safetensors")
    shutil.copytree(FIXTURE, data / "extensions" / "example-ext")
    running = RunningServer(data, ["--controlnet-annotator-models-path", str(data / "annotators")])
    try:
        running.wait_up()
    except Exception:
        print(running.log())
        running.stop()
        raise
    yield running
    running.stop()


def choose(page, selector: str, option: str) -> None:
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).first.click()


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_controlnet_unit_preview_and_generate(server, page, tmp_path):
    source = tmp_path / "lines.png"
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((12, 12, 50, 50), outline="black", width=3)
    image.save(source)
    page.goto(server.url)
    page.locator("#model_status").get_by_text("Loaded").wait_for(timeout=90_000)
    for name, value in (("steps", 2), ("width", 64), ("height", 64)):
        set_number(page, f"txt2img_{name}", value)
    page.locator(f"{CN}_accordion").get_by_text("ControlNet", exact=True).first.click()
    page.locator(f"{CN}_unit0_image input[type=file]").set_input_files(str(source))
    page.locator(f"{CN}_unit0_image img").first.wait_for(timeout=30_000)
    choose(page, f"{CN}_unit0_module", "canny")
    page.locator(f"{CN}_unit0_run_preprocessor").click()
    page.locator(f"{CN}_unit0_preview img").first.wait_for(timeout=30_000)
    page.locator(f"{CN}_unit0_enable input").check()
    choose(page, f"{CN}_unit0_model", "control_tiny [")
    page.locator("#txt2img_prompt textarea").fill("a box")
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_interrupt").wait_for(state="visible", timeout=30_000)
    page.locator("#txt2img_generate").wait_for(state="visible", timeout=120_000)
    page.locator("#txt2img_gallery img").first.wait_for(timeout=10_000)
    info = page.locator("#html_info_txt2img").inner_text()
    assert re.search(r"ControlNet 0: \"Module: canny, Model: control_tiny \[[0-9a-f]{8}\], Weight: 1", info), info
    assert "Example: hello-3" in info  # the example extension's always-on script ran with its UI value


def test_annotator_weights_dropped_in_make_their_preprocessor_appear(server, page, tmp_path):
    source = tmp_path / "shape.png"
    image = Image.new("RGB", (80, 64), "white")
    ImageDraw.Draw(image).ellipse((10, 8, 60, 56), fill=(40, 40, 200))
    image.save(source)
    page.goto(server.url)
    page.locator(f"{CN}_accordion").get_by_text("ControlNet", exact=True).first.click()
    page.locator(f"{CN}_unit0_module input").click()
    page.get_by_role("option", name="canny", exact=True).wait_for()
    assert page.get_by_role("option", name="softedge_hed", exact=True).count() == 0
    page.keyboard.press("Escape")
    write_hed_weights(server.data_dir / "annotators" / "hed" / "ControlNetHED.pth")
    page.locator(f"{CN}_unit0_refresh_models").click()
    page.locator(f"{CN}_unit0_image input[type=file]").set_input_files(str(source))
    page.locator(f"{CN}_unit0_image img").first.wait_for(timeout=30_000)
    choose(page, f"{CN}_unit0_module", "softedge_hed")
    page.locator(f"{CN}_unit0_run_preprocessor").click()
    preview = page.locator(f"{CN}_unit0_preview img").first
    preview.wait_for(timeout=60_000)
    assert preview.evaluate("img => img.naturalWidth") > 0


def test_example_extension_tab_assets_and_extensions_list(server, page):
    page.goto(server.url)
    page.get_by_role("tab", name="Example tab").click()
    text = page.locator("#example_tab_text")
    text.wait_for()
    assert "Hello from the example extension" in text.inner_text()
    assert page.evaluate("window.exampleExtensionLoaded === true")
    assert text.evaluate("e => getComputedStyle(e).color") == "rgb(1, 2, 3)"
    page.get_by_role("tab", name="Extensions", exact=True).click()
    table = page.locator("#extensions")
    table.wait_for()
    assert "example-ext" in table.inner_text() and "sd-webui-controlnet" in table.inner_text()
