"""Reading upscaler and face-restorer files and recognising their network with ``spandrel``.

spandrel (and spandrel-extra-arches, which holds CodeFormer) recognise an architecture from the keys and
shapes of a state dict. Both import torchvision at package import, but only for their LaMa and
RestoreFormer networks; torchvision is not installed here, so ``import_spandrel`` lends a placeholder
module for the duration of the import and removes it again (other libraries then still see no
torchvision). Files of those two architectures are refused with a clear message.

Weights are read by our checkpoint readers (safetensors header limits, the restricted unpickler), never by
``torch.load`` on arbitrary pickles, and never downloaded.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

from modules.models.errors import ModelLoadError
from modules.models.safe_text import printable_name

_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net")
_NEEDS_TORCHVISION = ("LaMa", "RestoreFormer")
_PLACEHOLDER_NAMES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
_import_lock = threading.Lock()
_loader: Any = None


def _torchvision_missing(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("this network needs torchvision, which this installation does not include")


def import_spandrel() -> Any:
    """spandrel's ``ModelLoader`` with the extra architectures (CodeFormer) installed; imported once."""
    global _loader  # a cache of an immutable import result, not state patched from elsewhere
    with _import_lock:
        if _loader is not None:
            return _loader
        lent: list[str] = []
        if importlib.util.find_spec("torchvision") is None:
            for name in _PLACEHOLDER_NAMES:
                module = types.ModuleType(name)
                module.__dict__.update(
                    InterpolationMode=types.SimpleNamespace(BILINEAR="bilinear"),
                    rotate=_torchvision_missing,
                    normalize=_torchvision_missing,
                )
                sys.modules[name] = module
                lent.append(name)
        try:
            import spandrel
            import spandrel_extra_arches

            spandrel_extra_arches.install(ignore_duplicates=True)
        finally:
            for name in lent:
                sys.modules.pop(name, None)
        _loader = spandrel.ModelLoader()
        return _loader


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a model file, unwrapped from ``params_ema``/``params``/... and ``module.`` prefixes.

    Read through the checkpoint readers (header limits, safe unpickler): ModelLoadError naming the file.
    """
    import torch

    from modules.models.statedict import load_pickle, open_state_dict

    data: object
    if path.suffix.lower() == ".safetensors":
        state_file = open_state_dict(path)
        try:
            data = state_file.read(state_file.keys(), lambda key: None)
        finally:
            state_file.close()
    else:
        if path.stat().st_size == 0:
            raise ModelLoadError(path, "the file is empty (0 bytes); it was probably not downloaded completely")
        data = load_pickle(path, mmap=False)
    while isinstance(data, dict) and not any(isinstance(v, torch.Tensor) for v in data.values()):
        inner = next((data[k] for k in _WRAPPER_KEYS if isinstance(data.get(k), dict)), None)
        if inner is None:
            break
        data = inner
    if not isinstance(data, dict):
        raise ModelLoadError(path, "is not a model file (no tensors in it)")
    return {k.removeprefix("module."): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def describe(state_dict: dict[str, Any], source: str = "state dict") -> Any:
    """spandrel's ``ImageModelDescriptor`` for a state dict; ValueError naming ``source`` when unknown."""
    loader = import_spandrel()
    from spandrel import ImageModelDescriptor, UnsupportedModelError

    try:
        descriptor = loader.load_from_state_dict(state_dict)
    except UnsupportedModelError as error:
        raise ValueError(f"{source}: spandrel does not recognise this network (unsupported architecture)") from error
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ValueError(f"{source}: is an inpainting network, not an upscaler or face restorer")
    if descriptor.architecture.id in _NEEDS_TORCHVISION:
        raise ValueError(f"{source}: {descriptor.architecture.name} networks need torchvision, which is not installed")
    return descriptor


def load_descriptor(path: Path) -> Any:
    """The spandrel descriptor (network, scale, purpose) of a file; ModelLoadError naming the file."""
    try:
        state = read_state_dict(path)
    except FileNotFoundError as error:
        raise ModelLoadError(path, "is missing; place the file there (weights are never downloaded)") from error
    except OSError as error:  # removed or unreadable since the list was made
        raise ModelLoadError(path, f"cannot be read ({error.strerror or error})") from error
    try:
        descriptor = describe(state, printable_name(path.name))
    except RuntimeError as error:  # spandrel recognised the keys, but the tensor shapes do not fit
        reason = str(error).replace("\n", " ").replace("\t", " ")
        raise ModelLoadError(path, f"is not a usable model: its tensors do not fit the network ({reason})") from error
    except (ValueError, KeyError, IndexError, TypeError) as error:  # unknown keys or shapes
        raise ModelLoadError(path, f"is not a usable model: {error}") from error
    descriptor.model.eval()
    return descriptor
