"""ControlNet as a shipped extension: unit parsing, preprocessors, model formats, the effect on generation
(weight, guidance range, control modes, img2img / inpaint / hires fix), infotext, and the /controlnet API."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from modules.processing.params import GenerationParams, InvalidParams, ScriptArgs
from tests.annotator_weights import write_hed_weights
from tests.checkpoint_factory import make_state_dict, write_checkpoint, write_state_dict
from tests.helpers import make_backend

CN_DIR = Path(__file__).resolve().parent.parent / "extensions-builtin" / "sd-webui-controlnet"
SMALL = {
    "width": 64,
    "height": 64,
    "steps": 4,
    "cfg_scale": 5.0,
    "seed": 11,
    "prompt": "a house",
    "do_not_save_samples": True,
}


def cn_modules():
    if str(CN_DIR) not in sys.path:
        sys.path.insert(0, str(CN_DIR))
    from controlnet_ext import convert, preprocessors, units

    return units, preprocessors, convert


def sample_image(width: int = 80, height: int = 60) -> Image.Image:
    image = Image.new("RGB", (width, height), (230, 230, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 40, 40), fill=(20, 40, 200))
    draw.line((0, height - 5, width, 5), fill=(0, 0, 0), width=3)
    draw.ellipse((45, 20, 75, 50), outline=(200, 0, 0), width=2)
    return image


def b64png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("cn")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    full = make_state_dict("controlnet_sd15_tiny")
    control = {k[len("control_model.") :]: v for k, v in full.items() if k.startswith("control_model.")}
    folder = data / "models" / "ControlNet"
    write_state_dict(control, folder / "control_tiny.pth", fmt="ckpt", wrap=False)  # extracted, pickled
    write_checkpoint("controlnet_sd15_tiny", folder / "control_full_ldm.safetensors")  # whole ControlLDM
    write_state_dict({k: v.half() for k, v in control.items()}, folder / "control_tiny_fp16.safetensors")
    backend = make_backend(data)
    install_extensions(backend)
    # an empty annotator folder: weights a user put in the extension's own folder must not leak in
    (data / "annotators").mkdir()
    backend.settings.update({"control_net_modules_path": str(data / "annotators")}, save=False)
    return backend


def run(backend, units=(), **fields):
    alwayson = (ScriptArgs("controlnet", tuple(units)),) if units else ()
    return backend.generation.run(GenerationParams(**{**SMALL, **fields}, alwayson_scripts=alwayson))


def unit(**fields):
    return {"enabled": True, "module": "canny", "model": "control_tiny", "image": sample_image(), **fields}


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB"), dtype=np.int16)


# --- pure parts -----------------------------------------------------------------------------------------------


def test_unit_parsing_accepts_a1111_extension_fields():
    units, _, _ = cn_modules()
    parsed = units.parse_unit(
        {
            "Enabled": "true",
            "INPUT_IMAGE": "data:image/png;base64," + b64png(sample_image()),
            "Module": "Canny",
            "model": "control_tiny [abc]",
            "weight": "0.5",
            "control_mode": 2,
            "resize_mode": "Envelope (Outer Fit)",
            "guidance": 0.6,
            "lowvram": True,
            "processor_res": 64,
            "threshold_a": 50,
        }
    )
    assert parsed.enabled and parsed.image.size == (80, 60) and parsed.weight == 0.5
    assert parsed.control_mode == "ControlNet is more important" and parsed.resize_mode == "Resize and Fill"
    assert parsed.guidance_end == 0.6 and parsed.low_vram and parsed.processor_res == 64
    assert units.parse_unit({"image": {"image": b64png(sample_image()), "mask": b64png(sample_image())}}).mask
    assert units.parse_unit({"control_mode": "my prompt is more important"}).control_mode.startswith("My prompt")
    for bad, field in (
        ({"weight": 3}, "weight"),
        ({"guidance_start": 0.8, "guidance_end": 0.2}, "guidance_start"),
        ({"image": "http://x/y.png"}, "URL"),
        ({"control_mode": "Loud"}, "control_mode"),
        ({"image": "not base64!"}, "image"),
        ({"resize_mode": 7}, "resize_mode"),
    ):
        with pytest.raises(ValueError, match=field):
            units.parse_unit(bad)
    flat = units.units_from_args(
        [True, sample_image(), "canny", "m", 1.0, 0.0, 1.0, "Balanced", "Just Resize", False, 512, 100, 200] * 2
    )
    assert len(flat) == 2 and flat[1].resize_mode == "Just Resize" and flat[1].threshold_b == 200


def test_infotext_matches_the_a1111_extension():
    units, _, _ = cn_modules()
    text = units.infotext(units.parse_unit({"module": "canny"}), "control_x [0123abcd]", 512, 100.0, 200.0)
    assert text == (
        "Module: canny, Model: control_x [0123abcd], Weight: 1, Resize Mode: Crop and Resize, "
        "Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0, Guidance End: 1, "
        "Pixel Perfect: False, Control Mode: Balanced"
    )


@pytest.mark.parametrize(
    "name",
    [
        "none",
        "invert",
        "canny",
        "threshold",
        "binary",
        "scribble_xdog",
        "lineart_standard",
        "t2ia_color_grid",
        "shuffle",
        "tile_resample",
        "blur_gaussian",
        "inpaint_global_harmonious",
        "inpaint_only",
    ],
)
def test_weight_free_preprocessors_give_expected_size_and_range(name):
    _, preprocessors, _ = cn_modules()
    pre = {p.name: p for p in preprocessors.MODEL_FREE}[name]
    source = np.asarray(sample_image())  # 80 x 60
    _, a, b = pre.defaults()
    mask = Image.new("L", (80, 60), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 39, 59), fill=255)
    detected = pre.run(source, 48, 2.0 if name == "tile_resample" else a, b, {"mask": mask, "seed": 1})
    expected = (60, 80) if pre.resolution is None else ((24, 32) if name == "tile_resample" else (48, 64))
    assert detected.shape == (*expected, 3)
    if name.startswith("inpaint"):
        assert detected.dtype == np.float32 and (detected[:, :40] == -1).all()
        assert detected[:, 40:].min() >= 0 and detected[:, 40:].max() <= 1
        return
    assert detected.dtype == np.uint8 and detected.max() > detected.min()
    if name in ("canny", "threshold", "binary", "scribble_xdog"):
        assert set(np.unique(detected)) <= {0, 255}
    if name == "invert":
        assert detected[0, 0, 0] == 255 - 230


def test_original_extracted_fp16_and_diffusers_formats_load_to_the_same_model(backend, tmp_path):
    _, _, convert = cn_modules()
    folder = backend.paths.controlnet
    extracted = convert.load_controlnet(folder / "control_tiny.pth", "cpu", torch.float32)
    full = convert.load_controlnet(folder / "control_full_ldm.safetensors", "cpu", torch.float32)
    half = convert.load_controlnet(folder / "control_tiny_fp16.safetensors", "cpu", torch.float16)
    extracted.save_pretrained(tmp_path / "diffusers_cn")
    diffusers = convert.load_controlnet(
        next((tmp_path / "diffusers_cn").glob("diffusion_pytorch_model.*")), "cpu", torch.float32
    )
    torch.manual_seed(0)
    inputs = dict(
        sample=torch.randn(1, 4, 8, 8),
        timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(1, 77, 32),
        controlnet_cond=torch.rand(1, 3, 64, 64),
        return_dict=False,
    )
    down, mid = extracted(**inputs)
    for other in (full, diffusers):
        other_down, other_mid = other(**inputs)
        assert all(torch.equal(a, b) for a, b in zip(down, other_down, strict=True)) and torch.equal(mid, other_mid)
    assert half.dtype == torch.float16 and len(down) == 4 and mid.shape == (1, 64, 4, 4)
    with pytest.raises(convert.NotAControlNet, match="Stable Diffusion checkpoint"):
        convert.load_controlnet(next(backend.paths.checkpoints[0].glob("*.safetensors")), "cpu", torch.float32)


def test_sdxl_diffusers_single_file_without_config(tmp_path):
    """An SDXL ControlNet in diffusers key names, no config.json: layout from shapes, time-ids width from the base."""
    from diffusers import ControlNetModel, UNet2DConditionModel
    from safetensors.torch import save_file

    from modules.models.detection import detect
    from tests.checkpoint_factory import layout_shapes

    _, _, convert = cn_modules()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**detect(layout_shapes("sdxl_tiny")).arch.unet_config)
    reference = ControlNetModel.from_unet(unet).eval()
    for parameter in reference.parameters():  # from_unet zero-initialises the residual convs
        torch.nn.init.normal_(parameter, std=0.05)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, tmp_path / "cn_xl.safetensors")
    loaded = convert.load_controlnet(tmp_path / "cn_xl.safetensors", "cpu", torch.float32, dict(unet.config))
    assert loaded.config.addition_embed_type == "text_time"
    inputs = dict(
        sample=torch.randn(1, 4, 8, 8),
        timestep=torch.tensor([300]),
        encoder_hidden_states=torch.randn(1, 77, 80),
        controlnet_cond=torch.rand(1, 3, 64, 64),
        added_cond_kwargs={"text_embeds": torch.randn(1, 48), "time_ids": torch.rand(1, 6) * 64},
        return_dict=False,
    )
    with torch.no_grad():
        want, got = reference(**inputs), loaded(**inputs)
    assert all(torch.allclose(a, b) for a, b in zip(want[0], got[0], strict=True)) and torch.allclose(want[1], got[1])


# --- through the generation path ------------------------------------------------------------------------------


def test_models_are_listed_with_legacy_hashes(backend):
    titles = backend.offers.find("controlnet").model_titles()
    assert titles[0] == "None" and len(titles) == 4
    assert all(re.fullmatch(r"[\w.-]+ \[[0-9a-f]{8}\]", title) for title in titles[1:])


def test_weight_zero_is_exactly_no_controlnet_and_weight_one_changes_the_image(backend):
    plain = run(backend)
    zero = run(backend, [unit(weight=0)])
    one = run(backend, [unit(weight=1)])
    assert (pixels(plain) == pixels(zero)).all()
    assert np.abs(pixels(plain) - pixels(one)).mean() > 1
    info = re.search(r'ControlNet 0: "([^"]*)"', one.infotexts[0]).group(1)
    assert info.startswith("Module: canny, Model: control_tiny [") and "Weight: 1, Resize Mode: Crop and Resize" in info
    assert "Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0, Guidance End: 1" in info
    prompt_first = run(backend, [unit(control_mode="My prompt is more important")])
    control_first = run(backend, [unit(control_mode=2)])
    assert len({pixels(r).tobytes() for r in (one, prompt_first, control_first)}) == 3


def record_calls(backend):
    service = backend.offers.find("controlnet")
    model = service.load_model(service.find_model("control_tiny"), backend.models.current)
    calls = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((float(args[1].flatten()[0]), tuple(args[0].shape))), with_kwargs=True
    )
    return calls, handle


def test_ending_step_limits_control_to_the_first_half(backend):
    calls, handle = record_calls(backend)
    try:
        run(backend, [unit(guidance_end=1.0)])
        all_steps = list(calls)
        calls.clear()
        run(backend, [unit(guidance_end=0.5)])
        first_half = list(calls)
        calls.clear()
        run(backend, [unit(guidance_start=0.5)])
        second_half = list(calls)
    finally:
        handle.remove()
    assert len(all_steps) == 4 and first_half == all_steps[:2] and second_half == all_steps[2:]
    assert first_half[0][0] > first_half[1][0] > second_half[0][0]  # timesteps fall: the early steps


def test_img2img_inpaint_and_hires_fix_use_controlnet(backend):
    calls, handle = record_calls(backend)
    init = sample_image(64, 64)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    try:
        no_image = {k: v for k, v in unit().items() if k != "image"}
        i2i = run(backend, [no_image], mode="img2img", init_images=(init,), denoising_strength=0.75)
        assert calls and "ControlNet 0" in i2i.infotexts[0]  # the init image served as the control image
        calls.clear()
        inpaint = run(
            backend,
            [unit(module="inpaint_only")],
            mode="img2img",
            init_images=(init,),
            mask=mask,
            denoising_strength=0.75,
        )
        assert calls and "Module: inpaint_only" in inpaint.infotexts[0]
        calls.clear()
        hires = run(backend, [unit()], enable_hr=True, hr_scale=2, hr_second_pass_steps=2, denoising_strength=0.5)
        assert hires.images[0].size == (128, 128)
        assert {shape[2:] for _, shape in calls} == {(8, 8), (16, 16)}  # both passes, each at its own size
    finally:
        handle.remove()


def test_user_errors_stop_the_generation_with_a_clear_message(backend):
    with pytest.raises(InvalidParams, match="no input image"):
        run(backend, [{"enabled": True, "module": "canny", "model": "control_tiny"}])
    with pytest.raises(InvalidParams, match="not found; available: control_full_ldm"):
        run(backend, [unit(model="control_missing")])
    with pytest.raises(InvalidParams, match=r"openpose/body_pose_model\.pth"):
        run(backend, [unit(module="openpose")])


def test_weighted_preprocessors_appear_only_with_their_weights(backend, tmp_path):
    service = backend.offers.find("controlnet")
    empty = backend.settings.get("control_net_modules_path")
    assert "softedge_hed" not in service.module_names()
    with pytest.raises(ValueError, match=r"hed/ControlNetHED\.pth"):
        service.detect("softedge_hed", sample_image(), 64)
    write_hed_weights(tmp_path / "hed" / "ControlNetHED.pth")
    backend.settings.update({"control_net_modules_path": str(tmp_path)}, save=False)
    try:
        assert "softedge_hed" in service.module_names()
        detected, *_ = service.detect("softedge_hed", sample_image(), 64)
        assert detected.shape == (64, 85, 3) and detected.dtype == np.uint8
        assert len(np.unique(detected)) > 8  # a soft map, not a constant
        (tmp_path / "hed" / "ControlNetHED.pth").write_bytes(b"\x80\x02not a checkpoint")
        with pytest.raises(ValueError, match="ControlNetHED.pth"):  # a changed file is read again: clear error
            service.detect("softedge_hed", sample_image(), 64)
    finally:
        backend.settings.update({"control_net_modules_path": empty}, save=False)


# --- HTTP API -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(backend):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api.routes import mount_api

    app = FastAPI()
    mount_api(app, backend)
    backend.extensions.app_started(None, app)
    return TestClient(app)


def test_controlnet_routes(client):
    assert client.get("/controlnet/version").json() == {"version": 3}
    models = client.get("/controlnet/model_list").json()["model_list"]
    assert len(models) == 3 and "None" not in models
    modules = client.get("/controlnet/module_list").json()
    assert "canny" in modules["module_list"]
    assert modules["module_detail"]["canny"]["sliders"][1]["name"] == "Canny Low Threshold"
    assert client.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    assert "Canny" in client.get("/controlnet/control_types").json()["control_types"]
    answer = client.post(
        "/controlnet/detect",
        json={
            "controlnet_module": "canny",
            "controlnet_processor_res": 64,
            "controlnet_input_images": [b64png(sample_image())],
        },
    )
    assert answer.status_code == 200 and answer.json()["info"] == "Success"
    detected = Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0])))
    assert detected.size == (85, 64)
    older = client.post(
        "/controlnet/detect", json={"controlnet_module": "invert", "controlnet_images": [b64png(sample_image())]}
    )
    assert older.status_code == 200
    assert (
        client.post(
            "/controlnet/detect",
            json={"controlnet_module": "nope", "controlnet_input_images": [b64png(sample_image())]},
        ).status_code
        == 422
    )
    assert client.post("/controlnet/detect", json={"controlnet_module": "canny"}).status_code == 422


def test_detect_waits_in_the_job_queue_behind_a_generation(client, backend):
    """``/controlnet/detect`` runs its network as a job: while another job holds the device it waits."""
    import threading

    release = threading.Event()
    blocker = backend.jobs.submit(lambda job: release.wait(30), label="stand-in generation")
    answers: list = []
    body = {
        "controlnet_module": "canny",
        "controlnet_processor_res": 64,
        "controlnet_input_images": [b64png(sample_image())],
    }
    caller = threading.Thread(target=lambda: answers.append(client.post("/controlnet/detect", json=body)))
    caller.start()
    caller.join(1.5)
    assert caller.is_alive() and not answers  # queued behind the running job, not run beside it
    release.set()
    caller.join(30)
    assert blocker.done and answers and answers[0].status_code == 200
    assert backend.jobs.last.label == "ControlNet preprocessor"


def test_controlnet_imports_only_the_extension_api():
    """The built-in extension is built on the public surface: no ``modules.*`` internals."""
    import ast

    allowed = {"modules", "modules.scripts", "modules.script_callbacks", "modules.extension_api"}
    folder = Path(__file__).resolve().parent.parent / "extensions-builtin" / "sd-webui-controlnet"
    found = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "modules":
                names += [f"modules.{alias.name}" for alias in node.names]
            found.update({name: path.name for name in names if name.split(".")[0] == "modules"})
    assert found, "the scan found no imports of the program at all"
    assert set(found) <= allowed, {name: file for name, file in found.items() if name not in allowed}


def test_txt2img_api_with_controlnet_units(client):
    body = {
        "prompt": "a house",
        "width": 64,
        "height": 64,
        "steps": 3,
        "seed": 2,
        "alwayson_scripts": {
            "ControlNet": {
                "args": [
                    {
                        "Enabled": True,
                        "input_image": b64png(sample_image()),
                        "module": "canny",
                        "model": "control_tiny",
                        "control_mode": 2,
                        "Pixel_Perfect": True,
                    },
                    {"enabled": False},
                ]
            }
        },
    }
    answer = client.post("/sdapi/v1/txt2img", json=body)
    assert answer.status_code == 200, answer.text
    infotext = json.loads(answer.json()["info"])["infotexts"][0]
    assert "Control Mode: ControlNet is more important" in infotext and "Pixel Perfect: True" in infotext
    assert "Processor Res: 64" in infotext  # pixel perfect: 60-pixel-high input covering a 64x64 output
    body["alwayson_scripts"]["ControlNet"]["args"][0]["model"] = "no_such_model"
    assert client.post("/sdapi/v1/txt2img", json=body).status_code in (400, 422)
