"""Interrogation: DeepBooru from a file in the released key layout (``n_Conv_0`` .. ``n_Conv_178`` plus the
``tags`` list; small channel counts), A1111's tag formatting, and ``/sdapi/v1/interrogate`` answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from modules.interrogate.deepbooru import HEAD, PLAN, format_tags, read_model
from modules.models.errors import ModelLoadError
from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, png_b64

TAGS = ["long_hair", "smile_(happy)", "rating:safe", "no_such_thing"]


def write_deepbooru(path, channels=8, width=4):
    """Every convolution of the released network, with ``channels`` wide blocks; positive weights and biases
    keep every activation above zero, so the head decides: +1 rows say yes, -1 rows say no."""
    torch.manual_seed(0)
    state = {}

    def conv(index, cin, cout, kernel, bias=True):
        state[f"n_Conv_{index}.weight"] = torch.rand(cout, cin, kernel, kernel) * 0.1
        if bias:
            state[f"n_Conv_{index}.bias"] = torch.full((cout,), 0.1)

    conv(0, 3, channels, 7)
    for shortcut, (first, middle, last), _strided, _late in PLAN:
        if shortcut is not None:
            conv(shortcut, channels, channels, 1)
        conv(first, channels, width, 1)
        conv(middle, width, width, 3)
        conv(last, width, channels, 1)
    signs = torch.tensor([1.0, 1.0, 1.0, -1.0])[:, None, None, None]
    state[f"n_Conv_{HEAD}.weight"] = torch.ones(len(TAGS), channels, 1, 1) * signs
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "tags": TAGS}, path)


def test_released_layout_has_every_convolution():
    indices = {0, HEAD}
    for shortcut, convs, _strided, _late in PLAN:
        indices.update(convs)
        if shortcut is not None:
            indices.add(shortcut)
    assert indices == set(range(HEAD + 1))
    strided = [convs[1] for _s, convs, is_strided, _late in PLAN if is_strided]
    assert strided == [13, 38, 98, 160, 170]


def test_deepbooru_file_tags_an_image(tmp_path):
    path = tmp_path / "model-resnet_custom_v3.pt"
    write_deepbooru(path)
    model = read_model(path)
    pixels = torch.from_numpy(np.random.default_rng(0).random((1, 512, 512, 3), dtype=np.float32))
    with torch.no_grad():
        probabilities = model(pixels)[0]
    assert probabilities.shape == (4,)
    assert probabilities[0] > 0.5 and probabilities[3] < 0.5
    torch.save({"n_Conv_0.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match="no tag list"):
        read_model(tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match="model-resnet_custom_v3.pt.*never downloaded"):
        read_model(tmp_path / "absent" / "model-resnet_custom_v3.pt")


def test_format_tags_follows_a1111_options():
    probabilities = [0.9, 0.6, 0.99, 0.1]
    assert format_tags(probabilities, TAGS) == "long hair, smile \\(happy\\)"
    ranked = format_tags(probabilities, TAGS, sort_alpha=False, use_spaces=False, escape=False, include_ranks=True)
    assert ranked == "(long_hair:0.900), (smile_(happy):0.600)"
    assert format_tags(probabilities, TAGS, threshold=0.7, filter_tags=["long_hair"]) == ""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("api-interrogate")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "alpha.safetensors", seed=0)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.data = data
        yield client


def test_api_interrogate(api):
    image = png_b64(80, 48)
    missing = api.post("/sdapi/v1/interrogate", json={"image": image, "model": "deepdanbooru"})
    assert missing.status_code == 422
    assert "torch_deepdanbooru" in missing.json()["detail"] and "model-resnet_custom_v3.pt" in missing.json()["detail"]
    clip = api.post("/sdapi/v1/interrogate", json={"image": image})
    assert clip.status_code == 422 and "model_base_caption_capfilt_large.pth" in clip.json()["detail"]
    assert api.post("/sdapi/v1/interrogate", json={"image": image, "model": "blip2"}).status_code == 404
    write_deepbooru(api.data / "models" / "torch_deepdanbooru" / "model-resnet_custom_v3.pt")
    answer = api.post("/sdapi/v1/interrogate", json={"image": image, "model": "deepdanbooru"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"caption": "long hair, smile \\(happy\\)"}
