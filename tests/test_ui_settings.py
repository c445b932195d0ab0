"""Browser tests of the Settings tab and page-wide options (no checkpoint needed)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def dark_server(tmp_path_factory):
    """One server, started with --theme dark, for the tests that only read the page."""
    running = RunningServer(tmp_path_factory.mktemp("settings_data"), ["--theme", "dark"])
    try:
        running.wait_up()
        yield running
    finally:
        running.stop()


def open_settings(page, server):
    page.goto(server.url)
    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings_submit").wait_for()


def test_changed_setting_survives_restart(start_server, page, tmp_path):
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    open_settings(page, server)
    page.locator("#settings_sections").get_by_text("Saving images/grids").click()
    box = page.locator("#setting_samples_format textarea, #setting_samples_format input").first
    box.fill("jpg")
    page.locator("#settings_submit").click()
    page.locator("#settings_result").get_by_text("1 setting(s) changed").wait_for()
    assert json.loads((data / "config.json").read_text())["samples_format"] == "jpg"
    server.stop()

    again = start_server(data_dir=data)
    open_settings(page, again)
    page.locator("#settings_sections").get_by_text("Saving images/grids").click()
    box = page.locator("#setting_samples_format textarea, #setting_samples_format input").first
    page.wait_for_function(
        "document.querySelector('#setting_samples_format textarea, #setting_samples_format input').value === 'jpg'"
    )
    assert box.input_value() == "jpg"


def test_search_filters_settings(dark_server, page):
    open_settings(page, dark_server)
    page.locator("#settings_search textarea, #settings_search input").first.fill("jpeg")
    page.locator("#setting_jpeg_quality").wait_for(state="visible")
    page.locator("#setting_samples_format").wait_for(state="hidden")


def test_freeze_settings_is_read_only(start_server, page):
    server = start_server(["--freeze-settings"])
    open_settings(page, server)
    page.locator("#settings_result").get_by_text("read-only").wait_for()
    assert page.locator("#settings_submit").is_disabled()


def test_dark_theme_from_flag(dark_server, page):
    page.goto(dark_server.url)
    page.get_by_role("tab", name="txt2img").wait_for()
    assert "__theme=dark" in page.url
    page.wait_for_function("document.body.classList.contains('dark')")


def test_reload_ui_rebuilds_page_after_structural_setting(start_server, page, tmp_path):
    """quicksettings_list shapes the page: Reload UI restarts the server and the top bar follows it."""
    import urllib.request

    server = start_server(["--api"], data_dir=tmp_path / "reload")
    open_settings(page, server)
    assert page.locator("#quicksetting_CLIP_stop_at_last_layers").count() == 1
    request = urllib.request.Request(
        server.url + "/sdapi/v1/options",
        method="POST",
        data=json.dumps({"quicksettings_list": ["sd_model_checkpoint"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()
    page.locator("#settings_reload_ui").click()
    page.wait_for_function(
        "!document.querySelector('#quicksetting_CLIP_stop_at_last_layers')"
        " && document.querySelector('#quicksetting_sd_model_checkpoint')",
        timeout=90_000,
    )
