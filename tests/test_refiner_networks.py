"""The prompt's LoRAs, hypernetworks and embeddings act on the refiner too, as in A1111, and leave no model changed.

Base and refiner are of different families (SD 1.x and SDXL, tiny), so a network file can fit one and not
the other: a change in the picture then shows which model the network reached.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from safetensors.torch import load_file, save_file

from tests.checkpoint_factory import write_checkpoint, write_embedding, write_hypernetwork, write_lora
from tests.test_api_helpers import build, decode

FAST = {"steps": 4, "width": 64, "height": 64, "seed": 7, "sampler_name": "Euler"}
SDXL_ONLY_BLOCKS = ("lora_unet_input_blocks_3_1_", "lora_unet_input_blocks_5_1_")  # sd15_tiny has no such layers


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("refiner-networks")
    folder = data / "models" / "Stable-diffusion"
    write_checkpoint("sd15_tiny", folder / "alpha.safetensors", seed=0)
    write_checkpoint("sdxl_tiny", folder / "xl.safetensors", seed=1)
    lora = write_lora(data / "models" / "Lora" / "xlonly.safetensors", "sdxl_tiny", include_text=False, scale=0.5)
    kept = {key: value for key, value in load_file(lora).items() if key.startswith(SDXL_ONLY_BLOCKS)}
    assert kept
    save_file(kept, lora)
    # the SDXL tiny context is 80 wide: only the refiner's cross-attention has a width this file knows
    write_hypernetwork(data / "models" / "hypernetworks" / "xlctx.pt", widths=(80,))
    (data / "embeddings").mkdir()
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.data = data
        yield client


def _run(api, prompt: str, checkpoint: str = "alpha", **fields) -> tuple[bytes, str]:
    body = {**FAST, "prompt": prompt, "override_settings": {"sd_model_checkpoint": checkpoint}, **fields}
    answer = api.post("/sdapi/v1/txt2img", json=body)
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    assert "comments" not in info, info["comments"]
    return decode(answer.json()["images"][0]).tobytes(), info["infotexts"][0]


REFINER = {"refiner_checkpoint": "xl", "refiner_switch_at": 0.5}
HIRES = {"enable_hr": True, "hr_scale": 1.5, "denoising_strength": 0.6, "hr_checkpoint_name": "xl"}


@pytest.mark.parametrize("second", [REFINER, HIRES], ids=["refiner", "hires-checkpoint"])
@pytest.mark.parametrize("tag", ["<lora:xlonly:1>", "<hypernet:xlctx:1>"])
def test_network_reaches_the_second_model_and_is_removed_after(api, tag, second):
    plain, _ = _run(api, "a cat")
    switched, _ = _run(api, "a cat", **second)
    assert _run(api, f"a cat {tag}")[0] == plain  # the file does not fit the base model: no change there
    with_network, text = _run(api, f"a cat {tag}", **second)
    assert "Refiner: xl [" in text or "Hires checkpoint: xl [" in text
    assert with_network != switched  # so this difference comes from the second model's part of the job
    # no model keeps the network: both give their plain pictures again
    assert _run(api, "a cat")[0] == plain
    assert _run(api, "a cat", **second)[0] == switched


def test_embedding_reaches_the_refiner(api):
    # an SD 1.x embedding fits the SD 1.x refiner and not the SDXL base
    before_base, _ = _run(api, "a cat emb", "xl")
    before, _ = _run(api, "a cat emb", "xl", refiner_checkpoint="alpha", refiner_switch_at=0.5)
    path = write_embedding(api.data / "embeddings" / "emb.pt", width=32)
    try:
        assert _run(api, "a cat emb", "xl")[0] == before_base
        after, _ = _run(api, "a cat emb", "xl", refiner_checkpoint="alpha", refiner_switch_at=0.5)
        assert after != before
    finally:
        path.unlink()
