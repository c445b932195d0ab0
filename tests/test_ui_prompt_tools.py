"""Chromium: A1111's small habits on the txt2img tab: Ctrl+Up/Down emphasis, Generate forever from the Generate
button's context menu, hover titles on every icon button, and the 🗃️ zip of the shown images."""

from __future__ import annotations

import glob
import zipfile
from pathlib import Path

import pytest

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import RunningServer
from tests.test_ui_generation import generate_and_wait, open_page, small


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("tools_data")
    checkpoints = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", checkpoints / "tiny_a.safetensors", seed=0)
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


def press_at(page, text: str, caret: int, key: str, end: int | None = None) -> str:
    box = page.locator("#txt2img_prompt textarea")
    box.fill(text)
    box.evaluate("(box, [start, end]) => box.setSelectionRange(start, end)", [caret, caret if end is None else end])
    box.press(key)
    return box.input_value()


EMPHASIS_CASES = [
    ("a cat, dog", 3, None, "Control+ArrowUp", "a (cat:1.1), dog"),
    ("a cat, dog", 3, None, "Control+ArrowDown", "a (cat:0.9), dog"),
    ("a (cat:1.1), dog", 4, None, "Control+ArrowDown", "a cat, dog"),
    ("a (cat:1.1), dog", 4, None, "Control+ArrowUp", "a (cat:1.2), dog"),
    ("x <lora:ink:1>", 5, None, "Control+ArrowUp", "x <lora:ink:1.05>"),
    ("((dog)) run", 3, None, "Control+ArrowUp", "(dog:1.3) run"),
    ("[dog] run", 2, None, "Control+ArrowDown", "(dog:0.8) run"),
    ("red big house", 0, 7, "Control+ArrowUp", "(red big:1.1) house"),
]


def test_ctrl_up_down_changes_emphasis_as_a1111(server, page):
    open_page(page, server)
    results = [press_at(page, text, caret, key, end) for text, caret, end, key, _ in EMPHASIS_CASES]
    assert results == [case[-1] for case in EMPHASIS_CASES]


def test_icon_buttons_have_hover_titles(server, page):
    open_page(page, server)
    page.locator("#save_zip_txt2img").wait_for(state="attached")
    page.wait_for_timeout(500)  # titles are added by the page script after render
    missing = page.evaluate(
        """() => Array.from(document.querySelectorAll('#tab_txt2img button.tool, #quicksettings button.tool'))
            .filter((button) => !button.title).map((button) => button.id || button.textContent)"""
    )
    assert missing == []
    assert page.locator("#save_zip_txt2img").get_attribute("title").startswith("Save zip archive")


def saved_images(server) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(server.data_dir / "outputs" / "txt2img-images" / "*" / "*.png")))


def test_zip_button_saves_a_zip_of_the_shown_images(server, page):
    open_page(page, server)
    page.locator("#txt2img_prompt textarea").fill("a boat")
    small(page, "txt2img", steps=1)
    page.locator("#txt2img_batch_size input[type=number]").fill("2")
    page.locator("#txt2img_batch_size input[type=number]").press("Enter")
    generate_and_wait(page, "txt2img")
    page.locator("#save_zip_txt2img").click()
    page.locator("#txt2img_message").get_by_text(".zip").wait_for(timeout=30_000)
    archives = list((server.data_dir / "log" / "images").glob("*.zip"))
    assert len(archives) == 1 and "[tiny_a]" in archives[0].name
    with zipfile.ZipFile(archives[0]) as archive:
        names = sorted(archive.namelist())
    saved = sorted(path.name for path in (server.data_dir / "log" / "images").glob("*.png"))
    assert names == saved and len(saved) >= 2  # both images (and the grid when shown)


def test_generate_forever_until_cancelled(server, page):
    open_page(page, server)
    page.locator("#txt2img_prompt textarea").fill("a tree")
    small(page, "txt2img", steps=1)
    before = len(saved_images(server))
    page.locator("#txt2img_generate").click(button="right")
    page.locator("#context-menu li[data-action='Generate forever']").click()
    deadline_ms = 120_000
    waited = 0
    while len(saved_images(server)) < before + 3 and waited < deadline_ms:
        page.wait_for_timeout(500)
        waited += 500
    assert len(saved_images(server)) >= before + 3, "Generate forever did not keep generating"
    page.locator("#txt2img_generate_box").click(button="right", timeout=60_000)
    page.locator("#context-menu li[data-action='Cancel generate forever']").click()
    page.wait_for_timeout(1500)
    page.wait_for_function("() => document.querySelector('#txt2img_generate').offsetParent !== null", timeout=60_000)
    settled = len(saved_images(server))
    page.wait_for_timeout(4000)
    assert len(saved_images(server)) == settled
