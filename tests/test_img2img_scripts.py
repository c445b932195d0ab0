"""A1111's img2img scripts through the API: SD upscale, Outpainting mk2, Poor man's outpainting, Loopback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from modules.builtin_scripts import _tiles
from modules.builtin_scripts._matched_noise import match_histogram, matched_noise
from modules.builtin_scripts.loopback import loop_strength
from modules.builtin_scripts.poor_mans_outpainting import expansion
from modules.builtin_scripts.sd_upscale import upscaler_name
from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, decode, png_b64

FAST = {"steps": 2, "width": 64, "height": 64, "seed": 3, "sampler_name": "Euler", "denoising_strength": 0.5}
SCRIPTS = ("SD upscale", "Outpainting mk2", "Poor man's outpainting", "Loopback")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("img2img-scripts")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "tiny.safetensors", seed=0)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)
    with TestClient(app) as client:
        client.data = data
        yield client


def _img2img(api, name, args, **fields):
    body = {**FAST, "init_images": [png_b64(64, 64, (30, 120, 200))], "script_name": name, "script_args": args}
    answer = api.post("/sdapi/v1/img2img", json={**body, **fields})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    info = json.loads(result["info"])
    return [decode(image) for image in result["images"]], info


def test_scripts_are_listed_for_img2img_only(api):
    listed = api.get("/sdapi/v1/scripts").json()
    for title in SCRIPTS:
        assert title.lower() in [t.lower() for t in listed["img2img"]], listed
        assert title.lower() not in [t.lower() for t in listed["txt2img"]]
    info = api.get("/sdapi/v1/script-info").json()
    upscale = next(i for i in info if i["name"] == "sd upscale" and i["is_img2img"])
    labels = [arg["label"] for arg in upscale["args"]]
    assert labels[1:] == ["Tile overlap", "Upscaler", "Scale Factor"]


def test_sd_upscale_doubles_the_picture_tile_by_tile(api):
    images, info = _img2img(api, "SD upscale", [None, 16, "Lanczos", 2.0])
    assert images[0].size == (128, 128)
    text = info["infotexts"][0]
    assert "SD upscale overlap: 16" in text and "SD upscale upscaler: Lanczos" in text
    assert len(info["all_seeds"]) == 9  # 3 x 3 tiles of 64 px over 128 px with 16 px overlap
    # a wrong upscaler name is the client's error
    answer = api.post(
        "/sdapi/v1/img2img",
        json={**FAST, "init_images": [png_b64()], "script_name": "SD upscale", "script_args": [None, 16, "nope"]},
    )
    assert 400 <= answer.status_code < 500 and "nope" in answer.text


def test_loopback_feeds_results_back_with_the_curve(api):
    images, info = _img2img(api, "Loopback", [3, 0.2, "Linear", "None"])
    assert len(info["all_seeds"]) == 3 and info["all_seeds"] == [3, 4, 5]
    assert images[0].size == (192, 64)  # the grid of the three loops, then each loop's picture
    assert [image.size for image in images[1:]] == [(64, 64)] * 3
    text = info["infotexts"][1]
    assert "Final denoising strength: 0.2" in text and "Denoising curve: Linear" in text


def test_poor_mans_outpainting_grows_the_canvas(api):
    images, info = _img2img(api, "Poor man's outpainting", [32, 4, 1, ["right"]])
    assert images[0].size == (128, 64)
    source = np.asarray(images[0])[:, :16].astype(int)  # far from the new border: the old picture's colour
    assert np.abs(source - np.array([30, 120, 200])).mean() < 60


def test_outpainting_mk2_grows_each_side(api):
    images, info = _img2img(api, "Outpainting mk2", [None, 16, 4, ["left", "down"], 1.0, 0.05])
    assert images[0].size == (128, 128)  # A1111 rounds the grown canvas up to multiples of 64
    assert len(info["all_seeds"]) == 2  # one img2img run per side


def test_pure_parts():
    assert upscaler_name(["None", "Lanczos"], "LANCZOS") == "Lanczos"
    with pytest.raises(ValueError):
        upscaler_name(["None"], 4)
    assert round(loop_strength(1, 3, 0.0, 1.0, "Aggressive"), 4) == round(np.sin(np.pi / 4), 4)
    assert loop_strength(2, 3, 0.3, 0.9, "Lazy") == pytest.approx(0.9)
    assert expansion(64, 64, 32, ["right", "down"]) == (128, 128, 0, 64, 0, 64)
    image = Image.fromarray((np.random.default_rng(1).random((100, 150, 3)) * 255).astype(np.uint8))
    grid = _tiles.split(image, 64, 64, 16)
    assert _tiles.combine(grid).tobytes() == image.tobytes()  # unchanged tiles blend back to the same picture
    with pytest.raises(ValueError):
        _tiles.split(image, 64, 64, 64)
    matched = match_histogram(np.linspace(0, 1, 50)[:, None], np.full((10, 1), 0.25))
    assert np.allclose(matched, 0.25)
    picture = np.zeros((32, 32, 3)) + [0.2, 0.5, 0.8]
    mask = np.zeros_like(picture)
    mask[:, 24:] = 1
    filled = matched_noise(picture, mask)
    assert np.allclose(filled[:, :24], picture[:, :24]) and np.allclose(filled[:, 24:], picture[:, 24:], atol=1e-6)
