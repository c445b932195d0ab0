"""In Chromium: the page logs in through Gradio's form under --gradio-auth, and an idle page is quiet."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest


def test_login_then_an_idle_page_sends_at_most_one_request_per_10_seconds(start_server, page):
    server = start_server(["--gradio-auth", "u:p", "--api"])

    with pytest.raises(urllib.error.HTTPError) as refused:  # the API needs the login too
        urllib.request.urlopen(urllib.request.Request(server.url + "/sdapi/v1/txt2img", data=b"{}"), timeout=10)
    assert refused.value.code == 401

    page.goto(server.url)
    page.locator("input[type=password]").wait_for()
    page.locator("input[type=text], input[name=username]").first.fill("u")
    page.locator("input[type=password]").fill("p")
    page.keyboard.press("Enter")
    page.locator("#txt2img_prompt").wait_for()
    page.wait_for_function(
        "(() => { const s = document.querySelector('#model_status'); "
        "return s && s.innerText.trim() && !s.innerText.includes('Starting'); })()",
        timeout=120_000,
    )
    page.wait_for_timeout(3000)  # let the last fast status poll see that nothing is running

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(20_000)  # (Playwright delivers request events only while it is called)
    assert len(requests) <= 2, requests  # 20 s idle: at most one request per 10 s
    assert any(url.endswith("/webui/status") for url in requests)  # the status is still followed, slowly

    # a click may start something: the page asks at once, then every second while the server is busy
    requests.clear()
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_message").get_by_text("No checkpoints found").wait_for()
    page.wait_for_timeout(2000)
    assert any(url.endswith("/webui/status") for url in requests)


def test_with_listen_the_settings_tab_cannot_send_images_outside_outputs(start_server, page, tmp_path):
    import json

    from tests.checkpoint_factory import write_checkpoint

    data = tmp_path / "site" / "data"
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    server = start_server(["--listen", "--api"], data_dir=data)
    page.goto(server.url)
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings_sections").get_by_text("Saving images/grids").click()
    pattern = page.locator("#setting_samples_filename_pattern textarea, #setting_samples_filename_pattern input")
    pattern.first.fill("../../../[seed]")
    page.locator("#settings_submit").click()
    page.locator("#settings_result").get_by_text("1 setting(s) changed").wait_for()

    # an output folder cannot be changed: the field is read-only and says why; a client that sends a new
    # value anyway (enabling the field) is refused with the reason
    page.locator("#settings_sections").get_by_text("Paths for saving").click()
    folder = page.locator("#setting_outdir_samples textarea, #setting_outdir_samples input").first
    assert folder.is_disabled()
    assert "reachable from other machines" in page.locator("#setting_outdir_samples").inner_text()
    folder.evaluate("element => { element.disabled = false; }")
    folder.fill(str(tmp_path / "escaped"))
    page.locator("#settings_submit").click()
    page.locator("#settings_result").get_by_text("outdir_samples cannot be changed").wait_for()
    assert json.loads((data / "config.json").read_text())["samples_filename_pattern"] == "../../../[seed]"

    request = urllib.request.Request(
        server.url + "/sdapi/v1/txt2img",
        data=json.dumps(
            {"prompt": "a", "steps": 1, "width": 64, "height": 64, "seed": 5, "save_images": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        assert answer.status == 200
    written = [p for p in (tmp_path / "site").rglob("*.png")]
    assert written and all(p.is_relative_to(data / "outputs") for p in written), written
    assert not (tmp_path / "escaped").exists()
