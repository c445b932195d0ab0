"""A1111's ``modules.sd_vae``: the VAE files found and the one in use."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve

unspecified = object()


def refresh_vae_list() -> None:
    models = _resolve.models_or_none()
    if models is not None:
        models.refresh()


def reload_vae_weights(sd_model: Any = None, vae_file: Any = unspecified) -> Any:
    models = _resolve.backend().require_models()
    if vae_file is not unspecified:
        models.set_vae(str(vae_file) if vae_file else None)
    return models.current


def __getattr__(name: str) -> Any:
    models = _resolve.models_or_none()
    if name == "vae_dict":
        return {vae.model_name: str(vae.path) for vae in (models.vaes() if models is not None else [])}
    if name == "loaded_vae_file":
        model = models.current if models is not None else None
        info = getattr(model, "vae_info", None)
        return str(info.path) if info is not None else None
    raise AttributeError(f"module 'modules.sd_vae' has no attribute {name!r}")
