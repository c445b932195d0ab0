"""Chromium: Settings → Defaults writes ui-config.json, Sysinfo downloads, Actions unload/reload the checkpoint;
Extensions → Available says it is offline, Backup/Restore saves a config state."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.checkpoint_factory import write_checkpoint
from tests.conftest import RunningServer
from tests.test_ui_generation import open_page, set_number


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("pages_data")
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


def open_settings_page(page, name: str) -> None:
    page.get_by_role("tab", name="Settings", exact=True).click()
    page.locator("#settings_extra_pages").get_by_role("tab", name=name, exact=True).click()


def test_defaults_apply_writes_ui_config(server, page):
    open_page(page, server)
    set_number(page, "txt2img_steps", 33)
    open_settings_page(page, "Defaults")
    page.locator("#ui_defaults_view").click()
    page.locator("#ui_defaults_review").get_by_text("txt2img/Sampling steps/value").wait_for(timeout=30_000)
    page.locator("#ui_defaults_apply").click()
    page.locator("#ui_defaults_review").get_by_text("changes.").wait_for(timeout=30_000)
    stored = json.loads((server.data_dir / "ui-config.json").read_text(encoding="utf-8"))
    assert stored["txt2img/Sampling steps/value"] == 33


def test_sysinfo_download(server, page):
    open_page(page, server)
    open_settings_page(page, "Sysinfo")
    with page.expect_download() as download_info:
        page.locator("#sysinfo_download_link").click()
    download = download_info.value
    assert download.suggested_filename.startswith("sysinfo-") and download.suggested_filename.endswith(".json")
    report = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert report["Version"].startswith("v1.10") and "Config" in report


def model_loaded(server) -> bool:
    with urllib.request.urlopen(f"{server.url}/webui/status") as response:
        return json.loads(response.read())["model_loaded"]


def test_actions_unload_and_reload_checkpoint(server, page):
    open_page(page, server)
    open_settings_page(page, "Actions")
    page.locator("#sett_unload_sd_model").click()
    page.locator("#settings_actions_result").get_by_text("Checkpoint unloaded.").wait_for(timeout=60_000)
    assert not model_loaded(server)
    page.locator("#sett_reload_sd_model").click()
    page.locator("#settings_actions_result").get_by_text("Checkpoint reloaded.").wait_for(timeout=90_000)
    assert model_loaded(server)
    page.locator("#sett_free_memory").click()
    page.locator("#settings_actions_result").get_by_text("Memory freed.").wait_for(timeout=60_000)


def test_extensions_available_offline_and_backup(server, page):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    open_page(page, server)
    page.get_by_role("tab", name="Extensions", exact=True).click()
    page.get_by_role("tab", name="Available", exact=True).click()
    page.locator("#extensions_index_url textarea, #extensions_index_url input").first.fill(
        f"http://127.0.0.1:{port}/index.json"
    )
    page.locator("#extensions_available_load").click()
    page.locator("#extensions_available_result").get_by_text("seems to be offline").wait_for(timeout=30_000)

    page.get_by_role("tab", name="Backup/Restore", exact=True).click()
    page.locator("#extension_backup_name textarea, #extension_backup_name input").first.fill("mine")
    page.locator("#extension_backup_save").click()
    page.locator("#extension_backup_message").get_by_text("Saved").wait_for(timeout=30_000)
    saved = list((server.data_dir / "config_states").glob("*_mine.json"))
    assert len(saved) == 1 and "extensions" in json.loads(saved[0].read_text(encoding="utf-8"))
