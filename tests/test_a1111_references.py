"""Same request, same picture as the real AUTOMATIC1111: the shared references replayed through the HTTP API.

``../shared/fixtures/a1111-refs`` (beside the repository) holds requests the real A1111 answered, the PNGs it
returned and the two tiny checkpoints they were made from (see its README). Every case is replayed unchanged
against our API with both checkpoints installed under their own names, as ``../shared/tools/a1111_parity.py``
does; every returned image must be within 2/255 of A1111's, in A1111's count and seed order.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.test_api_helpers import build, decode

REFS = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "a1111-refs"
TOLERANCE = 2  # of 255, per pixel and channel


def _case_names() -> list[str]:
    folder = REFS / "cases"
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json") if not path.name.startswith("_"))


CASES = _case_names()
pytestmark = pytest.mark.skipif(not CASES, reason=f"A1111 references not found at {REFS}")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("a1111-refs")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    for checkpoint in (REFS / "checkpoints").glob("*.safetensors"):
        shutil.copyfile(checkpoint, folder / checkpoint.name)  # no .yaml: sizes and heads come from the weights
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # the start-up checkpoint load is done
    with TestClient(app) as client:
        yield client


def _replay(api, record: dict) -> dict:
    body = copy.deepcopy(record["request"])
    checkpoint = (body.get("override_settings") or {}).get("sd_model_checkpoint")
    if checkpoint:
        assert api.post("/sdapi/v1/options", json={"sd_model_checkpoint": checkpoint}).status_code == 200
    if record.get("prime_with_same_request"):  # A1111's VAE-encoder noise depends on the request before
        assert api.post(record["endpoint"], json=body).status_code == 200
    answer = api.post(record["endpoint"], json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("name", CASES)
def test_reference_case_matches_a1111_pixels(api, name):
    record = json.loads((REFS / "cases" / f"{name}.json").read_text())
    if record.get("status_code") != 200 or not record.get("images"):
        pytest.skip(f"A1111 answered {record.get('status_code')} without an image")
    result = _replay(api, record)
    got = [decode(text) for text in result["images"]]
    assert len(got) == len(record["images"]), "A1111 returns one image per seed and no grid by default"
    for index, (image, file_name) in enumerate(zip(got, record["images"], strict=True)):
        reference = decode_file(REFS / "cases" / file_name)
        assert image.size == reference.size
        ours = np.asarray(image.convert("RGB"), dtype=np.int16)
        theirs = np.asarray(reference.convert("RGB"), dtype=np.int16)
        difference = int(np.abs(ours - theirs).max())
        assert difference <= TOLERANCE, f"{name}[{index}]: max difference {difference}/255 from A1111"
    info = json.loads(result["info"])
    reference_seeds = [_seed(text) for text in record["infotexts"]]
    assert [_seed(text) for text in info["infotexts"]] == reference_seeds
    assert info["all_seeds"] == reference_seeds


def test_batch_of_four_returns_four_images_in_seed_order(api):
    """A 2x2 batch gives exactly 4 images (no grid with save_images false), seeds s, s+1, s+2, s+3."""
    answer = api.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "a cube", "seed": 900, "steps": 2, "width": 64, "height": 64, "batch_size": 2, "n_iter": 2},
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    infotexts = json.loads(result["info"])["infotexts"]
    assert len(result["images"]) == 4 and [_seed(text) for text in infotexts] == [900, 901, 902, 903]
    assert [_seed(decode(text).info["parameters"]) for text in result["images"]] == [900, 901, 902, 903]


def decode_file(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image


def _seed(infotext: str) -> int:
    match = re.search(r"(?:^|, )Seed: (\d+)", infotext.split("\n")[-1])
    assert match, infotext
    return int(match.group(1))
