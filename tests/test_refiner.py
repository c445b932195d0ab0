"""Refiner and Hires checkpoint through the API: a second model takes over inside the same job and the
infotext names both models as A1111 writes them."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from modules.processing import model_switch
from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, decode, png_b64

FAST = {"steps": 4, "width": 64, "height": 64, "seed": 7, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("refiner")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    write_checkpoint("sd15_tiny", folder / "beta.safetensors", seed=1)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)
    with TestClient(app) as client:
        client.backend = backend
        yield client


def _run(api, path="/sdapi/v1/txt2img", **fields):
    answer = api.post(path, json={**FAST, "override_settings": {"sd_model_checkpoint": "alpha"}, **fields})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    info = json.loads(result["info"])
    return decode(result["images"][info["index_of_first_image"]]), info["infotexts"][0]


def _params(api, infotext):
    image = png_b64(8, 8, info={"parameters": infotext})
    return api.post("/sdapi/v1/png-info", json={"image": image}).json()["parameters"]


def test_refiner_switches_model_in_the_same_job(api):
    plain, plain_text = _run(api)
    refined, text = _run(api, refiner_checkpoint="beta", refiner_switch_at=0.5)
    values = _params(api, text)
    beta = api.backend.models.find_checkpoint("beta")
    assert values["Model"] == "alpha" and values["Refiner"] == f"beta [{beta.sha256[:10]}]"
    assert float(values["Refiner switch at"]) == 0.5
    assert "Refiner" not in plain_text
    assert plain.tobytes() != refined.tobytes()  # the second half ran on the other model
    # switching at 1.0 never happens: the picture is the plain one and the infotext names no refiner
    same, same_text = _run(api, refiner_checkpoint="beta", refiner_switch_at=1.0)
    assert same.tobytes() == plain.tobytes() and "Refiner" not in same_text
    # the next job runs on the selected model again
    again, _ = _run(api)
    assert again.tobytes() == plain.tobytes()


def test_refiner_in_img2img_and_the_infotext_request_field(api):
    init = png_b64(64, 64)
    _, text = _run(
        api,
        "/sdapi/v1/img2img",
        init_images=[init],
        denoising_strength=0.8,
        refiner_checkpoint="beta [x]",
        refiner_switch_at=0.3,
    )
    assert "Refiner: beta [" in text and "Refiner switch at: 0.3" in text
    # an infotext naming a refiner fills the request's refiner fields
    _, again = _run(api, infotext=text)
    assert "Refiner: beta [" in again and "Refiner switch at: 0.3" in again


def test_hires_checkpoint_runs_the_second_pass_on_another_model(api):
    base, base_text = _run(api, enable_hr=True, hr_scale=2, denoising_strength=0.6)
    other, text = _run(api, enable_hr=True, hr_scale=2, denoising_strength=0.6, hr_checkpoint_name="beta")
    assert other.size == base.size == (128, 128)
    values = _params(api, text)
    assert values["Model"] == "alpha" and values["Hires checkpoint"].startswith("beta [")
    assert "Hires checkpoint" not in base_text and other.tobytes() != base.tobytes()
    # refiner with hires fix: A1111's default applies it to the second pass only
    _, both = _run(api, enable_hr=True, refiner_checkpoint="beta", refiner_switch_at=0.5)
    assert "Refiner: beta [" in both and "Hires refiner" not in both


def test_unknown_second_model_is_a_clear_4xx(api):
    for field in ({"refiner_checkpoint": "nope"}, {"enable_hr": True, "hr_checkpoint_name": "nope"}):
        answer = api.post("/sdapi/v1/txt2img", json={**FAST, **field})
        assert 400 <= answer.status_code < 500 and "nope" in answer.text


def test_switch_rules():
    assert [model_switch.should_switch(s, 10, 0.8) for s in (7, 8)] == [False, True]
    assert model_switch.should_switch(0, 10, None)
    assert model_switch.refiner_in_pass("first pass", True, False)
    assert not model_switch.refiner_in_pass("first pass", True, True)
    assert model_switch.refiner_in_pass("both passes", True, True)
    assert not model_switch.hires_checkpoint_wanted("Use same checkpoint")


@pytest.fixture(scope="module")
def sdxl_api(tmp_path_factory):
    data = tmp_path_factory.mktemp("refiner-sdxl")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sdxl_tiny", folder / "base.safetensors", seed=0)
    write_checkpoint("sdxl_tiny", folder / "refine.safetensors", seed=1)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)
    with TestClient(app) as client:
        client.backend = backend
        yield client


def test_sdxl_refiner_uses_its_own_conditioning(sdxl_api):
    body = {**FAST, "override_settings": {"sd_model_checkpoint": "base"}}
    plain = sdxl_api.post("/sdapi/v1/txt2img", json=body).json()
    answer = sdxl_api.post("/sdapi/v1/txt2img", json={**body, "refiner_checkpoint": "refine", "refiner_switch_at": 0.5})
    assert answer.status_code == 200, answer.text
    text = json.loads(answer.json()["info"])["infotexts"][0]
    assert "Model: base" in text and "Refiner: refine [" in text and "Refiner switch at: 0.5" in text
    assert answer.json()["images"][0] != plain["images"][0]
