"""A1111's ``shared.cmd_opts``: the parsed flags (extension flags included), folders filled in as A1111 does.

Here a folder flag left out stays None and ``Paths`` resolves the default; A1111 puts the resolved folder
into the flag itself, and extensions use it directly (``Path(cmd_opts.embeddings_dir)``). ``cmd_opts()``
returns a copy of the flags with those folders filled in, plus A1111 flags this program does not have, at
A1111's defaults.
"""

from __future__ import annotations

import argparse
from typing import Any

from modules.a1111 import _resolve

A1111_ONLY_FLAGS: dict[str, Any] = {
    "codeformer_models_path": None,
    "gfpgan_models_path": None,
    "realesrgan_models_path": None,
    "clip_models_path": None,
    "textual_inversion_templates_dir": None,
    "no_half_vae": False,
    "disable_safe_unpickle": False,
    "hide_ui_dir_config": False,
    "freeze_settings": False,
    "api": True,
    "nowebui": False,
    "gradio_auth": None,
    "gradio_allowed_path": [],
    "theme": None,
    "disable_extra_extensions": False,
    "disable_all_extensions": False,
    "lowram": False,
    "lowvram": False,
    "medvram": False,
    "medvram_sdxl": False,
    "xformers": False,
    "opt_sdp_attention": True,
    "device_id": None,
    "use_cpu": [],
    "tls_keyfile": None,
    "tls_certfile": None,
}


def cmd_opts() -> argparse.Namespace:
    backend = _resolve.backend()
    values = {**A1111_ONLY_FLAGS, **vars(backend.flags)}
    paths = backend.paths
    folders = {
        "data_dir": paths.data,
        "models_dir": paths.models,
        "embeddings_dir": paths.embeddings,
        "lora_dir": paths.lora,
        "lyco_dir_backcompat": paths.models / "LyCORIS",
        "hypernetwork_dir": paths.hypernetworks,
        "esrgan_models_path": paths.esrgan,
        "codeformer_models_path": paths.models / "Codeformer",
        "gfpgan_models_path": paths.models / "GFPGAN",
        "realesrgan_models_path": paths.models / "RealESRGAN",
        "clip_models_path": paths.models / "CLIP",
        "ui_settings_file": paths.settings_file,
        "ui_config_file": paths.ui_config_file,
        "styles_file": paths.styles_file,
    }
    for name, folder in folders.items():
        if values.get(name) in (None, ""):
            values[name] = str(folder)
    return argparse.Namespace(**values)
