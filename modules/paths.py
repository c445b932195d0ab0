"""Where things live on disk, resolved once from the flags.

Everything user-owned (models, outputs, config, extensions) is under ``--data-dir`` (default: the program
folder), models under ``--models-dir`` (default ``<data-dir>/models``), as in A1111 1.10.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

PROGRAM_DIR = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Paths:
    program: Path
    data: Path
    models: Path
    checkpoints: tuple[Path, ...]
    vae: tuple[Path, ...]
    lora: Path
    hypernetworks: Path
    controlnet: Path
    esrgan: Path
    embeddings: Path
    extensions: Path
    builtin_extensions: Path
    localizations: Path
    outputs: Path
    settings_file: Path
    ui_config_file: Path
    styles_file: Path
    cache_file: Path

    @classmethod
    def from_flags(cls, flags: argparse.Namespace) -> Paths:
        data = Path(flags.data_dir).resolve() if flags.data_dir else PROGRAM_DIR
        models = Path(flags.models_dir).resolve() if flags.models_dir else data / "models"
        checkpoints = [models / "Stable-diffusion"]
        if flags.ckpt_dir:
            checkpoints.append(Path(flags.ckpt_dir).resolve())
        vae = [models / "VAE"]
        if flags.vae_dir:
            vae.append(Path(flags.vae_dir).resolve())
        return cls(
            program=PROGRAM_DIR,
            data=data,
            models=models,
            checkpoints=tuple(checkpoints),
            vae=tuple(vae),
            lora=Path(flags.lora_dir).resolve() if flags.lora_dir else models / "Lora",
            hypernetworks=Path(flags.hypernetwork_dir).resolve()
            if getattr(flags, "hypernetwork_dir", None)
            else models / "hypernetworks",
            controlnet=models / "ControlNet",
            esrgan=models / "ESRGAN",
            embeddings=Path(flags.embeddings_dir).resolve() if flags.embeddings_dir else data / "embeddings",
            extensions=data / "extensions",
            builtin_extensions=PROGRAM_DIR / "extensions-builtin",
            localizations=Path(flags.localizations_dir).resolve()
            if flags.localizations_dir
            else PROGRAM_DIR / "localizations",
            outputs=data / "outputs",
            settings_file=Path(flags.ui_settings_file).resolve() if flags.ui_settings_file else data / "config.json",
            ui_config_file=Path(flags.ui_config_file).resolve() if flags.ui_config_file else data / "ui-config.json",
            styles_file=Path(flags.styles_file).resolve() if flags.styles_file else data / "styles.csv",
            cache_file=data / "cache.json",
        )


def __getattr__(name: str):  # A1111's names for extensions (modules/extensions/compat_imports.py); core never uses them
    from modules.extensions.compat_imports import forward

    return forward("paths", name)
