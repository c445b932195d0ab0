"""Fixtures shared by the model tests: an isolated data folder, flags, settings and a ModelManager."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from modules.models.options import OPTIONS
from modules.paths import Paths
from modules.settings.cli import build_parser
from modules.settings.registry import OptionRegistry, Settings
from modules.settings.store import JsonSettingsStore
from tests._socket_guard import no_network  # noqa: F401  (re-exported fixture)


@dataclasses.dataclass
class ModelsEnv:
    """A data folder with its own models/, settings and flags; ``manager()`` builds a ModelManager on it."""

    root: Path
    extra_args: list[str]

    def flags(self, *args: str) -> Any:
        return build_parser().parse_args(["--data-dir", str(self.root), "--use-cpu", "all", *self.extra_args, *args])

    def paths(self, *args: str) -> Paths:
        return Paths.from_flags(self.flags(*args))

    @property
    def checkpoint_dir(self) -> Path:
        return self.paths().checkpoints[0]

    @property
    def vae_dir(self) -> Path:
        return self.paths().vae[0]

    def settings(self) -> Settings:
        return Settings(OptionRegistry(OPTIONS), JsonSettingsStore(self.paths().settings_file))

    def manager(self, *args: str, settings: Settings | None = None, device_info: Any = None) -> Any:
        from modules.models.manager import ModelManager

        flags = self.flags(*args)
        return ModelManager(Paths.from_flags(flags), settings or self.settings(), flags, device_info)


@pytest.fixture
def models_env(tmp_path, no_network) -> ModelsEnv:  # noqa: F811
    return ModelsEnv(tmp_path / "data", [])


def unet_once(model: Any, seed: int = 0, size: int = 8) -> Any:
    """One UNet call on a fixed latent and the model's own conditioning of a fixed prompt."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    latent = torch.randn(1, model.arch.unet_in_channels, size, size, generator=generator)
    cond = model.conditioner.encode(["a photo of a cat"], clip_skip=1)
    extra = {}
    if model.arch.is_sdxl:
        ids = 6 if model.arch.family == "sdxl" else 5
        time_ids = torch.tensor([[64.0, 64, 0, 0, 64, 64][:ids]], device=model.device, dtype=model.dtype)
        extra["added_cond_kwargs"] = {"text_embeds": cond.pooled, "time_ids": time_ids}
    with torch.no_grad():
        return model.unet(
            latent.to(model.device, model.dtype),
            torch.tensor([500], device=model.device),
            encoder_hidden_states=cond.crossattn,
            **extra,
        ).sample
