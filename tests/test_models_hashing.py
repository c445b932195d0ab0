"""Hashes: A1111/civitai values, lazily computed, cached by path/size/mtime in cache.json."""

from __future__ import annotations

import hashlib
import json
import os

from modules.models.hashing import HashCache, addnet_hash, legacy_model_hash, sha256_file
from tests._models_fixtures import models_env, no_network  # noqa: F401
from tests.checkpoint_factory import write_checkpoint, write_lora


def test_hash_values_match_hashlib(tmp_path, no_network):  # noqa: F811
    path = write_checkpoint("sd15_tiny", tmp_path / "m.safetensors")
    data = path.read_bytes()
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert legacy_model_hash(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    header = int.from_bytes(data[:8], "little")
    assert addnet_hash(path) == hashlib.sha256(data[8 + header :]).hexdigest()


def test_cache_is_keyed_by_path_size_and_mtime(tmp_path, no_network):  # noqa: F811
    path = write_checkpoint("sd15_tiny", tmp_path / "m.safetensors")
    cache_file = tmp_path / "cache.json"
    cache_file.write_text(json.dumps({"other-subsystem": {"keep": 1}}))
    cache = HashCache(cache_file)
    assert cache.cached(path) is None
    first = cache.get(path)
    data = json.loads(cache_file.read_text())
    assert data["other-subsystem"] == {"keep": 1}
    entry = data["model-hashes"][str(path.resolve())]
    assert entry["sha256"] == first and entry["size"] == path.stat().st_size
    assert HashCache(cache_file).cached(path) == first  # persisted
    write_checkpoint("sd15_tiny", path, seed=7)
    os.utime(path, (1, 1))
    assert HashCache(cache_file).cached(path) is None  # stale after a change
    assert HashCache(cache_file).get(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_checkpoint_is_hashed_when_loaded_not_when_listed(models_env):
    path = write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    manager = models_env.manager()
    info = manager.checkpoints()[0]
    assert info.sha256 is None and info.title == "m.safetensors"
    assert not manager.paths.cache_file.exists()
    manager.load("m.safetensors")
    digest = manager.hash_of(info)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.short_hash == digest[:10] and info.title == f"m.safetensors [{digest[:10]}]"
    assert info.legacy_hash == legacy_model_hash(path)
    fresh = models_env.manager()  # next start: the title has the hash from cache.json without hashing
    assert fresh.checkpoints()[0].title == info.title
    assert fresh.find_checkpoint(digest[:10]) is fresh.checkpoints()[0]
    assert fresh.find_checkpoint(info.legacy_hash).name == "m.safetensors"


def test_no_hashing_flag_skips_sha256(models_env):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.safetensors")
    manager = models_env.manager("--no-hashing")
    model = manager.load("m.safetensors")
    assert manager.hash_of(model.checkpoint) is None
    assert model.checkpoint.title == "m.safetensors"


def test_lora_hash_is_the_addnet_hash_prefix(models_env):
    lora_dir = models_env.paths().lora
    path = write_lora(lora_dir / "detail.safetensors")
    manager = models_env.manager()
    assert manager.lora_hash("detail") == addnet_hash(path)[:12]
    assert manager.lora_hash("missing") is None
