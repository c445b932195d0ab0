"""Interrogate CLIP: Salesforce BLIP and OpenAI CLIP files in their released key layouts (tiny widths), the key
mappings onto transformers' classes, the TorchScript reader, category lists, Extras caption files, and
``/sdapi/v1/interrogate`` with model "clip"."""

from __future__ import annotations

import json
import pickle
import re
import zipfile

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from modules.interrogate import blip, categories, clip_model
from modules.interrogate.caption import combined_caption, make_caption, write_caption
from modules.interrogate.clip_interrogator import ClipInterrogator
from modules.interrogate.torchscript import is_torchscript, read_tensors
from modules.models.errors import ModelLoadError
from tests.checkpoint_factory import write_checkpoint
from tests.interrogate_factory import blip_state, openai_clip_state, write_blip, write_torchscript_clip
from tests.test_api_helpers import build, png_b64

SHORT = {"interrogate_clip_min_length": 4, "interrogate_clip_max_length": 8}


class Settings(dict):
    def get(self, key, default=None):
        return super().get(key, default)


def test_blip_keys_fill_every_transformers_parameter():
    from transformers import BlipForConditionalGeneration

    salesforce = blip_state(width=32, depth=2, text_width=32, text_depth=2)
    mapped = blip.to_transformers_keys(salesforce)
    assert torch.equal(
        mapped["vision_model.encoder.layers.1.self_attn.qkv.weight"],
        salesforce["visual_encoder.blocks.1.attn.qkv.weight"],
    )
    assert (
        "vision_model.embeddings.class_embedding" in mapped
        and "text_decoder.bert.embeddings.position_ids" not in mapped
    )
    config = blip.config_from_shapes(mapped)
    assert (config.vision_config.num_hidden_layers, config.vision_config.image_size) == (2, 32)
    assert (config.text_config.num_hidden_layers, config.text_config.encoder_hidden_size) == (2, 32)
    expected = {k for k in BlipForConditionalGeneration(config).state_dict() if not k.endswith("position_ids")}
    assert set(mapped) == expected


def test_bert_tokenizer_is_bert_base_uncased_with_blip_tokens():
    tokenizer = blip.bert_tokenizer()
    assert tokenizer("a picture of").input_ids == [101, 1037, 3861, 1997, 102]
    assert tokenizer.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [30522, 30523]
    assert len(tokenizer) == 30524


def test_clip_openai_keys_map_onto_clip_model():
    from transformers import CLIPModel

    openai = openai_clip_state(width=64, depth=2, text_width=64, text_depth=1)
    mapped = clip_model.to_transformers_keys(openai)
    fused = openai["visual.transformer.resblocks.1.attn.in_proj_weight"]
    assert torch.equal(mapped["vision_model.encoder.layers.1.self_attn.k_proj.weight"], fused[64:128])
    assert torch.equal(mapped["text_projection.weight"], openai["text_projection"].t())
    config = clip_model.config_from_shapes(mapped)
    assert config.vision_config.hidden_act == "quick_gelu" and config.vision_config.num_attention_heads == 1
    expected = {k for k in CLIPModel(config).state_dict() if not k.endswith("position_ids")}
    assert set(mapped) == expected
    assert clip_model.to_transformers_keys(mapped) == mapped  # transformers layout passes through


def test_torchscript_archive_read_without_running_code(tmp_path):
    state = openai_clip_state()
    path = write_torchscript_clip(tmp_path / "ViT-L-14.pt", state)
    assert is_torchscript(path)
    tensors = read_tensors(path)
    assert set(tensors) == set(state) and all(torch.equal(tensors[k], state[k]) for k in state)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(Evil()))
        archive.writestr("evil/code/__torch__/x.py", "")
    with pytest.raises(ModelLoadError, match="not allowed"):
        read_tensors(evil)


def test_clip_formats_give_the_same_embedding(tmp_path):
    from safetensors.torch import save_file

    state = openai_clip_state()
    script = write_torchscript_clip(tmp_path / "a" / "ViT-L-14.pt", state)
    hf = tmp_path / "b" / "model.safetensors"
    hf.parent.mkdir()
    save_file(clip_model.to_transformers_keys(state), str(hf))
    assert clip_model.find_file(tmp_path / "b") == hf and clip_model.find_file(tmp_path / "c") is None
    image = Image.new("RGB", (50, 30), (10, 200, 90))
    first = clip_model.image_features(clip_model.build_model(script), image)
    second = clip_model.image_features(clip_model.build_model(hf), image)
    assert first.shape == (1, 16) and torch.allclose(first, second, atol=1e-5)
    text = clip_model.text_features(clip_model.build_model(script), ["a cat", "a dog"])
    assert text.shape == (2, 16) and not torch.allclose(text[0], text[1])


def test_categories_follow_a1111_file_rules(tmp_path):
    (tmp_path / "interrogate").mkdir()
    (tmp_path / "interrogate" / "styles.top2.txt").write_text("one\n\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "interrogate" / "colors.txt").write_text("red\nblue\n", encoding="utf-8")
    folder = categories.category_folder(tmp_path)
    assert categories.category_names(folder) == ["colors", "styles.top2"]
    loaded = categories.load_categories(folder, skip=["colors"], limit=2)
    assert loaded == [categories.Category("styles.top2", 2, ("one", "two"))]
    assert categories.category_folder(tmp_path / "none") == categories.SHIPPED
    shipped = categories.category_names(categories.SHIPPED)
    assert shipped == ["artists", "flavors.top3", "mediums", "movements"]
    assert categories.format_matches("a cat", [("oil", 0.5)], True) == "a cat, (oil:0.500)"
    assert categories.format_matches("a cat", [("oil", 0.5)], False) == "a cat, oil"


def test_interrogator_names_missing_files_then_captions(tmp_path):
    interrogator = ClipInterrogator(tmp_path / "models", data_dir=tmp_path, settings=Settings(SHORT))
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    with pytest.raises(ModelLoadError, match=r"model_base_caption_capfilt_large\.pth.*BLIP"):
        interrogator.interrogate(image)
    write_blip(tmp_path / "models" / "BLIP" / blip.MODEL_FILE)
    with pytest.raises(ModelLoadError, match=r"ViT-L-14\.pt.*CLIP"):
        interrogator.interrogate(image)
    write_torchscript_clip(tmp_path / "models" / "CLIP" / "ViT-L-14.pt", openai_clip_state())
    steps = []
    text = interrogator.interrogate(image, steps.append)
    assert steps[0].startswith("Loading BLIP") and "Ranking with CLIP" in steps
    parts = text.split(", ")
    assert len(parts) == 1 + 1 + 3 + 1 + 1  # caption, artist, 3 flavors, medium, movement
    assert parts[1] in categories.load_categories(categories.SHIPPED)[0].items
    again = []
    assert interrogator.interrogate(image, again.append) == text  # beam search without sampling: deterministic
    assert not any(step.startswith("Loading") for step in again)  # models stay in RAM, as A1111
    interrogator.unload()
    assert interrogator.interrogate(image, again.append) == text and again[-4].startswith("Loading BLIP")


def test_caption_text_and_file(tmp_path):
    image = Image.new("RGB", (8, 8))
    describers = {"Deepbooru": lambda _: "1girl, solo", "BLIP": lambda _: "a photo"}
    assert make_caption(image, ["BLIP", "Deepbooru"], describers) == "1girl, solo, a photo"
    with pytest.raises(ValueError, match="unknown option 'CLIP'"):
        make_caption(image, ["CLIP"], describers)
    assert combined_caption("new", "old", "Prepend") == "old new"
    assert combined_caption("new", "old", "Append") == "new old"
    assert combined_caption("new", "old", "Keep") == "old"
    target = write_caption(tmp_path / "00001.png", "a photo")
    assert target == tmp_path / "00001.txt" and target.read_text(encoding="utf-8") == "a photo"
    write_caption(tmp_path / "00001.png", "more", "Append")
    assert target.read_text(encoding="utf-8") == "more a photo"
    assert write_caption(tmp_path / "00002.png", "") is None


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("api-interrogate-clip")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "alpha.safetensors", seed=0)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        client.data = data
        yield client


def test_api_interrogate_clip(api):
    image = png_b64(80, 48)
    assert api.post("/sdapi/v1/options", json={**SHORT, "interrogate_return_ranks": True}).status_code == 200
    missing = api.post("/sdapi/v1/interrogate", json={"image": image, "model": "clip"})
    assert missing.status_code == 422
    assert "model_base_caption_capfilt_large.pth" in missing.json()["detail"] and "BLIP" in missing.json()["detail"]
    write_blip(api.data / "models" / "BLIP" / blip.MODEL_FILE)
    no_clip = api.post("/sdapi/v1/interrogate", json={"image": image, "model": "clip"})
    assert no_clip.status_code == 422 and "ViT-L-14.pt" in no_clip.json()["detail"]
    write_torchscript_clip(api.data / "models" / "CLIP" / "ViT-L-14.pt", openai_clip_state())
    answer = api.post("/sdapi/v1/interrogate", json={"image": image, "model": "clip"})
    assert answer.status_code == 200, answer.text
    caption = answer.json()["caption"]
    assert isinstance(caption, str) and caption.split(", (")[0].strip()
    assert (
        len(re.findall(r", \([^()]+:[01]\.\d{3}\)", caption)) == 6
    )  # ranks shown: 1 artist + 3 flavors + 1 medium + 1 movement
    again = api.post("/sdapi/v1/interrogate", json={"image": image})  # "clip" is the default model
    assert again.status_code == 200 and again.json()["caption"] == caption

    from modules.a1111 import shared  # A1111 extensions call shared.interrogator

    picture = Image.new("RGB", (80, 48), (200, 40, 40))
    assert shared.interrogator.interrogate(picture) == caption
    assert caption.startswith(shared.interrogator.generate_caption(picture) + ", (")


def test_loopback_appends_the_interrogated_prompt(api):
    from tests.test_interrogate import write_deepbooru

    body = {
        "steps": 2,
        "width": 64,
        "height": 64,
        "seed": 3,
        "sampler_name": "Euler",
        "denoising_strength": 0.5,
        "prompt": "a boat",
        "init_images": [png_b64(64, 64)],
        "script_name": "Loopback",
        "script_args": [2, 0.3, "Linear", "DeepBooru"],
    }
    assert api.post("/sdapi/v1/options", json={"interrogate_return_ranks": False}).status_code == 200
    missing = api.post("/sdapi/v1/img2img", json=body)
    assert 400 <= missing.status_code < 500 and "model-resnet_custom_v3.pt" in missing.text
    write_deepbooru(api.data / "models" / "torch_deepdanbooru" / "model-resnet_custom_v3.pt")
    answer = api.post("/sdapi/v1/img2img", json=body)
    assert answer.status_code == 200, answer.text
    info = json.loads(answer.json()["info"])
    assert info["infotexts"][1].startswith("a boat, long hair, smile \\(happy\\)\n")
    wrong = api.post("/sdapi/v1/img2img", json={**body, "script_args": [2, 0.3, "Linear", "BLIP2"]})
    assert 400 <= wrong.status_code < 500 and "BLIP2" in wrong.text


def test_clip_models_path_flag_moves_the_clip_folder(tmp_path):

    folder = tmp_path / "elsewhere"
    backend, _app = build(tmp_path, "--clip-models-path", str(folder))
    write_blip(tmp_path / "models" / "BLIP" / blip.MODEL_FILE)
    with pytest.raises(ModelLoadError, match="elsewhere"):
        backend.clip_interrogator().require_files()
    write_torchscript_clip(folder / "ViT-L-14.pt", openai_clip_state())
    backend.clip_interrogator().require_files()


def test_wrong_files_are_named_not_tracebacks(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": {"visual_encoder.cls_token": torch.zeros(1, 1, 8)}}, wrong)
    with pytest.raises(ModelLoadError, match="wrong.pth.*not a BLIP caption checkpoint"):
        blip.build_model(wrong)
    with pytest.raises(ModelLoadError, match="wrong.pth.*not a CLIP model"):
        clip_model.build_model(wrong)


def _openai_tower(state, prefix, x, heads_width=64, causal=False):
    """OpenAI CLIP's transformer written out with torch's MultiheadAttention (the layout the file comes from)."""
    width = x.shape[-1]
    heads = max(1, width // heads_width)
    count = len({k[len(prefix) :].split(".")[1] for k in state if k.startswith(f"{prefix}resblocks.")})
    mask = torch.full((x.shape[1], x.shape[1]), float("-inf")).triu(1) if causal else None
    for n in range(count):
        b = f"{prefix}resblocks.{n}."
        attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        attention.in_proj_weight.data = state[b + "attn.in_proj_weight"]
        attention.in_proj_bias.data = state[b + "attn.in_proj_bias"]
        attention.out_proj.weight.data = state[b + "attn.out_proj.weight"]
        attention.out_proj.bias.data = state[b + "attn.out_proj.bias"]
        h = torch.nn.functional.layer_norm(x, (width,), state[b + "ln_1.weight"], state[b + "ln_1.bias"])
        x = x + attention(h, h, h, need_weights=False, attn_mask=mask)[0]
        h = torch.nn.functional.layer_norm(x, (width,), state[b + "ln_2.weight"], state[b + "ln_2.bias"])
        h = torch.nn.functional.linear(h, state[b + "mlp.c_fc.weight"], state[b + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + torch.nn.functional.linear(h, state[b + "mlp.c_proj.weight"], state[b + "mlp.c_proj.bias"])
    return x


def test_clip_embeddings_match_openai_arithmetic(tmp_path):
    """The converted model computes what OpenAI's CLIP computes from the same weights (image and text)."""
    F = torch.nn.functional
    state = openai_clip_state(width=64, depth=2, text_width=64, text_depth=2)
    path = write_torchscript_clip(tmp_path / "ViT-L-14.pt", state)
    model = clip_model.build_model(path)
    image = Image.new("RGB", (40, 60), (30, 90, 160))
    pixels = clip_model.pixels(image, 28)
    with torch.no_grad():
        patches = F.conv2d(pixels, state["visual.conv1.weight"], stride=14).flatten(2).transpose(1, 2)
        x = torch.cat([state["visual.class_embedding"].expand(1, 1, -1), patches], dim=1)
        x = x + state["visual.positional_embedding"]
        x = F.layer_norm(x, (64,), state["visual.ln_pre.weight"], state["visual.ln_pre.bias"])
        x = _openai_tower(state, "visual.transformer.", x)
        x = F.layer_norm(x[:, 0], (64,), state["visual.ln_post.weight"], state["visual.ln_post.bias"])
        expected_image = x @ state["visual.proj"]
        from modules.models.tokenizer import clip_tokenizer

        ids = clip_tokenizer()(["a red boat"], return_tensors="pt").input_ids  # BOS ... EOS, no padding
        t = state["token_embedding.weight"][ids] + state["positional_embedding"][: ids.shape[1]]
        t = _openai_tower(state, "transformer.", t, causal=True)
        t = F.layer_norm(t, (64,), state["ln_final.weight"], state["ln_final.bias"])
        expected_text = t[0, ids[0].argmax()] @ state["text_projection"]
    ours_image = clip_model.image_features(model, image)[0]
    ours_text = clip_model.text_features(model, ["a red boat"])[0]
    assert torch.allclose(ours_image, expected_image / expected_image.norm(), atol=1e-5)
    assert torch.allclose(ours_text, expected_text / expected_text.norm(), atol=1e-5)
