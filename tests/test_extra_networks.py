"""Extra Networks without a browser: card files (preview, ``name.json``), filtering and HTML, the preview path
check, and through the API the A1111 warning for a LoRA that does not exist; the token counter ignores tags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from modules.models.network_meta import (
    find_preview,
    lora_prompt,
    parse_weight,
    read_user_metadata,
    servable_preview,
    user_metadata_path,
    write_user_metadata,
)
from modules.ui.extra_network_cards import Card, card_html, folders, visible_cards
from modules.ui.extra_networks import training_metadata_html
from tests.checkpoint_factory import write_checkpoint, write_lora
from tests.test_api_helpers import build


def test_preview_prefers_name_png_then_preview_png(tmp_path):
    model = tmp_path / "style.safetensors"
    model.write_bytes(b"x")
    assert find_preview(model) is None
    Image.new("RGB", (2, 2)).save(tmp_path / "style.preview.png")
    assert find_preview(model) == tmp_path / "style.preview.png"
    Image.new("RGB", (2, 2)).save(tmp_path / "style.png")
    assert find_preview(model) == tmp_path / "style.png"


def test_user_metadata_round_trip_keeps_other_keys(tmp_path):
    model = tmp_path / "style.safetensors"
    model.write_bytes(b"x")
    assert read_user_metadata(model) == {}
    user_metadata_path(model).write_text(json.dumps({"sd version": "SD1"}), encoding="utf-8")
    path = write_user_metadata(model, {"preferred weight": 0.7, "notes": "n"})
    assert path == tmp_path / "style.json"
    assert read_user_metadata(model) == {"sd version": "SD1", "preferred weight": 0.7, "notes": "n"}
    path.write_text("{not json", encoding="utf-8")
    assert read_user_metadata(model) == {}  # unreadable: ignored, never an error on the page
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, "<lora:ink:1>"),
        ({"preferred weight": 0}, "<lora:ink:1>"),
        ({"preferred weight": "0.6"}, "<lora:ink:0.6>"),
        ({"preferred weight": 0.8, "activation text": " inked "}, "<lora:ink:0.8> inked"),
    ],
)
def test_lora_prompt_uses_preferred_weight_and_activation_text(metadata, expected):
    assert lora_prompt("ink", metadata) == expected


def test_parse_weight_rejects_non_numbers():
    assert parse_weight("abc") is None and parse_weight(None) is None and parse_weight(float("nan")) is None


def test_servable_preview_refuses_paths_outside_roots(tmp_path):
    root = tmp_path / "models" / "Lora"
    root.mkdir(parents=True)
    inside = root / "a.png"
    Image.new("RGB", (2, 2)).save(inside)
    outside = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(outside)
    (root / "model.safetensors").write_bytes(b"x")
    (root / "link.png").symlink_to(outside)
    assert servable_preview(str(inside), [root]) == inside.resolve()
    assert servable_preview(str(root / ".." / ".." / "secret.png"), [root]) is None
    assert servable_preview(str(outside), [root]) is None
    assert servable_preview(str(root / "link.png"), [root]) is None
    assert servable_preview(str(root / "model.safetensors"), [root]) is None
    assert servable_preview("a\x00.png", [root]) is None


def _card(name: str, folder: str = "", mtime: float = 0.0, description: str = "") -> Card:
    path = Path("/m") / folder / f"{name}.safetensors"
    return Card("lora", name, path, folder, f"<lora:{name}:1>", description, mtime, None)


def test_visible_cards_search_folder_and_sort():
    cards = [_card("b", mtime=1), _card("a", "sub", mtime=3), _card("c", "sub/deep", mtime=2, description="Ink")]
    assert [c.name for c in visible_cards(cards, sort="Name")] == ["a", "b", "c"]
    assert [c.name for c in visible_cards(cards, sort="Date Modified")] == ["a", "c", "b"]
    assert [c.name for c in visible_cards(cards, sort="Path")] == ["b", "a", "c"]
    assert [c.name for c in visible_cards(cards, search="ink")] == ["c"]
    assert [c.name for c in visible_cards(cards, folder="sub")] == ["a", "c"]
    assert folders(cards) == ["All", "sub", "sub/deep"]


def test_card_html_escapes_user_text():
    html_text = card_html("txt2img", _card('x"><script>alert(1)</script>', description="<b>"))
    assert "<script>" not in html_text and "&lt;b&gt;" in html_text


def test_training_metadata_table():
    table = training_metadata_html({"ss_network_dim": "4", "ss_tag_frequency": json.dumps({"1_x": {"cat": 3}})})
    assert "ss_network_dim" in table and "cat (3)" in table
    assert training_metadata_html({}) == ""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("en-api")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "alpha.safetensors", seed=0)
    write_lora(data / "models" / "Lora" / "ink.safetensors")
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)
    with TestClient(app) as client:
        client.backend = backend
        yield client


def test_unknown_lora_gets_a1111_warning_in_the_api_answer(api):
    fast = {"steps": 1, "width": 64, "height": 64}
    answer = api.post("/sdapi/v1/txt2img", json={**fast, "prompt": "a cat <lora:nosuch:1> <lora:ink:0.5>"})
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    assert info["comments"] == "Networks not found: nosuch"
    assert 'Lora hashes: "ink: ' in info["infotexts"][0]
    known = api.post("/sdapi/v1/txt2img", json={**fast, "prompt": "a cat <lora:ink:1>"})
    assert "comments" not in json.loads(known.json()["info"])


def test_token_counter_ignores_extra_network_tags(api):
    from modules.ui.toprow import token_count_text

    plain = token_count_text(api.backend, "a cat")
    assert plain.endswith(">2/75</span>")
    assert token_count_text(api.backend, "a cat <lora:ink:1> <hypernet:x:1>") == plain
