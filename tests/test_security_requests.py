"""Hostile requests end in a prompt 4xx (or a normal answer) while the server keeps answering: the issue's
reproducers replayed through the HTTP API with a tiny checkpoint."""

from __future__ import annotations

import base64
import io
import resource
import struct
import threading
import time
import zlib

import pytest
from fastapi.testclient import TestClient

from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, png_b64


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    backend, app = build(data)
    backend.start_background_init(load_model=True)
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.backend = backend
        warm = client.post("/sdapi/v1/txt2img", json={"prompt": "a", "steps": 1, "width": 64, "height": 64})
        assert warm.status_code == 200, warm.text  # the model is loaded: timings below are the requests' own
        yield client


def png_claiming(width: int, height: int) -> str:
    """A small PNG whose header claims ``width`` x ``height`` (what a decompression bomb looks like)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    raw = zlib.compress(b"\0" * 4096)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def status_times_while(client, action) -> tuple[object, float]:
    """Run ``action()`` while another thread asks /webui/status; (its result, the slowest status answer)."""
    slowest, stop = [0.0], threading.Event()

    def probe():
        while not stop.is_set():
            started = time.perf_counter()
            assert client.get("/webui/status").status_code == 200
            slowest[0] = max(slowest[0], time.perf_counter() - started)
            time.sleep(0.05)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        result = action()
    finally:
        stop.set()
        thread.join()
    return result, slowest[0]


def test_png_info_with_a_long_parameters_text_answers_quickly(api):
    image = png_b64(8, 8, info={"parameters": "a " * 30000})
    started = time.perf_counter()
    answer, slowest = status_times_while(api, lambda: api.post("/sdapi/v1/png-info", json={"image": image}))
    assert answer.status_code == 200 and answer.json()["parameters"]["Prompt"].startswith("a a")
    assert time.perf_counter() - started < 5 and slowest < 1.0


def test_png_info_with_a_10_mb_text_is_refused(api):
    image = png_b64(8, 8, info={"parameters": "a " * 5_000_000})
    started = time.perf_counter()
    answer = api.post("/sdapi/v1/png-info", json={"image": image})
    assert answer.status_code in (400, 413), answer.text
    assert "characters" in answer.json()["detail"] or "too large" in answer.json()["detail"].lower()
    assert time.perf_counter() - started < 10


def test_an_infotext_field_with_a_long_text_does_not_hold_the_server(api):
    answer, slowest = status_times_while(
        api, lambda: api.post("/sdapi/v1/txt2img", json={"infotext": "a " * 30000 + "\nSteps: 1", "steps": 1})
    )
    assert answer.status_code in (200, 413, 422), answer.text
    assert slowest < 1.0


def test_a_huge_prompt_is_refused_before_the_queue(api):
    started = time.perf_counter()
    answer = api.post("/sdapi/v1/txt2img", json={"prompt": "a " * 2_500_000, "steps": 1, "width": 64, "height": 64})
    assert answer.status_code == 422 and "prompt is 5000000 characters" in answer.json()["detail"]
    assert time.perf_counter() - started < 10
    brackets = api.post("/sdapi/v1/txt2img", json={"prompt": "(a" * 16000, "steps": 1, "width": 64, "height": 64})
    assert brackets.status_code == 422 and "16000 brackets" in brackets.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sdapi/v1/txt2img", '{"prompt": "a", "cfg_scale": NaN}'),
        ("/sdapi/v1/txt2img", '{"prompt": "a", "denoising_strength": Infinity}'),
        ("/sdapi/v1/extra-single-image", '{"image": "", "upscaling_resize": -Infinity}'),
        ("/sdapi/v1/options", '{"jpeg_quality": Infinity}'),
        ("/sdapi/v1/txt2img", '{"prompt": "a", "override_settings": {"CLIP_stop_at_last_layers": NaN}}'),
    ],
)
def test_non_finite_numbers_are_422(api, path, body):
    answer = api.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text


def test_xyz_plot_of_three_million_seeds_is_refused_with_the_count(api):
    body = {
        "prompt": "a",
        "steps": 1,
        "width": 64,
        "height": 64,
        "script_name": "x/y/z plot",
        "script_args": ["Seed", "1-3000000", "Nothing", "", "Nothing", "", True, False, False, False, 0],
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _attempt in range(2):  # the first one also builds the script system (imports Gradio)
        started = time.perf_counter()
        answer = api.post("/sdapi/v1/txt2img", json=body)
        assert answer.status_code == 422, answer.text
        assert "3000000" in answer.json()["detail"] and "max_plan_images" in answer.json()["detail"]
    assert time.perf_counter() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing was built
    small = api.post("/sdapi/v1/txt2img", json={**body, "script_args": ["Seed", "1-2", *body["script_args"][2:]]})
    assert small.status_code == 200, small.text


def test_prompt_matrix_and_prompts_from_file_refuse_big_plans(api):
    matrix = api.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a" + " | b" * 30, "steps": 1, "width": 64, "height": 64, "script_name": "prompt matrix"},
    )
    assert matrix.status_code == 422 and str(1 << 30) in matrix.json()["detail"]
    lines = "\n".join(f"--prompt p{i} --n_iter 10" for i in range(200))
    from_file = api.post(
        "/sdapi/v1/txt2img",
        json={
            "prompt": "a",
            "steps": 1,
            "width": 64,
            "height": 64,
            "script_name": "prompts from file or textbox",
            "script_args": [False, False, "start", lines],
        },
    )
    assert from_file.status_code == 422 and "2000 images" in from_file.json()["detail"]


def test_a_decompression_bomb_is_refused_before_decoding(api):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bomb = png_claiming(13000, 13000)
    for path, body in [
        ("/sdapi/v1/img2img", {"init_images": [bomb], "prompt": "a", "steps": 1, "width": 64, "height": 64}),
        ("/sdapi/v1/png-info", {"image": bomb}),
        ("/sdapi/v1/extra-single-image", {"image": bomb, "upscaler_1": "Lanczos"}),
        (
            "/sdapi/v1/extra-batch-images",
            {"imageList": [{"data": bomb, "name": f"{i}.png"} for i in range(3)], "upscaler_1": "Lanczos"},
        ),
    ]:
        answer = api.post(path, json=body)
        assert answer.status_code == 413, (path, answer.text)
        assert "169000000 pixels" in answer.json()["detail"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_a_nul_byte_in_the_prompt_still_saves(api, tmp_path):
    answer = api.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a\x00b/../c", "steps": 1, "width": 64, "height": 64, "save_images": True},
    )
    assert answer.status_code == 200, answer.text
    outputs = api.backend.paths.data / "outputs"
    saved = [p for p in outputs.rglob("*.png")]
    assert saved and all("\x00" not in str(p) for p in saved)


def test_settings_changes_are_refused_with_listen(tmp_path):
    from PIL import Image

    from modules.settings.registry import LockedSettingError

    backend, app = build(tmp_path, "--listen")
    settings = backend.settings
    with pytest.raises(LockedSettingError, match="outdir_samples cannot be changed: the server is reachable"):
        settings.set("outdir_samples", "/tmp/elsewhere")
    with pytest.raises(LockedSettingError, match="disabled_extensions"):
        settings.set("disabled_extensions", ["sd-webui-controlnet"])
    settings.set("samples_filename_pattern", "../../../[seed]")  # allowed: the pattern is made harmless
    with TestClient(app) as client:
        client.post("/sdapi/v1/options", json={"disabled_extensions": ["sd-webui-controlnet"], "outdir_samples": "/x"})
        assert client.get("/sdapi/v1/options").json()["disabled_extensions"] == []  # not through the API either
        assert client.get("/sdapi/v1/options").json()["outdir_samples"] == ""
    from modules.images.save import save_image

    out = tmp_path / "outputs" / "txt2img-images"
    path = save_image(Image.new("RGB", (8, 8)), out, info={"seed": 5}, settings=settings)
    assert path.resolve().is_relative_to(out.resolve())

    allowed, _ = build(tmp_path / "allowed", "--listen", "--enable-insecure-extension-access")
    allowed.settings.set("outdir_samples", str(tmp_path / "elsewhere"))


def test_extras_batch_from_directory_is_limited_with_listen(tmp_path):
    from modules.settings.locks import check_folder

    backend, _app = build(tmp_path, "--listen")
    inside = check_folder("outputs/x", backend.paths, backend.flags, "Input directory")
    assert inside.resolve().is_relative_to(tmp_path.resolve())
    with pytest.raises(ValueError, match="outside the folders"):
        check_folder("/etc", backend.paths, backend.flags, "Input directory")
    with pytest.raises(ValueError, match="outside the folders"):
        check_folder("../../..", backend.paths, backend.flags, "Input directory")
    local, _ = build(tmp_path / "local")
    assert str(check_folder("/etc", local.paths, local.flags)) == "/etc"  # a local user may use any folder


def test_an_oversized_body_is_413_before_it_is_read(tmp_path):
    from modules.api.body_limit import MAX_BODY_BYTES

    backend, app = build(tmp_path)
    with TestClient(app) as client:
        answer = client.post(
            "/sdapi/v1/png-info",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": str(MAX_BODY_BYTES + 1)},
        )
        assert answer.status_code == 413 and "larger than" in answer.json()["detail"]
        assert client.post("/sdapi/v1/png-info", json={"image": png_b64(8, 8)}).status_code == 200


def test_bad_settings_neither_stop_start_up_nor_fail_jobs(tmp_path):
    import json

    data = tmp_path / "bad-settings"
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    bad = {
        "disabled_extensions": 7,
        "samples_format": 5,
        "jpeg_quality": "abc",
        "CLIP_stop_at_last_layers": "x",
        "control_net_unit_count": "many",  # declared by an extension, checked once it is loaded
        "outdir_samples": {"a": 1},
    }
    (data / "config.json").write_text(json.dumps(bad), encoding="utf-8")
    backend, app = build(data)
    banner = " ".join(backend.warnings)
    for key in bad:
        assert key in banner, key
    assert list(data.glob("config.json.bak-*"))
    backend.start_background_init(load_model=True)
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        answer = client.post(
            "/sdapi/v1/txt2img", json={"prompt": "a", "steps": 1, "width": 64, "height": 64, "save_images": True}
        )
        assert answer.status_code == 200, answer.text
    assert list((data / "outputs").rglob("*.png"))


def test_page_uploads_are_bounded_by_pillows_limit_set_from_the_setting(tmp_path):
    from PIL import Image

    backend, _app = build(tmp_path)
    bomb = base64.b64decode(png_claiming(13000, 13000))
    with pytest.raises(Image.DecompressionBombError):  # what Gradio's own upload decoding meets
        Image.open(io.BytesIO(bomb))
    backend.settings.set("max_image_pixels", 13000 * 13000)
    Image.open(io.BytesIO(bomb)).close()  # the header is accepted now (the pixels are never decoded here)
    backend.settings.set("max_image_pixels", 6144 * 6144)


def test_finished_api_jobs_let_go_of_their_images(api):
    answer = api.post("/sdapi/v1/txt2img", json={"prompt": "a", "steps": 1, "width": 64, "height": 64})
    assert answer.status_code == 200 and answer.json()["images"]
    last = api.backend.jobs.last
    assert last.done and last.result is None and last.progress().preview is None
    extras = api.post("/sdapi/v1/extra-single-image", json={"image": png_b64(16, 16), "upscaler_1": "Lanczos"})
    assert extras.status_code == 200 and api.backend.jobs.last.result is None
