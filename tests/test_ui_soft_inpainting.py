"""Soft inpainting in Chromium: its accordion sits in img2img's inpaint controls, the paste button restores its
values from an infotext, and the values it runs with reach the result's infotext."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import RunningServer
from tests.test_ui_generation import GENERATION_TIMEOUT, generate_and_wait, open_page, small


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui_soft")
    checkpoints = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", checkpoints / "tiny.safetensors", seed=0)
    running = RunningServer(data)
    try:
        running.wait_up()
    except Exception:
        print(running.log())
        running.stop()
        raise
    yield running
    running.stop()
    assert "Traceback" not in running.log().replace("ClientDisconnect", ""), running.log()[-4000:]


def test_accordion_in_inpaint_mode_pastes_back_and_reaches_the_infotext(server, page, tmp_path):
    source, mask = tmp_path / "source.png", tmp_path / "mask.png"
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(source)
    mask_image = Image.new("L", (64, 64), 0)
    mask_image.paste(255, (0, 0, 24, 64))
    mask_image.save(mask)
    open_page(page, server, "img2img")
    accordion = page.locator("#inpaint_controls #soft_inpainting_enabled")
    assert not accordion.is_visible()  # plain img2img: no inpainting controls
    page.get_by_role("tab", name="Inpaint upload").click()
    accordion.wait_for(state="visible")

    page.locator("#img2img_prompt textarea").fill(
        "a pebble\nSteps: 2, Sampler: Euler, Size: 64x64, Soft inpainting enabled: True, "
        "Soft inpainting schedule bias: 2.5, Soft inpainting difference threshold: 1.5"
    )
    page.locator("#img2img_paste").click()
    page.wait_for_function("document.querySelector('#img2img_prompt textarea').value === 'a pebble'")
    checkbox = page.locator("#soft_inpainting_enabled-checkbox input[type=checkbox]")
    page.wait_for_function(
        "document.querySelector('#soft_inpainting_enabled-checkbox input[type=checkbox]').checked === true"
    )
    assert checkbox.is_checked()
    assert page.locator("#mask_blend_power input[type=number]").input_value() == "2.5"
    assert page.locator("#composite_difference_threshold input[type=number]").input_value() == "1.5"
    assert page.locator("#mask_blend_scale input[type=number]").input_value() == "0.5"  # not in the text: kept

    page.locator("#img_inpaint_base input[type=file]").set_input_files(str(source))
    page.locator("#img_inpaint_mask input[type=file]").set_input_files(str(mask))
    small(page, "img2img")
    shown = generate_and_wait(page, "img2img")
    for expected in (
        "Soft inpainting enabled: True",
        "Soft inpainting schedule bias: 2.5",
        "Soft inpainting preservation strength: 0.5",
        "Soft inpainting difference threshold: 1.5",
        "Soft inpainting difference contrast: 2",
    ):
        assert expected in shown, shown

    checkbox.uncheck()  # off again (the accordion closes with it): the next result has none of the keys
    page.locator("#mask_blend_power").wait_for(state="hidden")
    page.wait_for_timeout(500)  # the accordion's collapse event has come back
    assert not checkbox.is_checked()
    page.locator("#img2img_generate").click()
    page.wait_for_function(  # a new result whose infotext has none of the keys (times out if they stay)
        "document.querySelector('#html_info_img2img').innerText.includes('Mask blur: 4')"
        " && !document.querySelector('#html_info_img2img').innerText.includes('Soft inpainting')",
        timeout=GENERATION_TIMEOUT,
    )
