"""Extra Networks in Chromium: a LoRA card with its preview picture, click-to-insert, the metadata editor.

One real server with a tiny checkpoint, a tiny LoRA and a PNG beside it; the panel is the user's only way in.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.checkpoint_factory import write_checkpoint, write_hypernetwork, write_lora
from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("en_data")
    checkpoints = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", checkpoints / "tiny_a.safetensors", seed=0)
    lora_dir = data / "models" / "Lora"
    write_lora(lora_dir / "detail.safetensors", "sd15_tiny")
    Image.new("RGB", (32, 48), (200, 30, 30)).save(lora_dir / "detail.png")
    write_lora(lora_dir / "sub" / "other.safetensors", "sd15_tiny", seed=1)
    write_hypernetwork(data / "models" / "hypernetworks" / "inkwash.pt")
    Image.new("RGB", (24, 40), (30, 30, 200)).save(data / "models" / "hypernetworks" / "inkwash.preview.png")
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


def open_lora_page(page, server):
    page.goto(server.url)
    page.locator("#model_status").get_by_text("Loaded").wait_for(timeout=90_000)
    page.locator("#txt2img_extra_networks").get_by_text("Extra Networks").first.click()
    page.locator("#txt2img_extra_network_tabs").get_by_role("tab", name="Lora", exact=True).click()
    card = page.locator('#txt2img_lora_cards .extra-network-card[data-name="detail"]')
    card.wait_for(timeout=30_000)
    return card


def test_lora_card_shows_preview_and_inserts_tag(server, page):
    card = open_lora_page(page, server)
    picture = card.locator("img.preview")
    picture.wait_for()
    selector = '#txt2img_lora_cards .extra-network-card[data-name="detail"] img'
    page.wait_for_function("(selector) => document.querySelector(selector).naturalWidth === 32", arg=selector)
    page.locator("#txt2img_prompt textarea").fill("a cat")
    card.locator(".name").click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a cat <lora:detail:1>'")
    card.locator(".name").click()  # a second click takes it out again, as in A1111
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a cat'")


def test_hypernetworks_tab_shows_a_card_that_inserts_the_tag(server, page):
    page.goto(server.url)
    page.locator("#model_status").get_by_text("Loaded").wait_for(timeout=90_000)
    page.locator("#txt2img_extra_networks").get_by_text("Extra Networks").first.click()
    page.locator("#txt2img_extra_network_tabs").get_by_role("tab", name="Hypernetworks", exact=True).click()
    card = page.locator('#txt2img_hypernetworks_cards .extra-network-card[data-name="inkwash"]')
    card.wait_for(timeout=30_000)
    selector = '#txt2img_hypernetworks_cards .extra-network-card[data-name="inkwash"] img'
    page.wait_for_function("(selector) => document.querySelector(selector).naturalWidth === 24", arg=selector)
    page.locator("#txt2img_prompt textarea").fill("a cat")
    card.locator(".name").click()
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a cat <hypernet:inkwash:1>'")


def test_search_and_folder_filter(server, page):
    open_lora_page(page, server)
    assert page.locator("#txt2img_lora_cards .extra-network-card").count() == 2
    page.locator("#txt2img_extra_search textarea, #txt2img_extra_search input").first.fill("oth")
    page.wait_for_function("document.querySelectorAll('#txt2img_lora_cards .extra-network-card').length === 1")
    assert page.locator('#txt2img_lora_cards .extra-network-card[data-name="other"]').count() == 1


def test_metadata_editor_saves_json_and_preferred_weight_is_used(server, page):
    card = open_lora_page(page, server)
    card.hover()
    card.locator(".edit-button").click()
    page.locator("#txt2img_extra_editor_title").get_by_text("detail.safetensors").wait_for(timeout=30_000)
    assert "ss_network_dim" in page.locator("#txt2img_extra_editor_title").inner_text()  # training metadata
    page.locator("#txt2img_extra_description textarea").fill("sharper details")
    page.locator("#txt2img_extra_activation textarea").fill("highly detailed")
    weight = page.locator("#txt2img_extra_weight input[type=number]")
    weight.fill("0.6")
    weight.press("Enter")
    page.locator("#txt2img_extra_notes textarea").fill("my note")
    page.locator("#txt2img_extra_save").click()
    page.locator("#txt2img_extra_message").get_by_text("Saved detail.json").wait_for(timeout=30_000)

    saved = json.loads((server.data_dir / "models" / "Lora" / "detail.json").read_text(encoding="utf-8"))
    assert saved["description"] == "sharper details"
    assert saved["activation text"] == "highly detailed"
    assert saved["preferred weight"] == pytest.approx(0.6)
    assert saved["notes"] == "my note"

    page.reload()
    card = open_lora_page(page, server)
    page.locator("#txt2img_prompt textarea").fill("")
    card.locator(".name").click()
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === '<lora:detail:0.6> highly detailed'"
    )


def test_preview_route_serves_only_model_folder_pictures(server):
    outside = server.data_dir / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    inside = server.data_dir / "models" / "Lora" / "detail.png"
    with urllib.request.urlopen(f"{server.url}/sd_extra_networks/thumb?filename={inside}") as response:
        assert response.status == 200 and response.read()[:4] == b"\x89PNG"
    traversal = server.data_dir / "models" / "Lora" / ".." / ".." / "secret.png"
    for name in (str(outside), str(traversal), str(server.data_dir / "models" / "Lora" / "detail.safetensors")):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.url}/sd_extra_networks/thumb?filename={name}")
        assert caught.value.code == 404


def test_unknown_lora_warns_in_the_result(server, page):
    page.goto(server.url)
    page.locator("#model_status").get_by_text("Loaded").wait_for(timeout=90_000)
    page.locator("#txt2img_prompt textarea").fill("a cat <lora:nosuch:1>")
    for name, value in (("steps", 1), ("width", 64), ("height", 64)):
        box = page.locator(f"#txt2img_{name} input[type=number]")
        box.fill(str(value))
        box.press("Enter")
    page.locator("#txt2img_generate").click()
    page.locator("#html_log_txt2img").get_by_text("Networks not found: nosuch").wait_for(timeout=120_000)
