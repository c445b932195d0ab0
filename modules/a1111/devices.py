"""A1111's ``modules.devices``: ``device``, ``dtype``, ``torch_gc`` ... from the model manager's device choice."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from modules.a1111 import _resolve


def _device_info() -> Any:
    models = _resolve.models_or_none()
    return models.device_info if models is not None else None


def torch_gc() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def get_optimal_device() -> Any:
    import torch

    info = _device_info()
    return info.device if info is not None else torch.device("cpu")


def get_optimal_device_name() -> str:
    return str(get_optimal_device())


def get_device_for(task: str) -> Any:
    return get_optimal_device()


def cond_cast_unet(tensor: Any) -> Any:
    return tensor


def cond_cast_float(tensor: Any) -> Any:
    return tensor


@contextlib.contextmanager
def autocast(disable: bool = False) -> Iterator[None]:
    """Models here run in their own dtype; nothing to switch."""
    yield


@contextlib.contextmanager
def without_autocast(disable: bool = False) -> Iterator[None]:
    yield


def __getattr__(name: str) -> Any:
    import torch

    info = _device_info()
    if name in ("device", "device_interrogate", "device_gfpgan", "device_esrgan", "device_codeformer"):
        return info.device if info is not None else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name in ("dtype", "dtype_unet", "dtype_inference"):
        return info.dtype if info is not None else torch.float32
    if name == "dtype_vae":
        return info.vae_dtype if info is not None else torch.float32
    if name == "unet_needs_upcast":
        return False
    raise AttributeError(f"module 'modules.devices' has no attribute {name!r}")
