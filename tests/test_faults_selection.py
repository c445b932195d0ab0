"""Model selection is transactional and model failures stay local (issues #17 item 1, #18 item 5).

Through the in-process HTTP API on tiny random-weight files: a refused checkpoint or VAE leaves the previous
one loaded and selected; start-up skips a checkpoint that fails; a refused ``<checkpoint>.vae.pt`` falls back
to the checkpoint's own VAE with a warning; ``sd_vae`` works in ``override_settings`` and at once through
options; a ControlNet unit whose model cannot load is a 4xx naming the file, or skipped with a warning.
"""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from tests._fault_files import CreatesMarker, png_bytes, valid_state
from tests.checkpoint_factory import write_checkpoint, write_state_dict
from tests.test_api_helpers import build

FAST = {"prompt": "a cube", "steps": 1, "width": 64, "height": 64, "seed": 3}


def _start(data, *args):
    backend, app = build(data, *args)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # the start-up load (queued first) is done
    return backend, app


def _pixels(answer) -> np.ndarray:
    assert answer.status_code == 200, answer.text[:500]
    image = Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0])))
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("selection")
    folder = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    write_checkpoint("sd15_tiny", folder / "beta.safetensors", seed=1)
    vae = valid_state("vae")
    write_state_dict({k: v * 1.5 for k, v in vae.items()}, data / "models" / "VAE" / "other.safetensors")
    backend, app = _start(data)
    with TestClient(app) as client:
        client.backend = backend
        client.data = data
        yield client


def test_a_malicious_ckpt_selected_through_options_changes_nothing(api, tmp_path):
    marker = tmp_path / "pwned"
    evil = api.data / "models" / "Stable-diffusion" / "evil.ckpt"
    torch.save({"state_dict": valid_state("checkpoint"), "x": CreatesMarker(str(marker))}, evil)
    try:
        before = api.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
        answer = api.post("/sdapi/v1/options", json={"sd_model_checkpoint": "evil.ckpt"})
        assert 400 <= answer.status_code < 500 and "evil.ckpt" in answer.json()["detail"], answer.text
        assert "\n" not in answer.json()["detail"] and "\x1b" not in answer.json()["detail"]
        assert not marker.exists()
        assert api.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == before
        result = api.post("/sdapi/v1/txt2img", json=FAST)
        assert result.status_code == 200, result.text
        infotext = json.loads(result.json()["info"])["infotexts"][0]
        short_hash = api.backend.models.current.checkpoint.short_hash
        assert short_hash and f"Model hash: {short_hash}" in infotext and "Model: alpha" in infotext
    finally:
        evil.unlink()


def test_sd_vae_in_override_settings_and_through_options_takes_effect_at_once(api):
    own = _pixels(api.post("/sdapi/v1/txt2img", json=FAST))
    other = _pixels(api.post("/sdapi/v1/txt2img", json={**FAST, "override_settings": {"sd_vae": "other.safetensors"}}))
    assert np.abs(own - other).max() > 0, "the override VAE was not used"
    assert api.get("/sdapi/v1/options").json()["sd_vae"] == "Automatic"  # an override is not stored
    assert np.array_equal(_pixels(api.post("/sdapi/v1/txt2img", json=FAST)), own)  # and is undone
    missing = api.post("/sdapi/v1/txt2img", json={**FAST, "override_settings": {"sd_vae": "nope.safetensors"}})
    assert missing.status_code == 422 and "nope.safetensors" in missing.json()["detail"]
    assert api.post("/sdapi/v1/options", json={"sd_vae": "other.safetensors"}).status_code == 200
    try:
        assert api.backend.models.current.vae_info.name == "other.safetensors"  # loaded at once
        assert np.array_equal(_pixels(api.post("/sdapi/v1/txt2img", json=FAST)), other)
    finally:
        assert api.post("/sdapi/v1/options", json={"sd_vae": "Automatic"}).status_code == 200


def test_a_broken_vae_chosen_through_options_is_refused_and_nothing_changes(api):
    broken = api.data / "models" / "VAE" / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    try:
        api.post("/sdapi/v1/refresh-vae")
        answer = api.post("/sdapi/v1/options", json={"sd_vae": "broken.safetensors"})
        assert answer.status_code == 422 and "broken.safetensors" in answer.json()["detail"], answer.text
        assert api.get("/sdapi/v1/options").json()["sd_vae"] == "Automatic"
        assert api.backend.models.current.vae_info is None
        from modules.ui.topbar import _apply_quicksetting  # the page's VAE dropdown: the same transaction

        _, message = _apply_quicksetting(api.backend, "sd_vae")("broken.safetensors")
        assert "not changed" in message and "broken.safetensors" in message
        assert api.backend.settings.get("sd_vae") == "Automatic" and api.backend.models.current.vae_info is None
    finally:
        broken.unlink()


def test_a_refused_checkpoint_vae_falls_back_to_the_checkpoints_own_vae(api, tmp_path):
    marker = tmp_path / "pwned"
    beside = api.data / "models" / "Stable-diffusion" / "beta.vae.pt"
    torch.save({"state_dict": valid_state("vae"), "x": CreatesMarker(str(marker))}, beside)
    try:
        api.post("/sdapi/v1/refresh-vae")
        beta = {**FAST, "override_settings": {"sd_model_checkpoint": "beta.safetensors"}}
        for _ in range(2):  # every generation works, not only the first
            answer = api.post("/sdapi/v1/txt2img", json=beta)
            assert answer.status_code == 200, answer.text
        assert not marker.exists()
        assert "beta.vae.pt" in api.backend.status and "own VAE" in api.backend.status
    finally:
        beside.unlink()
        api.post("/sdapi/v1/refresh-vae")


def test_start_up_skips_a_failing_checkpoint_and_loads_the_next(tmp_path):
    data = tmp_path / "data"
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    (folder / "aaa_truncated.safetensors").write_bytes(b"\x00" * 7)  # sorts first
    write_checkpoint("sd15_tiny", folder / "good.safetensors")
    (data / "config.json").write_text(json.dumps({"sd_model_checkpoint": "aaa_truncated.safetensors"}))
    backend, app = _start(data, "--no-hashing")
    assert backend.models.current is not None and backend.models.current.checkpoint.name == "good.safetensors"
    assert "aaa_truncated.safetensors" in backend.status and "skipped" in backend.status
    with TestClient(app) as client:
        assert client.post("/sdapi/v1/txt2img", json=FAST).status_code == 200
        assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "good.safetensors"


@pytest.fixture(scope="module")
def cn_api(tmp_path_factory):
    data = tmp_path_factory.mktemp("cn-faults")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    folder = data / "models" / "ControlNet"
    folder.mkdir(parents=True)
    (folder / "control_broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00[1,2,3]!")
    backend, app = _start(data, "--no-hashing")
    with TestClient(app) as client:
        client.backend = backend
        yield client


def _controlnet_request() -> dict:
    image = base64.b64encode(png_bytes()).decode()
    unit = {"enabled": True, "module": "none", "model": "control_broken", "image": image}
    return {**FAST, "alwayson_scripts": {"controlnet": {"args": [unit]}}}


def test_a_controlnet_unit_whose_model_cannot_load_fails_with_4xx_naming_the_file(cn_api):
    answer = cn_api.post("/sdapi/v1/txt2img", json=_controlnet_request())
    assert answer.status_code == 422, answer.text
    assert "control_broken.safetensors" in answer.json()["detail"] and "unit 0" in answer.json()["detail"]


def test_a_controlnet_unit_whose_model_cannot_load_is_skipped_with_a_warning_by_setting(cn_api):
    cn_api.backend.settings.update({"control_net_skip_unloadable_models": True}, save=False)
    try:
        answer = cn_api.post("/sdapi/v1/txt2img", json=_controlnet_request())
        assert answer.status_code == 200, answer.text
        comments = json.loads(answer.json()["info"]).get("comments", "")
        assert "ControlNet unit 0 skipped" in comments and "control_broken" in comments
        assert "ControlNet 0" not in json.loads(answer.json()["info"])["infotexts"][0]
    finally:
        cn_api.backend.settings.update({"control_net_skip_unloadable_models": False}, save=False)


def test_the_page_and_listings_survive_file_names_that_are_not_utf8(tmp_path):
    data = tmp_path / "data"
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    for sub in ("models/ESRGAN", "models/ControlNet", "models/Lora", "models/VAE", "models/Stable-diffusion"):
        folder = data / sub
        folder.mkdir(parents=True, exist_ok=True)
        path = os.fsdecode(bytes(folder) + b"/na\xefve.safetensors")
        with open(path, "wb") as handle:
            handle.write(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    backend, app = build(data, "--no-hashing", ui=True)
    backend.start_background_init(load_model=False)
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200, page.text[:500]
        for route in ("sd-models", "sd-vae", "loras", "upscalers"):
            answer = client.get(f"/sdapi/v1/{route}")
            assert answer.status_code == 200 and "na\ufffdve" in answer.text, (route, answer.text[:300])
        assert "na\ufffdve" in client.get("/controlnet/model_list").text


def test_a_failing_checkpoint_stored_by_the_settings_tab_does_not_fail_every_job(api, tmp_path):
    broken = api.data / "models" / "Stable-diffusion" / "zz_zero.safetensors"
    broken.write_bytes(b"")
    try:
        api.post("/sdapi/v1/refresh-checkpoints")
        assert api.post("/sdapi/v1/txt2img", json=FAST).status_code == 200  # the stored choice (alpha) is loaded
        before = api.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
        api.backend.settings.update({"sd_model_checkpoint": "zz_zero.safetensors"})  # as the Settings tab writes
        for _ in range(2):
            answer = api.post("/sdapi/v1/txt2img", json=FAST)
            assert answer.status_code == 200, answer.text
            assert "Model: alpha" in json.loads(answer.json()["info"])["infotexts"][0]
        assert api.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == before
        assert "zz_zero.safetensors" in api.backend.status
    finally:
        broken.unlink()
        api.post("/sdapi/v1/refresh-checkpoints")
