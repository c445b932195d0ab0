"""Tensors of a TorchScript archive (OpenAI's ``ViT-L-14.pt``) read without running any of its code.

``torch.jit.load`` compiles and runs the archive's ``code/`` and ``torch.load`` refuses TorchScript under
``weights_only``. The weights live in ``<archive>/data.pkl``: a pickle of ``__torch__.*`` objects whose state is
a dict of attributes (sub-modules, parameters, flags) plus tensors stored in ``<archive>/data/<key>``. This
reader unpickles that file with every ``__torch__`` class replaced by an inert record and only tensor
rebuilding allowed, then flattens the attribute tree to ``a.b.c`` names, as ``state_dict()`` would name them.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from modules.models.errors import ModelLoadError


class _Record:
    """Stand-in for any scripted class: keeps the state the pickle gives it, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def is_torchscript(path: Path) -> bool:
    """True when ``path`` is a zip holding a ``data.pkl`` next to TorchScript ``code/``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(name.endswith("/data.pkl") for name in names) and any("/code/" in name for name in names)


_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "DoubleStorage": "float64",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.root = root
        self.storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        import torch

        if module.startswith("__torch__"):
            return type(name, (_Record,), {})
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return getattr(torch, _STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return lambda value: value
        if module == "torch.jit._pickle" and name == "restore_type_tag":
            return lambda value, _tag: value
        raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not allowed in a TorchScript weights file")

    def persistent_load(self, pid: Any) -> Any:
        import torch

        kind, dtype, key, _location, _numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.root}/data/{key}"))
            self.storages[key] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return self.storages[key]


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_ignored: Any) -> Any:
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        out[prefix] = value
    elif isinstance(value, _Record):
        _flatten(getattr(value, "state", None), prefix, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)


def read_tensors(path: Path) -> dict[str, Any]:
    """``name -> tensor`` of a TorchScript archive; ModelLoadError naming the file when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
            if not pickles:
                raise ModelLoadError(path, "is not a TorchScript archive (no data.pkl)")
            root = pickles[0].split("/")[0]
            unpickler = _Unpickler(archive.read(pickles[0]), archive, root)
            tree = unpickler.load()
    except pickle.UnpicklingError as error:
        raise ModelLoadError(path, f"refused to load: {error}") from error
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, EOFError, TypeError) as error:
        raise ModelLoadError(path, f"is not a readable TorchScript archive ({error})") from error
    out: dict[str, Any] = {}
    _flatten(tree, "", out)
    return {key: tensor.clone() for key, tensor in out.items()}
