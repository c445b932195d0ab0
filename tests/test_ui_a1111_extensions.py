"""Real A1111 extensions, unmodified, in Chromium: what a user of A1111 sees them do.

The shared fixtures (``../shared/fixtures/a1111-extensions``) are copied into the data folder's
``extensions/`` of one server: tagcomplete (popup while typing in the prompt, its settings in Settings),
aspect-ratio-helper (its controls beside width/height) and Image Browser (its tab lists the images just
generated). One server for the three, as a user would have them together.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import ROOT, RunningServer

FIXTURES = ROOT.parent / "shared" / "fixtures" / "a1111-extensions"
EXTENSIONS = ["a1111-sd-webui-tagcomplete", "sd-webui-aspect-ratio-helper", "stable-diffusion-webui-images-browser"]

# as tests/test_a1111_extensions.py: without the shared fixtures beside the checkout there is nothing to try;
# with them, a missing extension among them is a failure (fixture_dir)
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixture extensions not found at {FIXTURES}")


def fixture_dir(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the shared A1111 extension fixtures are needed beside the checkout")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("a1111_extensions")
    for name in EXTENSIONS:
        shutil.copytree(fixture_dir(name), data / "extensions" / name)
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    running = RunningServer(data, ["--api"])
    try:
        running.wait_up(timeout=240)
        yield running
    finally:
        running.stop()


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def open_page(page, server) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.wait_for_function("window.__webuiUiLoaded === true", timeout=180_000)
    page.errors = errors


def test_tagcomplete_popup_and_settings(server, page):
    open_page(page, server)
    # tagcomplete reads its tag base path and its 140k-tag CSV through /file= before it hooks the prompt boxes
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt > label > textarea.autocomplete') && allTags.length > 1000",
        timeout=90_000,
    )
    box = page.locator("#txt2img_prompt > label > textarea")
    box.click()
    box.press_sequentially("blue_", delay=60)
    popup = page.locator(".autocompleteParent.txt2img.p")
    popup.wait_for(state="visible")
    first = page.locator(".autocompleteResults.txt2img.p li").first
    first.wait_for()
    assert first.inner_text().lower().startswith("blue_")
    # the whole list shows over the page, not clipped by the prompt box: the last item is what its centre hits
    last_on_top = page.evaluate(
        """() => { const items = document.querySelectorAll('.autocompleteResults.txt2img.p li');
        const r = items[items.length - 1].getBoundingClientRect();
        return items[items.length - 1].contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"""
    )
    assert last_on_top
    first.click()
    assert page.locator("#txt2img_prompt textarea").input_value().lower().startswith("blue")

    page.locator("#tab_settings-button").click()
    page.locator("#settings_search textarea, #settings_search input").first.fill("tag autocomplete")
    page.locator("#setting_tac_active").wait_for(state="visible")
    page.locator("#setting_tac_maxResults").wait_for(state="visible")
    assert "Tag Autocomplete" in page.locator("#tab_settings").inner_text()


def test_aspect_ratio_helper_beside_width_and_height(server, page):
    open_page(page, server)
    picker = page.locator("#txt2img_select_aspect_ratio")
    picker.wait_for(state="visible")
    options = picker.locator("option").all_inner_texts()
    assert "16:9" in options and "🔒" in "".join(options) or len(options) > 3
    toolbox = page.locator("#txt2img_size_toolbox")
    width = page.locator("#txt2img_width").bounding_box()
    box = toolbox.bounding_box()
    assert width is not None and box is not None
    assert abs((box["y"] + box["height"] / 2) - (width["y"] + width["height"])) < 150, "beside width/height"
    # locking 1:1 and changing the width changes the height to match
    picker.select_option("1:1")
    slider = page.locator("#txt2img_width input[type=number]")
    slider.fill("320")
    slider.press("Enter")
    page.wait_for_function("document.querySelector('#txt2img_height input[type=number]').value === '320'")


def test_image_browser_lists_images_just_generated(server, page):
    result = post_json(
        server.url + "/sdapi/v1/txt2img",
        {"prompt": "a tiny test", "steps": 2, "width": 64, "height": 64, "batch_size": 2, "save_images": True},
    )
    assert len(result["images"]) >= 2 and base64.b64decode(result["images"][0])[:4] == b"\x89PNG"
    saved = sorted((server.data_dir / "outputs").rglob("*.png"))
    assert len(saved) >= 2
    open_page(page, server)
    page.locator("#tab_image_browser-button").click()
    page.locator("#image_browser_tab_txt2img_control_image_browser_first_page").click()
    gallery = page.locator("#image_browser_tab_txt2img_image_browser_gallery")
    page.wait_for_function(
        "document.querySelectorAll('#image_browser_tab_txt2img_image_browser_gallery img').length >= 2",
        timeout=60_000,
    )
    sources = gallery.locator("img").evaluate_all("images => images.map(image => decodeURIComponent(image.src))")
    names = {Path(path).name for path in saved}
    assert any(any(name in source for name in names) for source in sources), sources
