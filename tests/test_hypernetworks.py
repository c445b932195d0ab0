"""Hypernetworks: A1111's .pt layout read through the safe unpickler, the k/v context formula, the patch that
leaves no trace, and through the API the list, ``<hypernet:name:w>`` changing the picture and the warning."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from fastapi.testclient import TestClient

from modules.models.errors import ModelLoadError
from modules.models.hypernetwork import HypernetStructure, build_layers, hypernet_patch, load_hypernetwork
from modules.processing.job_networks import network_requests
from tests.checkpoint_factory import write_checkpoint, write_hypernetwork
from tests.test_api_helpers import build, decode

FAST = {"steps": 3, "width": 64, "height": 64, "seed": 11, "sampler_name": "Euler", "prompt": "a cat"}


def _mlp_by_hand(state: dict, x: torch.Tensor, layer_norm: bool) -> torch.Tensor:
    """A1111's module for ``[1, 2, 1]``, ReLU, output not activated, computed from the saved tensors."""
    first, second = ("linear.0", "linear.3") if layer_norm else ("linear.0", "linear.2")
    h = torch.relu(x @ state[f"{first}.weight"].T + state[f"{first}.bias"])
    if layer_norm:
        h = torch.nn.functional.layer_norm(h, h.shape[-1:], state["linear.2.weight"], state["linear.2.bias"])
    out = h @ state[f"{second}.weight"].T + state[f"{second}.bias"]
    if layer_norm:
        out = torch.nn.functional.layer_norm(out, out.shape[-1:], state["linear.4.weight"], state["linear.4.bias"])
    return out


@pytest.mark.parametrize("layer_norm", [True, False])
def test_a1111_file_loads_and_applies_x_plus_mlp_times_strength(tmp_path, layer_norm):
    path = write_hypernetwork(tmp_path / "ink.pt", widths=(32, 64), layer_norm=layer_norm)
    hypernet = load_hypernetwork(path, "ink")
    assert sorted(hypernet.layers) == [32, 64] and hypernet.name == "ink"
    saved = torch.load(path, weights_only=True)
    x = torch.randn(2, 5, 32)
    for side in (0, 1):
        expected = x + _mlp_by_hand(saved[32][side], x, layer_norm) * 0.7
        assert torch.allclose(hypernet.layers[32][side](x, 0.7), expected, atol=1e-5)
    assert not torch.allclose(hypernet.layers[32][0](x), hypernet.layers[32][1](x))  # k and v differ


def test_layer_indices_follow_a1111_for_dropout_and_activation():
    structure = HypernetStructure((1, 2, 2, 1), "relu", layer_norm=False, dropout=True, activate_output=False)
    kinds = [type(layer).__name__ for layer in build_layers(8, structure)]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="start and end with 1"):
        build_layers(8, HypernetStructure((2, 1)))


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as file:
        pickle.dump({768: _Exploit(str(marker)), "layer_structure": [1, 2, 1]}, file)
    with pytest.raises(ModelLoadError, match="evil.pt"):
        load_hypernetwork(path, "evil")
    assert not marker.exists()


def test_not_a_hypernetwork_is_a_clear_error(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"a": torch.zeros(2)}}, path)
    with pytest.raises(ModelLoadError, match="no layers"):
        load_hypernetwork(path, "weights")
    torch.save({32: ({"linear.0.weight": torch.zeros(3, 3)}, {})}, path)
    with pytest.raises(ModelLoadError, match="not a usable hypernetwork"):
        load_hypernetwork(path, "weights")


def test_patch_changes_k_and_v_inputs_only_while_inside(tmp_path):
    from diffusers.models.attention_processor import Attention

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn1 = Attention(32, heads=2, dim_head=16)
            self.attn2 = Attention(32, cross_attention_dim=64, heads=2, dim_head=16)

    torch.manual_seed(0)
    unet = Block().eval()
    hypernet = load_hypernetwork(write_hypernetwork(tmp_path / "h.pt", widths=(64,)), "h")
    x, context = torch.randn(1, 4, 32), torch.randn(1, 3, 64)
    with torch.no_grad():
        self_before, cross_before = unet.attn1(x), unet.attn2(x, context)
        with hypernet_patch(unet, [(hypernet, 1.0)]) as hooked:
            self_inside, cross_inside = unet.attn1(x), unet.attn2(x, context)
        self_after, cross_after = unet.attn1(x), unet.attn2(x, context)
        with hypernet_patch(unet, [(hypernet, 0.0)]):
            zero = unet.attn2(x, context)
    assert hooked == 2
    assert torch.equal(self_inside, self_before)  # no layers for width 32: self-attention untouched
    assert not torch.allclose(cross_inside, cross_before)  # width 64: the context of k and v changed
    assert torch.equal(cross_after, cross_before) and torch.equal(self_after, self_before)
    assert torch.allclose(zero, cross_before)


def test_prompt_tags_become_requests():
    requests = network_requests("x <hypernet:ink:0.4> <lora:a:1> <hypernet:b>")
    assert requests.hypernets == (("ink", 0.4), ("b", 1.0)) and requests.loras == (("a", 1.0, 1.0),)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("hypernet")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors", seed=0)
    write_hypernetwork(data / "models" / "hypernetworks" / "ink.pt", widths=(32, 64))
    write_hypernetwork(data / "models" / "hypernetworks" / "styles" / "soft.pt", widths=(32,), seed=3)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.backend = backend
        client.data = data
        yield client


def _txt2img(api, prompt: str):
    answer = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": prompt})
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    return decode(answer.json()["images"][0]), info


def test_api_lists_hypernetworks_and_new_files_appear(api):
    listed = api.get("/sdapi/v1/hypernetworks").json()
    folder = api.data / "models" / "hypernetworks"
    assert listed == [
        {"name": "ink", "path": str(folder / "ink.pt")},
        {"name": "soft", "path": str(folder / "styles" / "soft.pt")},
    ]
    from modules.a1111 import shared  # what A1111 extensions read

    assert shared.hypernetworks == {item["name"]: item["path"] for item in listed}
    write_hypernetwork(folder / "later.pt", widths=(32,))
    try:
        assert "later" in [item["name"] for item in api.get("/sdapi/v1/hypernetworks").json()]
    finally:
        (folder / "later.pt").unlink()


def test_hypernet_tag_changes_the_picture_for_the_job_only(api):
    plain, _ = _txt2img(api, "a cat")
    styled, info = _txt2img(api, "a cat <hypernet:ink:1>")
    weaker, _ = _txt2img(api, "a cat <hypernet:ink:0.3>")
    assert styled.tobytes() != plain.tobytes() and weaker.tobytes() not in (plain.tobytes(), styled.tobytes())
    assert info["infotexts"][0].startswith("a cat <hypernet:ink:1>\n")  # A1111 1.10 keeps the tag in the prompt
    assert "comments" not in info
    again, _ = _txt2img(api, "a cat")
    assert again.tobytes() == plain.tobytes()  # nothing left on the model after the job


def test_unknown_hypernet_gets_the_a1111_warning(api):
    plain, _ = _txt2img(api, "a cat")
    image, info = _txt2img(api, "a cat <hypernet:nosuch:1>")
    assert info["comments"] == "Networks not found: nosuch"
    assert image.tobytes() == plain.tobytes()


def test_refused_hypernet_file_is_a_clear_4xx(api):
    path = api.data / "models" / "hypernetworks" / "evil.pt"
    marker = api.data / "pwned"
    with open(path, "wb") as file:
        pickle.dump({32: _Exploit(str(marker))}, file)
    try:
        answer = api.post("/sdapi/v1/txt2img", json={**FAST, "prompt": "a cat <hypernet:evil:1>"})
        assert 400 <= answer.status_code < 500 and "evil.pt" in answer.text
        assert not marker.exists()
    finally:
        path.unlink()


def test_hypernetworks_tab_is_shown_only_when_files_exist(tmp_path):
    from types import SimpleNamespace

    from modules.ui.extra_networks import render_pages

    backend = SimpleNamespace(models=None, paths=SimpleNamespace(hypernetworks=tmp_path), settings=None)
    assert render_pages(backend, "txt2img", "", "Path", "All")[-1]["visible"] is False
    write_hypernetwork(tmp_path / "sub" / "a.pt")
    assert render_pages(backend, "txt2img", "", "Path", "All")[-1]["visible"] is True


def test_hypernetwork_cards_insert_the_tag_with_the_preferred_weight(api):
    from modules.models.network_meta import write_user_metadata
    from modules.ui.extra_network_cards import collect_cards

    cards = {card.name: card for card in collect_cards(api.backend, "hypernetworks")}
    assert cards["ink"].prompt == "<hypernet:ink:1>" and cards["soft"].folder == "styles"
    path = write_user_metadata(cards["ink"].path, {"preferred weight": 0.6, "activation text": "ink wash"})
    try:
        cards = {card.name: card for card in collect_cards(api.backend, "hypernetworks")}
        assert cards["ink"].prompt == "<hypernet:ink:0.6> ink wash"
    finally:
        path.unlink()
