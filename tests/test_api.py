"""HTTP API without a model: route table and schemas, catalogues, options, auth, errors, PNG info, extras."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.test_api_helpers import basic, build, decode, png_b64

A1111_ROUTES = {
    ("post", "/sdapi/v1/txt2img"),
    ("post", "/sdapi/v1/img2img"),
    ("post", "/sdapi/v1/extra-single-image"),
    ("post", "/sdapi/v1/extra-batch-images"),
    ("post", "/sdapi/v1/png-info"),
    ("get", "/sdapi/v1/progress"),
    ("post", "/sdapi/v1/interrupt"),
    ("post", "/sdapi/v1/skip"),
    ("get", "/sdapi/v1/options"),
    ("post", "/sdapi/v1/options"),
    ("get", "/sdapi/v1/cmd-flags"),
    ("get", "/sdapi/v1/samplers"),
    ("get", "/sdapi/v1/schedulers"),
    ("get", "/sdapi/v1/upscalers"),
    ("get", "/sdapi/v1/latent-upscale-modes"),
    ("get", "/sdapi/v1/sd-models"),
    ("get", "/sdapi/v1/sd-vae"),
    ("get", "/sdapi/v1/hypernetworks"),
    ("get", "/sdapi/v1/face-restorers"),
    ("get", "/sdapi/v1/realesrgan-models"),
    ("get", "/sdapi/v1/prompt-styles"),
    ("get", "/sdapi/v1/embeddings"),
    ("get", "/sdapi/v1/loras"),
    ("get", "/sdapi/v1/extensions"),
    ("get", "/sdapi/v1/scripts"),
    ("get", "/sdapi/v1/script-info"),
    ("get", "/sdapi/v1/memory"),
    ("post", "/sdapi/v1/refresh-checkpoints"),
    ("post", "/sdapi/v1/refresh-vae"),
    ("post", "/sdapi/v1/refresh-loras"),
    ("post", "/sdapi/v1/reload-checkpoint"),
    ("post", "/sdapi/v1/unload-checkpoint"),
}


@pytest.fixture
def api(tmp_path):
    backend, app = build(tmp_path)
    with TestClient(app) as client:
        client.backend = backend
        yield client


def test_every_a1111_route_is_documented(api):
    spec = api.get("/openapi.json").json()
    routes = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert routes >= A1111_ROUTES, A1111_ROUTES - routes
    txt2img = spec["components"]["schemas"]["Txt2ImgRequest"]["properties"]
    assert txt2img["steps"]["default"] == 50 and txt2img["sampler_index"]["default"] == "Euler"
    img2img = spec["components"]["schemas"]["Img2ImgRequest"]["properties"]
    assert img2img["inpainting_fill"]["default"] == 0 and img2img["inpaint_full_res"]["default"] is True
    assert img2img["inpaint_full_res_padding"]["default"] == 0 and img2img["denoising_strength"]["default"] == 0.75
    assert "Options" in spec["components"]["schemas"] and "Flags" in spec["components"]["schemas"]
    assert api.get("/docs").status_code == 200


def test_catalogues_have_a1111_shapes(api):
    samplers = api.get("/sdapi/v1/samplers").json()
    names = [s["name"] for s in samplers]
    assert "Euler" in names and "DPM++ 2M" in names
    dpm = samplers[names.index("DPM++ SDE")]
    assert dpm["options"]["second_order"] == "True" and "k_dpmpp_sde" in dpm["aliases"]
    labels = [s["label"] for s in api.get("/sdapi/v1/schedulers").json()]
    assert labels[:3] == ["Automatic", "Uniform", "Karras"]
    upscalers = api.get("/sdapi/v1/upscalers").json()
    assert [u["name"] for u in upscalers][:3] == ["None", "Lanczos", "Nearest"]
    assert set(upscalers[0]) == {"name", "model_name", "model_path", "model_url", "scale"}
    assert {"name": "Latent"} in api.get("/sdapi/v1/latent-upscale-modes").json()
    for empty in ("hypernetworks", "realesrgan-models"):
        assert api.get(f"/sdapi/v1/{empty}").json() == []
    assert [r["name"] for r in api.get("/sdapi/v1/face-restorers").json()] == ["CodeFormer", "GFPGAN"]
    scripts = api.get("/sdapi/v1/scripts").json()
    assert "x/y/z plot" in scripts["txt2img"] and "controlnet" in scripts["img2img"]
    info = api.get("/sdapi/v1/script-info").json()
    assert {"name": "controlnet", "is_alwayson": True, "is_img2img": False} in [
        {k: i[k] for k in ("name", "is_alwayson", "is_img2img")} for i in info
    ]
    xyz = next(i for i in info if i["name"] == "x/y/z plot" and not i["is_img2img"])
    labels = [arg["label"] for arg in xyz["args"]]
    assert "X type" in labels and all(
        set(arg) == {"label", "value", "minimum", "maximum", "step", "choices"} for arg in xyz["args"]
    )
    memory = api.get("/sdapi/v1/memory").json()
    assert memory["ram"]["total"] > 0 and "cuda" in memory
    flags = api.get("/sdapi/v1/cmd-flags").json()
    assert flags["api"] is True and flags["nowebui"] is True and "data_dir" in flags


def test_prompt_styles_come_from_styles_csv(api):
    (api.backend.paths.styles_file).write_text(
        'name,prompt,negative_prompt\nSharp,"{prompt}, sharp",blurry\n', encoding="utf-8"
    )
    assert api.get("/sdapi/v1/prompt-styles").json() == [
        {"name": "Sharp", "prompt": "{prompt}, sharp", "negative_prompt": "blurry"}
    ]


def test_options_round_trip_and_errors(api, tmp_path):
    options = api.get("/sdapi/v1/options").json()
    assert options["show_progress_every_n_steps"] == 10
    assert api.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 5}).status_code == 200
    assert api.get("/sdapi/v1/options").json()["show_progress_every_n_steps"] == 5
    assert json.loads((tmp_path / "config.json").read_text())["show_progress_every_n_steps"] == 5
    bad = api.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 1000})
    assert bad.status_code == 422 and "show_progress_every_n_steps" in bad.json()["detail"]
    assert api.post("/sdapi/v1/options", json=[1, 2]).status_code == 422


def test_frozen_settings_refuse_writes(tmp_path):
    backend, app = build(tmp_path, "--freeze-settings")
    with TestClient(app) as client:
        answer = client.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 5})
        assert answer.status_code == 403 and "read-only" in answer.json()["detail"]


def test_model_routes_answer_503_while_starting(api):
    answer = api.get("/sdapi/v1/sd-models")
    assert answer.status_code == 503 and "starting" in answer.json()["detail"]
    assert answer.headers["retry-after"]
    assert api.post("/sdapi/v1/txt2img", json={"prompt": "x"}).status_code == 503


def test_idle_progress_interrupt_and_skip(api):
    progress = api.get("/sdapi/v1/progress").json()
    assert progress["progress"] == 0 and progress["eta_relative"] == 0
    assert progress["state"]["job_count"] == 0 and progress["current_image"] is None
    assert api.post("/sdapi/v1/interrupt").json() == {}
    assert api.post("/sdapi/v1/skip").status_code == 200


def test_schema_violations_name_the_field(api):
    answer = api.post("/sdapi/v1/txt2img", json={"steps": "many"})
    assert answer.status_code == 422
    assert any(error["loc"][-1] == "steps" for error in answer.json()["detail"])
    answer = api.post("/sdapi/v1/img2img", json={"inpainting_mask_invert": 3})
    assert answer.status_code == 422 and "inpainting_mask_invert" in answer.text
    answer = api.post("/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 422


def test_png_info_reads_png_text_and_jpeg_exif(api):
    text = "a cat\nNegative prompt: dog\nSteps: 3, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 64x64"
    answer = api.post("/sdapi/v1/png-info", json={"image": png_b64(info={"parameters": text, "extra": "x"})}).json()
    assert answer["info"] == text and answer["items"] == {"extra": "x"}
    parsed = answer["parameters"]
    assert parsed["Prompt"] == "a cat" and parsed["Negative prompt"] == "dog"
    assert parsed["Sampler"] == "DPM++ 2M" and parsed["Schedule type"] == "Karras" and parsed["Steps"] == "3"

    import piexif
    import piexif.helper

    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text, encoding="unicode")}})
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG", exif=exif)
    jpeg = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert api.post("/sdapi/v1/png-info", json={"image": jpeg}).json()["info"] == text

    empty = api.post("/sdapi/v1/png-info", json={"image": png_b64()}).json()
    assert empty["info"] == "" and empty["parameters"]["Clip skip"] == "1"


def test_broken_images_are_400_naming_the_field(api):
    for payload in ("not base64 at all!!", base64.b64encode(b"not an image").decode(), ""):
        answer = api.post("/sdapi/v1/png-info", json={"image": payload})
        assert answer.status_code == 400 and "image" in answer.json()["detail"]
    answer = api.post("/sdapi/v1/png-info", json={"image": "http://127.0.0.1:9/x.png"})
    assert answer.status_code == 400 and "local" in answer.json()["detail"]


def test_extras_single_and_batch(api):
    answer = api.post(
        "/sdapi/v1/extra-single-image", json={"image": png_b64(32, 24), "upscaler_1": "Lanczos", "upscaling_resize": 2}
    )
    assert answer.status_code == 200, answer.text
    result = decode(answer.json()["image"])
    assert result.size == (64, 48) and "Postprocess upscaler: Lanczos" in answer.json()["html_info"]
    assert result.info.get("postprocessing")
    answer = api.post(
        "/sdapi/v1/extra-batch-images",
        json={
            "imageList": [{"data": png_b64(16, 16), "name": "a.png"}, {"data": png_b64(8, 8), "name": "b.png"}],
            "upscaler_1": "Nearest",
            "resize_mode": 1,
            "upscaling_resize_w": 40,
            "upscaling_resize_h": 40,
        },
    )
    assert [decode(i).size for i in answer.json()["images"]] == [(40, 40), (40, 40)]
    unknown = api.post("/sdapi/v1/extra-single-image", json={"image": png_b64(), "upscaler_1": "Nope"})
    assert unknown.status_code == 422 and "Nope" in unknown.json()["detail"]
    huge = api.post(
        "/sdapi/v1/extra-single-image",
        json={"image": png_b64(2000, 1200), "upscaler_1": "Lanczos", "upscaling_resize": 8},
    )
    assert huge.status_code == 422 and "16000x9600" in huge.json()["detail"]


def test_auth_guards_api_docs_and_extension_routes(tmp_path):
    from modules.api.routes import add_api_route

    backend, app = build(tmp_path, "--api-auth", "alice:s3cret,bob:pw:with:colons")
    add_api_route(app, backend, "/myext/ping", lambda: {"pong": True}, ["GET"])

    @app.get("/late/extension")
    def late():
        return {"ok": True}

    with TestClient(app) as client:
        for path in (
            "/sdapi/v1/samplers",
            "/docs",
            "/openapi.json",
            "/controlnet/version",
            "/myext/ping",
            "/late/extension",
        ):
            answer = client.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Basic")
        assert client.get("/sdapi/v1/samplers", headers=basic("alice", "wrong")).status_code == 401
        assert client.get("/sdapi/v1/samplers", headers=basic("mallory", "s3cret")).status_code == 401
        assert client.get("/sdapi/v1/samplers", headers={"Authorization": "Basic !!!"}).status_code == 401
        assert client.get("/sdapi/v1/samplers", headers=basic("alice", "s3cret")).status_code == 200
        assert client.get("/sdapi/v1/samplers", headers=basic("bob", "pw:with:colons")).status_code == 200
        assert client.get("/controlnet/version", headers=basic("alice", "s3cret")).json() == {"version": 3}
        assert client.get("/myext/ping", headers=basic("alice", "s3cret")).json() == {"pong": True}
        spec = client.get("/openapi.json", headers=basic("alice", "s3cret")).json()
        assert "/controlnet/version" in spec["paths"] and "/myext/ping" in spec["paths"]


def test_api_auth_alone_also_guards_the_page(tmp_path):
    from modules.api.routes import add_api_route

    backend, app = build(tmp_path, "--api-auth", "alice:s3cret", ui=True)
    add_api_route(app, backend, "/myext/ping", lambda: {"pong": True}, ["GET"])
    with TestClient(app) as client:
        # without --gradio-auth there is no login form: the browser asks for the --api-auth pair
        for path in ("/", "/config", "/webui/localization.js", "/sdapi/v1/options", "/controlnet/version"):
            answer = client.get(path)
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic"), path
        assert client.get("/", headers=basic("alice", "s3cret")).status_code == 200
        # registered after the UI's catch-all mount, still reachable (and guarded)
        assert client.get("/myext/ping").status_code == 401
        assert client.get("/myext/ping", headers=basic("alice", "s3cret")).json() == {"pong": True}


def test_api_log_times_requests(tmp_path, caplog):
    backend, app = build(tmp_path, "--api-log")
    with TestClient(app) as client, caplog.at_level("INFO", logger="modules.api.routes"):
        answer = client.get("/sdapi/v1/samplers")
    assert float(answer.headers["x-process-time"]) >= 0
    assert any("API 200 GET /sdapi/v1/samplers" in record.getMessage() for record in caplog.records)


def test_nowebui_server_serves_only_the_api(start_server):
    import urllib.error
    import urllib.request

    server = start_server(["--nowebui"], wait_path="/sdapi/v1/samplers")
    with urllib.request.urlopen(server.url + "/sdapi/v1/progress", timeout=10) as response:
        assert json.loads(response.read())["state"]["job_count"] == 0
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(server.url + "/", timeout=10)
    assert error.value.code == 404
