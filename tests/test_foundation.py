"""Foundation: flags, settings persistence, the server and the page in Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from modules.settings import sections
from modules.settings.cli import build_parser, parse_credentials, parse_flags, server_host, server_port
from modules.settings.options import build_registry
from modules.settings.registry import FrozenSettingsError, OptionInfo, OptionRegistry, Settings
from modules.settings.store import JsonSettingsStore, write_json_atomic

ROOT = Path(__file__).resolve().parent.parent

REQUIRED_FLAGS = [
    "--port 7000",
    "--listen",
    "--share",
    "--api",
    "--api-auth a:b",
    "--gradio-auth a:b",
    "--ckpt x.safetensors",
    "--ckpt-dir d",
    "--vae-dir d",
    "--lora-dir d",
    "--embeddings-dir d",
    "--data-dir d",
    "--models-dir d",
    "--ui-settings-file c.json",
    "--ui-config-file u.json",
    "--autolaunch",
    "--theme dark",
    "--use-cpu all",
    "--skip-torch-cuda-test",
    "--precision full",
    "--no-half",
    "--no-half-vae",
    "--medvram",
    "--lowvram",
    "--xformers",
    "--opt-sdp-attention",
    "--enable-insecure-extension-access",
    "--disable-safe-unpickle",
    "--freeze-settings",
    "--nowebui",
    "--device-id 1",
    "--skip-install",
    "--skip-venv",
]


@pytest.mark.parametrize("flag", REQUIRED_FLAGS)
def test_every_a1111_flag_is_accepted(flag):
    flags = parse_flags(flag.split())
    name = flag.split()[0].lstrip("-").replace("-", "_")
    assert getattr(flags, name) not in (None, False)


def test_unknown_flag_is_rejected_by_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(["--not-a-flag"])
    assert exit_info.value.code == 2
    assert "--not-a-flag" in capsys.readouterr().err


def test_help_has_one_line_per_flag():
    parser = build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"
            assert "\n" not in action.help


def test_host_and_port_defaults():
    assert (server_host(parse_flags([])), server_port(parse_flags([]))) == ("127.0.0.1", 7860)
    assert server_host(parse_flags(["--listen"])) == "0.0.0.0"
    assert server_port(parse_flags(["--nowebui"])) == 7861
    assert parse_credentials("a:b,c:d:e") == [("a", "b"), ("c", "d:e")]
    with pytest.raises(ValueError):
        parse_credentials("nopassword")


def _registry():
    section = sections.SYSTEM
    return OptionRegistry(
        [
            OptionInfo("steps", 20, "Steps", section, "slider", minimum=1, maximum=150),
            OptionInfo("name", "x", "Name", section),
            OptionInfo("flag", False, "Flag", section, "checkbox"),
        ]
    )


def test_settings_round_trip(tmp_path):
    path = tmp_path / "config.json"
    settings = Settings(_registry(), JsonSettingsStore(path))
    assert settings.get("steps") == 20
    settings.update({"steps": "30", "flag": "true"})
    reloaded = Settings(_registry(), JsonSettingsStore(path))
    assert reloaded.get("steps") == 30 and reloaded.get("flag") is True
    with pytest.raises(ValueError):
        reloaded.set("steps", 1000)
    assert json.loads(path.read_text())["steps"] == 30


def test_unknown_keys_survive_a_save(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"some_extension_option": [1, 2], "steps": 25}))
    settings = Settings(_registry(), JsonSettingsStore(path))
    settings.set("name", "y")
    saved = json.loads(path.read_text())
    assert saved == {"some_extension_option": [1, 2], "steps": 25, "name": "y"}


def test_corrupt_config_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "config.json"
    path.write_text("{ this is not json")
    settings = Settings(_registry(), JsonSettingsStore(path))
    assert settings.get("steps") == 20
    assert settings.load_warning and "config.json" in settings.load_warning
    backups = list(tmp_path.glob("config.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{ this is not json"
    assert not path.exists()


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path):
    path = tmp_path / "config.json"
    write_json_atomic(path, {"steps": 1})
    # the "crash" between write and rename
    with mock.patch("os.replace", side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"steps": 2})
    assert json.loads(path.read_text()) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary left behind


def test_frozen_settings_refuse_writes(tmp_path):
    settings = Settings(_registry(), JsonSettingsStore(tmp_path / "c.json"), frozen=True)
    with pytest.raises(FrozenSettingsError):
        settings.set("steps", 3)


def test_overlay_does_not_touch_shared_values(tmp_path):
    settings = Settings(_registry(), JsonSettingsStore(tmp_path / "c.json"))
    view = settings.overlay({"steps": 40})
    assert view.get("steps") == 40 and settings.get("steps") == 20


def test_registry_has_core_options():
    registry = build_registry()
    assert "localization" in registry and "quicksettings_list" in registry
    assert all(option.label for option in registry)


def test_launch_requirement_check_is_fast_and_correct():
    import time

    import launch

    requirements = launch.parse_requirements(ROOT / "requirements.txt")
    assert ("torch", "2.13.0") in requirements
    started = time.perf_counter()
    missing = launch.missing_requirements(requirements)
    assert time.perf_counter() - started < 1.0
    assert missing == []
    assert launch.missing_requirements([("surely-not-installed-pkg", None)]) == ["surely-not-installed-pkg"]
    assert launch.missing_requirements([("torch", "0.0.1")]) == ["torch==0.0.1"]


def test_launch_rejects_unknown_flag_before_installing():
    result = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "--bogus-flag"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--bogus-flag" in result.stderr


def test_server_serves_page_without_models(start_server):
    server = start_server()
    import urllib.request

    with urllib.request.urlopen(server.url + "/") as response:
        assert response.status == 200
        assert "<html" in response.read().decode().lower()


def test_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "webui.py"), "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=dict(os.environ),
        )
    assert result.returncode == 1
    assert "--port" in result.stderr and "Traceback" not in result.stderr


def test_page_shows_tabs_and_model_hint_in_chromium(start_server, page):
    server = start_server()
    page.goto(server.url)
    page.get_by_role("tab", name="txt2img").wait_for()
    page.get_by_role("tab", name="Settings").wait_for()
    status = page.locator("#model_status")
    status.get_by_text("No checkpoints found").wait_for(timeout=90_000)
    assert "Stable-diffusion" in status.inner_text()
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_message").get_by_text("No checkpoints found").wait_for()


def test_corrupt_settings_warning_is_shown_on_the_page(start_server, page, tmp_path):
    data = tmp_path / "corrupt"
    data.mkdir()
    (data / "config.json").write_text("{ not json")
    server = start_server(data_dir=data)
    page.goto(server.url)
    warning = page.locator("#startup_warnings")
    warning.get_by_text("could not be read").wait_for()
    assert "config.json" in warning.inner_text()
    assert list(data.glob("config.json.bak-*"))
