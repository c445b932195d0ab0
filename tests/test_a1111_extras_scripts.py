"""An extension's Extras script (A1111's ``scripts_postprocessing.ScriptPostprocessing``) runs in the Extras tab
and in ``/sdapi/v1/extra-single-image`` / ``extra-batch-images``, after the built-in steps, in ``order``, with
the controls of its ``ui()`` shown in the Extras tab. The extension is written here, in A1111's shape."""

from __future__ import annotations

import base64
import io
import textwrap

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.test_a1111_extensions import build_app

SCRIPT = """
    import gradio as gr
    from PIL import ImageOps

    from modules import scripts_postprocessing
    from modules.ui_components import InputAccordion

    ORDER = []


    class InvertExtras(scripts_postprocessing.ScriptPostprocessing):
        name = "Invert probe"
        order = 5000

        def ui(self):
            with InputAccordion(True, label="Invert probe") as enable:
                amount = gr.Slider(0, 10, value=3, label="Amount", elem_id="extras_invert_probe_amount")
            return {"enable": enable, "amount": amount}

        def process_firstpass(self, pp, enable, amount):
            ORDER.append("firstpass " + self.name)

        def process(self, pp, enable, amount):
            ORDER.append("process " + self.name)
            if enable:
                pp.image = ImageOps.invert(pp.image.convert("RGB"))
                pp.info["Invert probe"] = amount


    class EarlierExtras(scripts_postprocessing.ScriptPostprocessing):
        name = "Earlier probe"
        order = 10

        def process(self, pp):
            ORDER.append("process " + self.name)
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("extras-scripts")
    path = data / "extensions" / "invert-extras" / "scripts" / "invert.py"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    backend, app = build_app(data)
    backend.start_background_init(load_model=False)
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.backend = backend
        yield client


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def pixel(text: str) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB").getpixel((0, 0))


def order_seen(api) -> list[str]:
    import sys

    loaded = api.backend.extensions.postprocessing_scripts[0]
    return sys.modules[loaded.cls.__module__].ORDER


def test_extra_single_image_runs_the_extension_script_in_order(api):
    order_seen(api).clear()
    answer = api.post("/sdapi/v1/extra-single-image", json={"image": b64(Image.new("RGB", (8, 8), (10, 20, 30)))})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert pixel(body["image"]) == (245, 235, 225)  # inverted: the script ran with its defaults (enabled)
    assert "Invert probe: 3" in body["html_info"]
    # A1111: every first pass, then every process, each in ``order`` (Earlier: 10, Invert: 5000)
    assert order_seen(api) == ["firstpass Invert probe", "process Earlier probe", "process Invert probe"]


def test_extra_batch_images_runs_it_on_each_image(api):
    images = [{"data": b64(Image.new("RGB", (8, 8), (0, 0, 0))), "name": f"{n}.png"} for n in range(2)]
    answer = api.post("/sdapi/v1/extra-batch-images", json={"imageList": images})
    assert answer.status_code == 200, answer.text
    assert [pixel(text) for text in answer.json()["images"]] == [(255, 255, 255)] * 2


def test_extras_tab_shows_the_scripts_controls_and_passes_their_values(api):
    from modules.ui.blocks import build_ui

    demo = build_ui(api.backend)
    amount = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "extras_invert_probe_amount"]
    assert len(amount) == 1 and amount[0].value == 3
    extensions = api.backend.extensions
    image, info = extensions.run_postprocessing_scripts(
        Image.new("RGB", (4, 4), (0, 0, 0)), {"Invert probe": {"enable": False, "amount": 7}}
    )
    assert image.getpixel((0, 0)) == (0, 0, 0) and info == {}  # the tab's values replace the defaults


def test_extras_tab_in_chromium_runs_the_script_with_the_values_set_there(tmp_path, start_server, page):
    import glob
    from pathlib import Path

    data = tmp_path / "data"
    path = data / "extensions" / "invert-extras" / "scripts" / "invert.py"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    server = start_server([], data_dir=data)
    source = tmp_path / "source.png"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(source)
    page.goto(server.url)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.locator("#extras_script_invert_probe").get_by_text("Invert probe").last.click()  # open its accordion
    page.locator("#extras_invert_probe_amount").wait_for()  # the script's control, in the Extras tab
    page.locator("#extras_invert_probe_amount input[type=number]").fill("9")
    page.locator("#extras_invert_probe_amount input[type=number]").press("Enter")
    page.locator("#extras_image input[type=file]").set_input_files(str(source))
    page.locator("#extras_generate").click()
    page.wait_for_function("() => document.querySelectorAll('#extras_gallery img').length >= 1", timeout=60_000)
    pattern = str(data / "outputs" / "extras-images" / "**" / "*.png")
    files = [Path(p) for p in glob.glob(pattern, recursive=True)]
    assert len(files) == 1
    saved = Image.open(files[0])
    assert saved.convert("RGB").getpixel((0, 0)) == (245, 235, 225)  # inverted by the extension's script
    assert "Invert probe: 9" in saved.info.get("postprocessing", "")  # with the value set in the tab
