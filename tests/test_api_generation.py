"""The API end to end on a tiny random-weight SD 1.x checkpoint: txt2img, img2img, model switching, progress,
interrupt, the queue shared with the UI, and errors that must stay 4xx without harming the worker."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests.checkpoint_factory import write_checkpoint, write_embedding, write_lora
from tests.test_api_helpers import build, decode, png_b64

FAST = {"steps": 2, "width": 64, "height": 64}


def decode_file(path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("api-gen")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    write_checkpoint("sd15_tiny", folder / "beta.safetensors", seed=1)
    write_embedding(data / "embeddings" / "shiny.pt", width=32)
    write_lora(data / "models" / "Lora" / "ink.safetensors")
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # returns once the start-up checkpoint load (queued first) is done
    with TestClient(app) as client:
        client.backend = backend
        client.data = data
        yield client


def _txt2img(api, **fields):
    answer = api.post("/sdapi/v1/txt2img", json={**FAST, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_txt2img_returns_images_with_a1111_info(api):
    result = _txt2img(
        api,
        prompt="a red cube",
        negative_prompt="blur",
        seed=1234,
        batch_size=2,
        sampler_name="DPM++ 2M Karras",
        unknown_client_field=True,
    )
    info = json.loads(result["info"])
    assert info["seed"] == 1234 and info["all_seeds"] == [1234, 1235] and len(info["infotexts"]) >= 2
    assert info["prompt"] == "a red cube" and info["negative_prompt"] == "blur"
    images = [decode(image) for image in result["images"]][info["index_of_first_image"] :]
    assert [image.size for image in images] == [(64, 64), (64, 64)]
    assert result["parameters"]["prompt"] == "a red cube" and result["parameters"]["steps"] == 2
    parsed = api.post("/sdapi/v1/png-info", json={"image": result["images"][-1]}).json()
    assert parsed["info"] == images[-1].info["parameters"]
    values = parsed["parameters"]
    assert values["Prompt"] == "a red cube" and values["Negative prompt"] == "blur"
    assert (values["Steps"], values["Size-1"], values["Size-2"]) == ("2", "64", "64")
    assert (values["Sampler"], values["Schedule type"], values["Seed"]) == ("DPM++ 2M", "Karras", "1235")
    assert _txt2img(api, send_images=False)["images"] == []
    assert not list((api.data / "outputs").rglob("*.png"))  # API default: save_images false
    _txt2img(api, save_images=True, prompt="kept")
    saved = list((api.data / "outputs").rglob("*.png"))
    assert len(saved) == 1 and "kept" in decode_file(saved[0]).info["parameters"]


def test_img2img_resizes_and_inpaint_uses_api_defaults(api):
    plain = api.post("/sdapi/v1/img2img", json={**FAST, "width": 64, "height": 72, "init_images": [png_b64(96, 80)]})
    assert plain.status_code == 200, plain.text
    assert decode(plain.json()["images"][0]).size == (64, 72)
    answer = api.post(
        "/sdapi/v1/img2img",
        json={
            **FAST,
            "prompt": "a hat",
            "init_images": [png_b64(96, 80)],
            "include_init_images": True,
            "mask": "data:image/png;base64," + png_b64(96, 80, color=(255, 255, 255)),
            "seed": 3,
        },
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert decode(result["images"][0]).size == (96, 80)  # "only masked" pastes back into the original
    infotext = json.loads(result["info"])["infotexts"][0]
    for expected in (
        "Denoising strength: 0.75",
        "Masked content: fill",
        "Inpaint area: Only masked",
        "Masked area padding: 0",
        "Steps: 2",
    ):
        assert expected in infotext
    assert result["parameters"]["init_images"] and result["parameters"]["mask"]
    assert plain.json()["parameters"]["init_images"] is None


def test_impossible_values_are_4xx_and_the_worker_survives(api):
    cases = [
        ({"steps": 0}, 422, "steps"),
        ({"width": 7}, 422, "width"),
        ({"batch_size": 50}, 422, "batch_size"),
        ({"sampler_name": "Nonsense"}, 400, "Nonsense"),
        ({"scheduler": "Wobbly"}, 400, "Wobbly"),
        ({"override_settings": {"sd_model_checkpoint": "missing.ckpt"}}, 404, "missing.ckpt"),
        ({"cfg_scale": "NaN"}, 422, "cfg_scale"),
        ({"alwayson_scripts": {"x": 5}}, 422, "alwayson_scripts"),
    ]
    for fields, status, word in cases:
        answer = api.post("/sdapi/v1/txt2img", json={**FAST, **fields})
        assert answer.status_code == status, (fields, answer.text)
        assert word in answer.text
    answer = api.post("/sdapi/v1/img2img", json={**FAST, "init_images": ["%%%"]})
    assert answer.status_code == 400 and "init_images[0]" in answer.json()["detail"]
    assert api.post("/sdapi/v1/img2img", json=FAST).status_code == 422
    assert decode(_txt2img(api)["images"][0]).size == (64, 64)


def test_checkpoint_switching_through_options_and_overrides(api):
    models = {m["title"].split(" ")[0]: m for m in api.get("/sdapi/v1/sd-models").json()}
    assert set(models) == {"alpha.safetensors", "beta.safetensors"}
    assert models["alpha.safetensors"]["model_name"] == "alpha" and models["alpha.safetensors"]["filename"]
    assert api.post("/sdapi/v1/options", json={"sd_model_checkpoint": "beta"}).status_code == 200
    assert api.backend.models.current.checkpoint.name == "beta.safetensors"
    assert api.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("beta.safetensors")
    assert "Model: beta" in json.loads(_txt2img(api)["info"])["infotexts"][0]
    answer = api.post("/sdapi/v1/options", json={"sd_model_checkpoint": "gamma", "show_progress_every_n_steps": 3})
    assert answer.status_code == 404 and "gamma" in answer.json()["detail"]
    assert api.get("/sdapi/v1/options").json()["show_progress_every_n_steps"] != 3  # all or nothing
    override = _txt2img(api, override_settings={"sd_model_checkpoint": "alpha.safetensors"})
    assert "Model: alpha" in json.loads(override["info"])["infotexts"][0]
    assert api.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("beta.safetensors")
    assert "Model: beta" in json.loads(_txt2img(api)["info"])["infotexts"][0]
    kept = _txt2img(api, override_settings={"sd_model_checkpoint": "alpha"}, override_settings_restore_afterwards=False)
    assert "Model: alpha" in json.loads(kept["info"])["infotexts"][0]
    assert api.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("alpha.safetensors")


def test_model_management_routes(api):
    (api.data / "models" / "Stable-diffusion" / "gamma.safetensors").write_bytes(
        (api.data / "models" / "Stable-diffusion" / "alpha.safetensors").read_bytes()
    )
    assert api.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    assert len(api.get("/sdapi/v1/sd-models").json()) == 3
    assert api.post("/sdapi/v1/unload-checkpoint").json() == {}
    assert api.backend.models.current is None
    assert api.post("/sdapi/v1/reload-checkpoint").json() == {}
    assert api.backend.models.current is not None
    assert api.get("/sdapi/v1/embeddings").json()["loaded"]["shiny"] == {
        "step": None,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
        "shape": 32,
        "vectors": 2,
    }
    assert [lora["name"] for lora in api.get("/sdapi/v1/loras").json()] == ["ink"]
    for path in ("refresh-vae", "refresh-loras", "refresh-embeddings"):
        assert api.post(f"/sdapi/v1/{path}").status_code == 200
    assert api.get("/sdapi/v1/sd-vae").json() == []


def test_progress_and_interrupt_follow_the_running_job(api):
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(answer=api.post("/sdapi/v1/txt2img", json={**FAST, "steps": 150, "n_iter": 4}))
    )
    started = time.monotonic()
    worker.start()
    snapshot = None
    while time.monotonic() - started < 60:
        snapshot = api.get("/sdapi/v1/progress", params={"skip_current_image": False}).json()
        if snapshot["state"]["sampling_step"] >= 2:
            break
        time.sleep(0.02)
    assert snapshot["state"]["sampling_steps"] == 150 and snapshot["state"]["job_count"] == 4
    assert 0 < snapshot["progress"] < 1 and snapshot["eta_relative"] >= 0 and snapshot["state"]["job"]
    assert api.post("/sdapi/v1/interrupt").json() == {}
    worker.join(60)
    answer = outcome["answer"]
    assert answer.status_code == 200 and len(answer.json()["images"]) <= 1
    assert api.get("/sdapi/v1/progress").json()["state"]["interrupted"] is True
    assert api.get("/sdapi/v1/progress").json()["progress"] == 0


def test_ui_and_api_jobs_share_one_queue(api):
    from modules.processing.params import GenerationParams

    ui_job = api.backend.generation.submit(GenerationParams(prompt="ui", steps=40, width=64, height=64))
    while not ui_job.running and not ui_job.done:
        time.sleep(0.01)
    progress = api.get("/sdapi/v1/progress").json()
    assert progress["state"]["job"] == ui_job.label and progress["state"]["sampling_steps"] == 40
    _txt2img(api, prompt="api")
    api_job = api.backend.jobs.last
    assert ui_job.done and api_job is not ui_job and api_job.started >= ui_job.finished
