"""Text conditioning with A1111 semantics: tokenizer, 75-token chunks, BREAK, emphasis, clip skip, embeddings."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from modules.models.text_conditioner import BOS_TOKEN_ID, EOS_TOKEN_ID
from modules.models.tokenizer import clip_tokenizer, tokenize
from tests._models_fixtures import models_env, no_network  # noqa: F401
from tests.checkpoint_factory import write_checkpoint, write_embedding


@pytest.fixture
def loaded(models_env):
    def load(layout="sd15_tiny"):
        write_checkpoint(layout, models_env.checkpoint_dir / f"{layout}.safetensors")
        manager = models_env.manager("--no-hashing")
        return manager, manager.load(f"{layout}.safetensors")

    return load


def test_tokenizer_is_built_offline_from_the_open_clip_wheel(no_network):  # noqa: F811
    tokenizer = clip_tokenizer()
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tokenizer.get_vocab()) == 49408 and tokenizer.get_vocab()[",</w>"] == 267
    code = (
        "import sys; from modules.models.tokenizer import clip_tokenizer; clip_tokenizer(); "
        "print('open_clip' in sys.modules, 'torchvision' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.split() == ["False", "False"]


def test_chunking_break_weights_and_counts(loaded):
    _, model = loaded()
    conditioner = model.conditioner
    chunks, count = conditioner.tokenize_line("a photo of a (cat:1.5)")
    assert count == 5 and len(chunks) == 1 and len(chunks[0].tokens) == 77
    assert chunks[0].tokens[:7] == [BOS_TOKEN_ID, 320, 1125, 539, 320, 2368, EOS_TOKEN_ID]
    assert chunks[0].multipliers[5] == pytest.approx(1.5) and chunks[0].multipliers[4] == 1.0
    chunks, _ = conditioner.tokenize_line("a BREAK cat")
    assert len(chunks) == 2 and chunks[0].tokens[1:3] == [320, EOS_TOKEN_ID] and chunks[1].tokens[1] == 2368
    long = " ".join(["cat"] * 80)
    assert conditioner.count_tokens(long) == (80, 150)
    assert conditioner.count_tokens("") == (0, 75)
    assert [len(c.tokens) for c in conditioner.tokenize_line(long)[0]] == [77, 77]


def test_comma_backtrack_moves_the_last_phrase_to_the_next_chunk(loaded, models_env):
    manager, model = loaded()
    prompt = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    chunks, _ = model.conditioner.tokenize_line(prompt)
    assert chunks[0].tokens[71] == 267 and chunks[0].tokens[72] == EOS_TOKEN_ID  # cut after the comma
    assert chunks[1].tokens[1:11] == [1929] * 10
    manager.settings.set("comma_padding_backtrack", 0)
    chunks, _ = model.conditioner.tokenize_line(prompt)
    assert chunks[0].tokens[72:76] == [1929] * 4  # filled up to 75 tokens


def _manual(module, ids, pad, layer=-1, norm=False):
    tokens = [BOS_TOKEN_ID, *ids, EOS_TOKEN_ID]
    tokens += [pad] * (77 - len(tokens))
    with torch.no_grad():
        out = module(input_ids=torch.tensor([tokens]), output_hidden_states=True)
    hidden = out.hidden_states[layer] if layer != -1 else out.last_hidden_state
    if norm:
        hidden = module.get_submodule("final_layer_norm")(hidden)
    return hidden, out


def test_sd1_encoding_clip_skip_and_emphasis(loaded):
    manager, model = loaded()
    encoder = model.text_encoders[0]
    ids = tokenize(["a photo of a cat"])[0]
    plain = model.conditioner.encode(["a photo of a cat"])
    assert plain.crossattn.shape == (1, 77, 32) and plain.pooled is None
    assert torch.allclose(plain.crossattn, _manual(encoder, ids, EOS_TOKEN_ID)[0], atol=1e-6)
    skip2 = model.conditioner.encode(["a photo of a cat"], clip_skip=2)
    assert torch.allclose(skip2.crossattn, _manual(encoder, ids, EOS_TOKEN_ID, -2, norm=True)[0], atol=1e-6)
    assert not torch.allclose(skip2.crossattn, plain.crossattn)
    weighted = model.conditioner.encode(["a photo of a (cat:1.5)"]).crossattn
    assert not torch.allclose(weighted, plain.crossattn)
    assert weighted.mean().item() == pytest.approx(plain.crossattn.mean().item(), rel=1e-4)  # mean restored
    manager.settings.set("emphasis", "No norm")
    no_norm = model.conditioner.encode(["a photo of a (cat:1.5)"]).crossattn
    assert torch.allclose(no_norm[0, 5], plain.crossattn[0, 5] * 1.5, atol=1e-6)
    assert torch.allclose(no_norm[0, 4], plain.crossattn[0, 4])
    ignore = manager.settings.overlay({"emphasis": "Ignore"})
    assert torch.allclose(
        model.conditioner.encode(["a photo of a (cat:1.5)"], settings=ignore).crossattn, plain.crossattn
    )


def test_batches_with_different_lengths_are_padded_with_empty_chunks(loaded):
    _, model = loaded()
    long = " ".join(["cat"] * 80)
    both = model.conditioner.encode(["a dog", long]).crossattn
    assert both.shape == (2, 154, 32)
    empty_chunk = model.conditioner.encode([""]).crossattn[0]
    short = model.conditioner.encode(["a dog"]).crossattn[0]
    # emphasis rescales by the batch mean, as in A1111; all weights are 1 here, so values are exact
    assert torch.allclose(both[0, :77], short, atol=1e-5)
    assert torch.allclose(both[0, 77:], empty_chunk, atol=1e-5)


def test_sd2_pads_with_zero_after_eos_and_uses_the_penultimate_layer(loaded):
    _, model = loaded("sd21_v_tiny")
    ids = tokenize(["a photo of a cat"])[0]
    expected = _manual(model.text_encoders[0], ids, 0, -2, norm=True)[0]
    assert torch.allclose(model.conditioner.encode(["a photo of a cat"], clip_skip=3).crossattn, expected, atol=1e-6)
    padded_with_eos = _manual(model.text_encoders[0], ids, EOS_TOKEN_ID, -2, norm=True)[0]
    assert not torch.allclose(expected, padded_with_eos)


def test_sdxl_concatenates_both_encoders_and_pools_big_g(loaded):
    _, model = loaded("sdxl_tiny")
    ids = tokenize(["a photo of a cat"])[0]
    cond = model.conditioner.encode(["a photo of a cat"])
    assert cond.crossattn.shape == (1, 77, 80) and cond.pooled.shape == (1, 48)
    clip_l = _manual(model.text_encoders[0], ids, EOS_TOKEN_ID, -2)[0]
    big_g_hidden, big_g_out = _manual(model.text_encoders[1], ids, 0, -2)
    assert torch.allclose(cond.crossattn, torch.cat([clip_l, big_g_hidden], -1), atol=1e-6)
    assert torch.allclose(cond.pooled, big_g_out.text_embeds, atol=1e-6)
    negative = model.conditioner.encode(["", ""], is_negative_prompt=True)
    assert negative.crossattn.abs().sum() == 0 and negative.pooled.abs().sum() == 0


def test_embeddings_replace_their_name_in_prompts(loaded, models_env):
    manager, model = loaded()
    folder = manager.paths.embeddings
    write_embedding(folder / "mystyle.pt", vectors=2, width=32)
    write_embedding(folder / "other-style.safetensors", vectors=1, width=32, form="emb_params", seed=1)
    write_embedding(folder / "concept.bin", width=32, form="diffusers", seed=2)
    write_embedding(folder / "wide.pt", width=768)  # an SD 1.5 embedding: does not fit the tiny model
    write_embedding(folder / "xl.safetensors", form="sdxl")
    assert sorted(e.name for e in manager.embeddings()) == ["concept", "mystyle", "other-style", "wide", "xl"]
    fits = model.conditioner.embeddings.compatible(model.conditioner.encoder_widths())
    assert sorted(fits) == ["concept", "mystyle", "other-style"]
    assert model.conditioner.count_tokens("a mystyle cat") == (4, 75)
    chunks, _ = model.conditioner.tokenize_line("a other-style cat")
    assert chunks[0].tokens[2] == 0 and chunks[0].fixes[0][0] == 1
    with_embedding = model.conditioner.encode(["a mystyle cat"])
    assert with_embedding.embeddings_used == ("mystyle",)
    (folder / "mystyle.pt").unlink()
    without = model.conditioner.encode(["a mystyle cat"])
    assert without.embeddings_used == () and without.crossattn.shape == with_embedding.crossattn.shape
    assert not torch.allclose(with_embedding.crossattn, without.crossattn)
    assert manager.embedding_hash("concept") is None  # --no-hashing
    import hashlib

    digest = hashlib.sha256((folder / "concept.bin").read_bytes()).hexdigest()
    assert models_env.manager().embedding_hash("concept") == digest[:12]


def test_sdxl_embedding_feeds_each_encoder_its_vectors(loaded):
    manager, model = loaded("sdxl_tiny")
    write_embedding(manager.paths.embeddings / "xlstyle.safetensors", vectors=3, form="sdxl")
    cond = model.conditioner.encode(["xlstyle"])
    assert cond.embeddings_used == ("xlstyle",) and torch.isfinite(cond.crossattn).all()
