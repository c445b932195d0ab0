"""Face restoration: CodeFormer files in the released key layout recognised by spandrel, the API's
``restore_faces`` / ``/sdapi/v1/face-restorers`` / Extras fields, missing files named, and the crop/paste."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import save_file

from modules.models.errors import ModelLoadError
from modules.upscaling import spandrel_loader
from modules.upscaling.face_restoration import FaceRestorers, align_restore_paste
from modules.upscaling.retinaface import DETECTOR_FILE, RetinaFace, detect, load_detector
from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, decode, png_b64

FAST = {"steps": 2, "width": 64, "height": 64}


def write_codeformer(path):
    """A CodeFormer file in the released key layout: spandrel's own class with the smallest transformer
    (the VQGAN encoder/generator sizes are fixed by the architecture), stored as fp16 to halve the file."""
    spandrel_loader.import_spandrel()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.manual_seed(0)
    net = CodeFormer(dim_embd=32, n_head=2, n_layers=1, codebook_size=16, connect_list=["32"])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in net.state_dict().items()}, str(path))


@pytest.fixture(scope="module")
def codeformer_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cf") / "codeformer-v0.1.0.safetensors"
    write_codeformer(path)
    return path


def test_codeformer_layout_is_recognised_and_refused_as_an_upscaler(codeformer_file, tmp_path):
    descriptor = spandrel_loader.load_descriptor(codeformer_file)
    assert descriptor.architecture.id == "CodeFormer" and descriptor.purpose == "FaceSR"
    from modules.upscaling.upscalers import UpscalerRegistry

    (tmp_path / "ESRGAN").mkdir()
    (tmp_path / "ESRGAN" / "cf.safetensors").symlink_to(codeformer_file)
    registry = UpscalerRegistry(tmp_path / "ESRGAN")
    assert "cf" in registry.names()  # listed as A1111 lists every file; refused clearly when used
    with pytest.raises(ModelLoadError, match="face restoration model"):
        registry.upscale(Image.new("RGB", (8, 8)), "cf", 2)


def write_detector(path, face: bool):
    """``detection_Resnet50_Final.pth`` in facexlib's key layout. The heads are set so that the output does not
    depend on the picture: no face at all, or exactly one (the 256-pixel anchors of the stride-32 level,
    merged to one by NMS) with landmarks spread like eyes, nose and mouth."""
    torch.manual_seed(0)
    state = RetinaFace().state_dict()
    for level in range(3):
        for head in ("ClassHead", "BboxHead", "LandmarkHead"):
            state[f"{head}.{level}.conv1x1.weight"].zero_()
            state[f"{head}.{level}.conv1x1.bias"].zero_()
        state[f"ClassHead.{level}.conv1x1.bias"].copy_(torch.tensor([10.0, -10.0, 10.0, -10.0]))
    if face:
        state["ClassHead.2.conv1x1.bias"].copy_(torch.tensor([-10.0, 10.0, 10.0, -10.0]))
        points = torch.tensor([-1.0, -0.5, 1.0, -0.5, 0.0, 0.3, -0.8, 1.0, 0.8, 1.0])
        state["LandmarkHead.2.conv1x1.bias"].copy_(torch.cat([points, points]))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)


def test_detector_file_layout_and_detections(tmp_path):
    write_detector(tmp_path / "one" / DETECTOR_FILE, face=True)
    write_detector(tmp_path / "none" / DETECTOR_FILE, face=False)
    keys = set(torch.load(tmp_path / "one" / DETECTOR_FILE, weights_only=True))
    released = {"body.layer4.2.conv3.weight", "fpn.merge1.0.weight", "ssh3.conv7x7_3.1.running_var"}
    assert released | {"LandmarkHead.2.conv1x1.bias", "body.layer1.0.downsample.0.weight"} <= keys
    picture = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    faces = detect(load_detector(tmp_path / "one" / DETECTOR_FILE), picture)
    assert len(faces) == 1
    box, points, score = faces[0]
    assert score > 0.99 and points.shape == (5, 2)
    assert np.allclose(box[2:] - box[:2], 256, atol=1e-3)  # the prior's size: the box head adds nothing
    assert points[1, 0] - points[0, 0] == pytest.approx(2 * 0.1 * 256, abs=1e-3)  # eyes 2 units apart
    assert detect(load_detector(tmp_path / "none" / DETECTOR_FILE), picture) == []
    with pytest.raises(ModelLoadError, match=r"detection_Resnet50_Final\.pth.*place"):
        load_detector(tmp_path / "absent" / DETECTOR_FILE)
    save_file({"weird": torch.zeros(2)}, str(tmp_path / "weird.safetensors"))
    with pytest.raises(ModelLoadError, match="not a RetinaFace"):
        load_detector(tmp_path / "weird.safetensors")


def test_missing_files_are_named(tmp_path, codeformer_file):
    restorers = FaceRestorers(tmp_path / "models")
    with pytest.raises(ModelLoadError, match=r"Codeformer.*codeformer-v0\.1\.0\.pth.*never downloaded"):
        restorers.require_files("CodeFormer")
    with pytest.raises(ModelLoadError, match=r"GFPGAN.*GFPGANv1\.4\.pth"):
        restorers.restore(Image.new("RGB", (64, 64)), "GFPGAN")
    with pytest.raises(ValueError, match="unknown face restoration model"):
        restorers.model_file("RestoreFormer")
    folder = tmp_path / "models" / "Codeformer"
    folder.mkdir(parents=True)
    (folder / codeformer_file.name).symlink_to(codeformer_file)
    with pytest.raises(ModelLoadError, match=r"Codeformer/detection_Resnet50_Final\.pth.*RetinaFace"):
        restorers.require_files("CodeFormer")
    write_detector(tmp_path / "models" / "GFPGAN" / DETECTOR_FILE, face=False)  # found in the other folder
    restorers.require_files("CodeFormer")
    assert restorers.model_file("CodeFormer").name == codeformer_file.name  # the detector is not a restorer
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    assert (np.asarray(restorers.restore(image, "CodeFormer")) == np.asarray(image)).all()  # no face found


def test_align_restore_paste_changes_only_the_face():
    image = Image.new("RGB", (300, 200), (10, 200, 30))
    seen = []

    def invert(face):
        seen.append(face.size)
        return Image.fromarray(255 - np.asarray(face))

    # landmarks of a face about 60 px wide centred near (150, 100)
    points = np.array([[135, 92], [165, 92], [150, 105], [137, 118], [163, 118]], np.float32)
    result = np.asarray(align_restore_paste(image, [points], invert)).astype(int)
    assert seen == [(512, 512)]
    assert tuple(result[105, 150]) == (245, 55, 225)  # the face centre is fully replaced
    assert tuple(result[5, 5]) == (10, 200, 30) and tuple(result[195, 295]) == (10, 200, 30)
    degenerate = np.zeros((5, 2), np.float32)
    unchanged = np.asarray(align_restore_paste(image, [degenerate], invert))
    assert (unchanged == np.asarray(image)).all()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("api-faces")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)
    with TestClient(app) as client:
        client.data = data
        yield client


def test_api_face_restorers_and_missing_file(api):
    listed = api.get("/sdapi/v1/face-restorers").json()
    assert [item["name"] for item in listed] == ["CodeFormer", "GFPGAN"]
    assert listed[0]["cmd_dir"].endswith("Codeformer")
    answer = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": "a face", "restore_faces": True})
    assert answer.status_code == 422
    assert "codeformer-v0.1.0.pth" in answer.json()["detail"] and "Codeformer" in answer.json()["detail"]
    answer = api.post("/sdapi/v1/extra-single-image", json={"image": png_b64(), "gfpgan_visibility": 0.5})
    assert answer.status_code == 422 and "GFPGANv1.4.pth" in answer.json()["detail"]


def test_api_restore_faces_with_a_codeformer_file(api, codeformer_file):
    folder = api.data / "models" / "Codeformer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / codeformer_file.name).symlink_to(codeformer_file)
    answer = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": "a face", "restore_faces": True})
    assert answer.status_code == 422 and DETECTOR_FILE in answer.json()["detail"]
    write_detector(folder / DETECTOR_FILE, face=True)  # one face: CodeFormer runs once (slow on a CPU)
    plain = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": "a face", "seed": 3}).json()
    answer = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": "a face", "seed": 3, "restore_faces": True})
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    assert "Face restoration: CodeFormer" in info["infotexts"][0]
    assert info["restore_faces"] is True and info["face_restoration_model"] == "CodeFormer"
    restored = np.asarray(decode(answer.json()["images"][0]))
    assert restored.shape == (64, 64, 3)
    assert not (restored == np.asarray(decode(plain["images"][0]))).all()  # the face area was replaced
    write_detector(folder / DETECTOR_FILE, face=False)  # the rest runs the same path up to "no face found"
    # the setting, through override_settings, asks for it too; restore_faces false wins over it
    by_setting = api.post(
        "/sdapi/v1/txt2img", json={**FAST, "seed": 3, "override_settings": {"face_restoration": True}}
    ).json()
    assert "Face restoration: CodeFormer" in json.loads(by_setting["info"])["infotexts"][0]
    refused = api.post(
        "/sdapi/v1/txt2img",
        json={**FAST, "seed": 3, "restore_faces": False, "override_settings": {"face_restoration": True}},
    ).json()
    assert "Face restoration" not in json.loads(refused["info"])["infotexts"][0]
    extras = api.post(
        "/sdapi/v1/extra-single-image",
        json={"image": png_b64(), "codeformer_visibility": 0.6, "codeformer_weight": 0.25},
    )
    assert extras.status_code == 200, extras.text
    assert "CodeFormer visibility: 0.6, CodeFormer weight: 0.25" in extras.json()["html_info"]
