"""Pickled checkpoints: code-running pickles are refused, real-world harmless extras are accepted."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from modules.models.errors import ModelLoadError
from modules.models.statedict import load_pickle, open_state_dict
from tests._models_fixtures import models_env, no_network  # noqa: F401
from tests.checkpoint_factory import make_state_dict, write_checkpoint


class _CreatesMarker:
    """Unpickling this object would create a file: the classic malicious-checkpoint payload."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_ckpt_is_refused_without_running_its_code(models_env, tmp_path):
    marker = tmp_path / "pwned.txt"
    state = make_state_dict("sd15_tiny")
    path = models_env.checkpoint_dir / "evil.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": state, "payload": _CreatesMarker(str(marker))}, path)
    assert not marker.exists()
    manager = models_env.manager("--no-hashing")
    with pytest.raises(ModelLoadError) as caught:
        manager.load("evil.ckpt")
    assert not marker.exists()
    message = str(caught.value)
    assert str(path) in message and "refused" in message and "open" in message
    assert manager.current is None


def test_lightning_callbacks_and_numpy_scalars_in_old_ckpts_are_accepted(tmp_path, no_network):  # noqa: F811
    import numpy as np

    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        def __init__(self):
            self.monitor = "val/loss"
            self.best_model_score = np.float64(0.5)

    ModelCheckpoint.__module__ = module.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    names = ["pytorch_lightning", "pytorch_lightning.callbacks", module.__name__]
    for name in names[:2]:
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[module.__name__] = module
    try:
        path = tmp_path / "old.ckpt"
        torch.save(
            {
                "state_dict": {"w": torch.ones(2)},
                "callbacks": {ModelCheckpoint: ModelCheckpoint()},
                "global_step": np.int64(3),
            },
            path,
        )
    finally:
        for name in names:
            sys.modules.pop(name, None)
    state_file = open_state_dict(path)
    assert state_file.keys() == ["w"]


def test_disable_safe_unpickle_loads_other_objects_with_a_warning(tmp_path, caplog, no_network):  # noqa: F811
    import decimal

    path = tmp_path / "decimal.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "lr": decimal.Decimal("1.5")}, path)
    with pytest.raises(ModelLoadError, match="decimal.Decimal"):
        load_pickle(path)
    data = load_pickle(path, allow_unsafe=True)
    assert data["lr"] == decimal.Decimal("1.5")
    assert "UNSAFE" in caplog.text


def test_manager_warns_loudly_about_disable_safe_unpickle(models_env, caplog):
    write_checkpoint("sd15_tiny", models_env.checkpoint_dir / "m.ckpt", fmt="ckpt")
    manager = models_env.manager("--disable-safe-unpickle", "--no-hashing")
    assert "malicious" in caplog.text
    assert manager.load("m.ckpt").arch.family == "sd1"


def test_legacy_pickle_format_and_bf16_weights(tmp_path, no_network):  # noqa: F811
    """Pre-zip torch.save files cannot be memory-mapped; they still load through the restricted unpickler."""
    state = make_state_dict("vae_sd_tiny", torch.bfloat16)
    path = tmp_path / "legacy.pt"
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=False)
    state_file = open_state_dict(path)
    tensors = state_file.read(state_file.keys(), lambda key: torch.float32)
    assert set(tensors) == set(state)
    assert all(tensors[k].dtype == torch.float32 and torch.equal(tensors[k], state[k].float()) for k in state)
