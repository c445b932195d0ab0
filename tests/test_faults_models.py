"""Fault injection over every model folder: a bad file never breaks the server or the loaded model.

Every folder (checkpoints, VAE, LoRA, embeddings, upscalers, ControlNet) × every fault (malicious pickle,
truncated, zero bytes, 8 GB header claim, deeply nested header, wrong shapes, non-UTF-8 name, symlink loop,
directory named like a model file), through the in-process HTTP API: the listings answer, using the file
gives a 4xx naming it (or works, for the valid file with a non-UTF-8 name), no 5xx anywhere, no pickle code
runs, and the next txt2img succeeds with the previously selected checkpoint.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from fastapi.testclient import TestClient

from tests._fault_files import FAULTS, KINDS, png_bytes, remove_faults, valid_state
from tests.checkpoint_factory import write_checkpoint, write_state_dict
from tests.test_api_helpers import build

FAST = {"steps": 1, "width": 64, "height": 64, "seed": 1}
FOLDERS = {
    "checkpoint": "models/Stable-diffusion",
    "vae": "models/VAE",
    "lora": "models/Lora",
    "embedding": "embeddings",
    "upscaler": "models/ESRGAN",
    "controlnet": "models/ControlNet",
}
LISTINGS = {
    "checkpoint": ("/sdapi/v1/refresh-checkpoints", "/sdapi/v1/sd-models"),
    "vae": ("/sdapi/v1/refresh-vae", "/sdapi/v1/sd-vae"),
    "lora": ("/sdapi/v1/refresh-loras", "/sdapi/v1/loras"),
    "embedding": ("/sdapi/v1/refresh-embeddings", "/sdapi/v1/embeddings"),
    "upscaler": (None, "/sdapi/v1/upscalers"),
    "controlnet": (None, "/controlnet/model_list?update=true"),
}
SEEN: dict[str, int] = {"cases": 0, "requests": 0, "5xx": 0, "markers": 0}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("faults")
    write_checkpoint("sd15_tiny", data / FOLDERS["checkpoint"] / "alpha.safetensors", seed=0)
    write_checkpoint("sd15_tiny", data / FOLDERS["checkpoint"] / "beta.safetensors", seed=1)
    for kind in KINDS[1:]:
        write_state_dict(valid_state(kind), data / FOLDERS[kind] / f"good_{kind}.safetensors")
    backend, app = build(data, "--no-hashing")
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # the start-up load (queued first) is done
    with TestClient(app) as client:
        client.backend = backend
        client.data = data
        yield client
    print(
        f"\nfault suite: {SEEN['cases']} cases, {SEEN['requests']} requests, {SEEN['5xx']} answers of 5xx, "
        f"{SEEN['markers']} marker files created by pickles"
    )


def _call(api, method: str, path: str, **kwargs):
    answer = api.request(method, path, **kwargs)
    SEEN["requests"] += 1
    if answer.status_code >= 500:
        SEEN["5xx"] += 1
    assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
    return answer


def _txt2img(api, **fields):
    return _call(api, "POST", "/sdapi/v1/txt2img", json={**FAST, **fields})


def _use(api, kind: str, name: str):
    """Select or use the file ``name`` the way a client would; returns the answer (never 5xx)."""
    stem = name.rsplit(".", 1)[0]
    if kind == "checkpoint":
        return _call(api, "POST", "/sdapi/v1/options", json={"sd_model_checkpoint": name})
    if kind == "vae":
        return _call(api, "POST", "/sdapi/v1/options", json={"sd_vae": name})
    if kind == "lora":
        return _txt2img(api, prompt=f"a cube <lora:{stem}:0.5>")
    if kind == "embedding":
        return _txt2img(api, prompt=f"a cube, {stem}")
    image = base64.b64encode(png_bytes()).decode()
    if kind == "upscaler":
        return _call(
            api,
            "POST",
            "/sdapi/v1/extra-single-image",
            json={"image": image, "upscaler_1": stem, "upscaling_resize": 2},
        )
    unit = {"enabled": True, "module": "none", "model": stem, "image": image}
    return _txt2img(api, prompt="a cube", alwayson_scripts={"controlnet": {"args": [unit]}})


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_model_file_is_refused_and_the_previous_model_keeps_working(api, kind, fault, tmp_path):
    SEEN["cases"] += 1
    folder = api.data / FOLDERS[kind]
    marker = tmp_path / "pwned"
    before = api.get("/sdapi/v1/options").json()
    name = FAULTS[fault](folder, kind, marker)
    try:
        refresh, listing = LISTINGS[kind]
        started = time.monotonic()
        if refresh:
            _call(api, "POST", refresh)
        if kind == "upscaler":  # A1111 has no refresh route for upscalers: the page's refresh does this
            api.backend.upscalers.refresh()
        listed = _call(api, "GET", listing).text
        assert time.monotonic() - started < 10, "the folder scan took too long"
        json.loads(listed)  # valid JSON even with names that are not UTF-8
        if name is not None:
            answer = _use(api, kind, name)
            if fault == "non_utf8_name":  # a valid file: listed with U+FFFD and usable by that name
                assert "\ufffd" in listed, listed[:300]
                assert answer.status_code == 200, answer.text[:500]
                if kind == "checkpoint":
                    assert name in api.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
                if kind in ("checkpoint", "vae"):  # back to the previous choice for the checks below
                    _call(
                        api, "POST", "/sdapi/v1/options", json={k: before[k] for k in ("sd_model_checkpoint", "sd_vae")}
                    )
            elif kind != "embedding":  # a broken embedding is skipped: its name is just a word
                assert 400 <= answer.status_code < 500, answer.text[:500]
                assert "Traceback" not in answer.text and "\\u001b[" not in answer.text
                if kind in ("checkpoint", "vae", "upscaler", "controlnet"):
                    assert name.rsplit(".", 1)[0] in answer.json()["detail"], answer.text[:500]
        SEEN["markers"] += marker.exists()
        assert not marker.exists(), "a pickle ran code"
        after = api.get("/sdapi/v1/options").json()
        assert after["sd_model_checkpoint"] == before["sd_model_checkpoint"]
        assert after["sd_vae"] == before["sd_vae"]
        result = _txt2img(api, prompt="a sphere")
        assert result.status_code == 200, result.text[:500]
        infotext = json.loads(result.json()["info"])["infotexts"][0]
        assert "Model: alpha" in infotext, infotext
    finally:
        remove_faults(folder)
        api.post("/sdapi/v1/refresh-checkpoints")
        api.post("/sdapi/v1/refresh-vae")
    assert SEEN["5xx"] == 0
