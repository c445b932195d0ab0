"""Reading checkpoint files: names and shapes first, tensors only when asked, never two copies.

Detection needs only key names and shapes, so a file is opened in two steps: ``open_state_dict`` reads the
index (the safetensors JSON header, or a memory-mapped torch pickle), and ``StateDictFile.read`` fills the
tensors that are wanted, converted to the target dtype and device one tensor at a time. For safetensors the
bytes are read straight into the final CPU tensor (``readinto``), so peak memory is the weights themselves,
not the weights plus a mapped or decoded copy.

Pickled ``.ckpt``/``.pt`` files go through ``torch.load(weights_only=True)``: only tensors, containers and a
short allow-list of inert classes are built. A pickle that asks for anything else (a function call that
could run code) is refused with the name of the file and of what it asked for.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import struct
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.models.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
MAX_HEADER_BYTES = 100 * 1024 * 1024
IGNORED_PREFIXES = ("model_ema.",)  # EMA copies in unpruned files: never loaded

_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}
_UNPICKLE_LOCK = threading.Lock()  # torch's safe-globals list is process-wide while a load runs

TargetFn = Callable[[str], "torch.dtype | None"]


class StateDictFile:
    """An opened weights file: ``shapes`` and ``dtypes`` of every tensor, tensors read by ``read``."""

    def __init__(
        self,
        path: Path,
        shapes: dict[str, tuple[int, ...]],
        dtypes: dict[str, str],
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.shapes = shapes
        self.dtypes = dtypes  # torch dtype names ("float16")
        self.metadata = metadata or {}

    def keys(self) -> list[str]:
        return list(self.shapes)

    def read(
        self,
        keys: Iterable[str],
        target: TargetFn,
        device: Any = "cpu",
        progress: Callable[[float], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Tensors for ``keys``; floating tensors become ``target(key)`` (None keeps the file's dtype)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (memory maps of pickles); idempotent."""


def open_state_dict(path: str | Path, allow_unsafe_pickle: bool = False) -> StateDictFile:
    """Open ``path`` (safetensors or torch pickle) and read its index; ModelLoadError when unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ModelLoadError(path, f"cannot be read ({error.strerror or error})") from error
    if size == 0:
        raise ModelLoadError(path, "the file is empty (0 bytes); it was probably not downloaded completely")
    if path.suffix.lower() in SAFETENSORS_SUFFIXES or _looks_like_safetensors(path):
        return _open_safetensors(path, size)
    return _open_pickle(path, allow_unsafe_pickle)


def _looks_like_safetensors(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < MAX_HEADER_BYTES


# --- safetensors ---------------------------------------------------------------------------------------------


class _SafetensorsFile(StateDictFile):
    def __init__(
        self,
        path: Path,
        entries: dict[str, tuple[str, tuple[int, ...], int, int]],
        metadata: dict[str, str],
        data_start: int,
    ) -> None:
        super().__init__(path, {k: v[1] for k, v in entries.items()}, {k: v[0] for k, v in entries.items()}, metadata)
        self._entries = entries
        self._data_start = data_start

    def read(self, keys, target, device="cpu", progress=None):
        import torch

        wanted = sorted(set(keys), key=lambda key: self._entries[key][2])
        total = sum(self._entries[k][3] - self._entries[k][2] for k in wanted) or 1
        done = 0
        out: dict[str, torch.Tensor] = {}
        device = torch.device(device)
        staging: torch.Tensor | None = None  # reused for tensors that are converted or sent to a GPU
        with open(self.path, "rb", buffering=0) as handle:
            for key in wanted:
                dtype_name, shape, begin, end = self._entries[key]
                file_dtype = getattr(torch, dtype_name)
                want = target(key) if file_dtype.is_floating_point else None
                direct = device.type == "cpu" and (want is None or want == file_dtype)
                if direct:  # the bytes land in the final tensor: no second copy
                    buffer = torch.empty(end - begin, dtype=torch.uint8)
                else:
                    if staging is None or staging.numel() < end - begin:
                        staging = torch.empty(end - begin, dtype=torch.uint8, pin_memory=device.type == "cuda")
                    buffer = staging[: end - begin]
                handle.seek(self._data_start + begin)
                view = memoryview(buffer.numpy())
                got = 0
                while got < len(view):
                    count = handle.readinto(view[got:])
                    if not count:
                        raise ModelLoadError(self.path, f"is truncated: tensor {key} ends past the end of the file")
                    got += count
                tensor = buffer.view(file_dtype).reshape(shape)
                if not direct:
                    converted = torch.empty(shape, dtype=want or file_dtype, device=device)
                    converted.copy_(tensor)
                    tensor = converted
                out[key] = tensor
                done += end - begin
                if progress is not None:
                    progress(done / total)
        return out


def _open_safetensors(path: Path, size: int) -> StateDictFile:
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelLoadError(path, "is not a safetensors file (shorter than its 8-byte header length)")
        header_len = struct.unpack("<Q", head)[0]
        if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise ModelLoadError(
                path, f"is truncated or not a safetensors file (header of {header_len} bytes in a {size}-byte file)"
            )
        raw = handle.read(header_len)
    try:
        header = json.loads(raw)  # C parser: linear time; absurd nesting ends in RecursionError
    except RecursionError as error:
        raise ModelLoadError(path, "is not a safetensors file (its header is nested absurdly deep)") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(path, f"is not a safetensors file (its header is not JSON: {error})") from error
    if not isinstance(header, dict):
        raise ModelLoadError(path, "is not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ModelLoadError(path, "has an invalid __metadata__ entry in its header (not a JSON object)")
    data_len = size - 8 - header_len
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    import torch

    for key, info in header.items():
        try:
            dtype_name = _SAFETENSORS_DTYPES[info["dtype"]]
            shape = tuple(int(dim) for dim in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as error:
            raise ModelLoadError(path, f"has an invalid entry for tensor {key!r} in its header ({error})") from error
        count = 1
        for dim in shape:
            count *= dim
        if end - begin != count * getattr(torch, dtype_name).itemsize or begin < 0:
            raise ModelLoadError(path, f"has an inconsistent size for tensor {key!r} in its header")
        if end > data_len:
            raise ModelLoadError(
                path,
                f"is truncated: {end - data_len} bytes of tensor data are missing "
                f"(file is {size} bytes); download it again",
            )
        if key.startswith(IGNORED_PREFIXES):
            continue
        entries[key] = (dtype_name, shape, begin, end)
    return _SafetensorsFile(path, entries, {str(k): str(v) for k, v in metadata.items()}, 8 + header_len)


# --- torch pickles -------------------------------------------------------------------------------------------


class _IgnoredObject:
    """Stand-in for harmless training-time objects found in old .ckpt files (Lightning callbacks)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _extra_safe_globals() -> list[Any]:
    """Classes real checkpoints contain besides tensors, all inert when rebuilt (see A1111 modules/safe.py)."""
    import numpy as np
    import torch

    extra: list[Any] = [
        (_IgnoredObject, "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"),
        (_IgnoredObject, "pytorch_lightning.callbacks.early_stopping.EarlyStopping"),
        (_IgnoredObject, "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint"),
        np.dtype,
        torch.nn.ParameterDict,
        torch.nn.Parameter,
        set,
    ]
    scalar = getattr(np, "_core", np).multiarray.scalar
    extra += [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "Float16DType"):
        cls = getattr(getattr(np, "dtypes", None), name, None)
        if cls is not None:
            extra.append(cls)
    return extra


def load_pickle(path: Path, allow_unsafe: bool = False, mmap: bool = True) -> Any:
    """``torch.load`` restricted to tensors and inert containers; ModelLoadError naming the file otherwise."""
    import torch

    if allow_unsafe:
        log.warning(
            "UNSAFE: loading %s with plain pickle because of --disable-safe-unpickle; a malicious file "
            "can run any code on this computer",
            path,
        )
        return torch.load(path, map_location="cpu", weights_only=False)
    with _UNPICKLE_LOCK, torch.serialization.safe_globals(_extra_safe_globals()):
        try:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as error:
                if mmap and "mmap" in str(error):  # legacy (pre-zip) format cannot be mapped
                    return torch.load(path, map_location="cpu", weights_only=True)
                raise
        except pickle.UnpicklingError as error:
            found = re.search(r"GLOBAL ([\w.]+)", str(error))
            what = f"it would call {found.group(1)}" if found else str(error).splitlines()[0]
            raise ModelLoadError(
                path,
                f"refused to load: {what}, which is not an allowed tensor type. Files "
                f"like this can run code when opened. Use a .safetensors version; only if "
                f"you trust the file, start with --disable-safe-unpickle",
            ) from error
        except MemoryError as error:
            raise ModelLoadError(
                path, "is not a readable PyTorch checkpoint (it claims more memory than exists)"
            ) from error
        except Exception as error:  # any library error on untrusted bytes: zipfile, struct, KeyError...
            raise ModelLoadError(
                path,
                f"is not a readable PyTorch checkpoint (truncated or corrupt?): "
                f"{str(error).strip() or type(error).__name__}",
            ) from error


def unwrap_state_dict(data: Any) -> dict[str, Any]:
    """The tensor dict inside a pickle: ``state_dict`` wrappers removed, non-tensor entries dropped."""
    import torch

    while isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}


class _PickleFile(StateDictFile):
    def __init__(self, path: Path, tensors: dict[str, torch.Tensor], raw: Any) -> None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(IGNORED_PREFIXES)}
        super().__init__(
            path,
            {k: tuple(v.shape) for k, v in tensors.items()},
            {k: str(v.dtype).removeprefix("torch.") for k, v in tensors.items()},
        )
        self._tensors = tensors
        self.raw = raw  # the unpickled object (embeddings need its non-tensor structure)

    def read(self, keys, target, device="cpu", progress=None):

        wanted = list(dict.fromkeys(keys))
        out: dict[str, torch.Tensor] = {}
        for index, key in enumerate(wanted):
            tensor = self._tensors[key]
            want = target(key) if tensor.is_floating_point() else None
            # copy=True: own memory, so the mapped file can be closed and later edits of it cannot leak in
            out[key] = tensor.to(device=device, dtype=want or tensor.dtype, copy=True)
            if progress is not None:
                progress((index + 1) / max(1, len(wanted)))
        return out

    def close(self) -> None:
        self._tensors = {}
        self.raw = None


def _open_pickle(path: Path, allow_unsafe: bool) -> StateDictFile:
    raw = load_pickle(path, allow_unsafe)
    return _PickleFile(path, unwrap_state_dict(raw), raw)


def read_safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (kohya's ``ss_*`` LoRA fields), {} when unreadable."""
    try:
        return dict(_open_safetensors(Path(path), Path(path).stat().st_size).metadata)
    except (ModelLoadError, OSError):
        return {}
