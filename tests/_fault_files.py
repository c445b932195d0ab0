"""Broken and hostile model files for the fault-injection tests (no tests here).

Each ``write_<fault>(folder, kind, marker)`` puts one bad thing into a model folder and returns the name a
user would select it by (None when nothing selectable is created: a symlink loop, a directory). ``kind`` is
the folder's model kind; a valid file of that kind is the starting point, so "wrong shapes" and "non-UTF-8
name" are real layouts with one thing wrong.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from pathlib import Path

import torch

from tests.checkpoint_factory import make_state_dict, write_state_dict

KINDS = ("checkpoint", "vae", "lora", "embedding", "upscaler", "controlnet")
PICKLE_SUFFIX = {
    "checkpoint": ".ckpt",
    "vae": ".pt",
    "lora": ".pt",
    "embedding": ".pt",
    "upscaler": ".pth",
    "controlnet": ".pth",
}


class CreatesMarker:
    """Unpickling this runs ``open(marker, "w")``: the classic malicious-checkpoint payload."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _conv(state: dict, name: str, cin: int, cout: int) -> None:
    state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
    state[f"{name}.bias"] = torch.randn(cout) * 0.01


def upscaler_state(nf: int = 8, gc: int = 32) -> dict[str, torch.Tensor]:
    """A tiny Real-ESRGAN RRDBNet (one block, x4; growth 32, as spandrel expects of every ESRGAN file)."""
    torch.manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    _conv(state, "conv_first", 3, nf)
    for r in (1, 2, 3):
        for c in range(1, 5):
            _conv(state, f"body.0.rdb{r}.conv{c}", nf + (c - 1) * gc, gc)
        _conv(state, f"body.0.rdb{r}.conv5", nf + 4 * gc, nf)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        _conv(state, name, nf, nf)
    _conv(state, "conv_last", nf, 3)
    return state


def lora_state() -> dict[str, torch.Tensor]:
    from tests.checkpoint_factory import lora_targets

    state = {}
    for prefix, module, shape in lora_targets("sd15_tiny")[:6]:
        name = prefix + module.replace(".", "_")
        kernel = tuple(shape[2:])
        state[f"{name}.lora_down.weight"] = torch.randn(4, shape[1], *kernel) * 0.1
        state[f"{name}.lora_up.weight"] = torch.randn(shape[0], 4, *((1, 1) if kernel else ())) * 0.1
        state[f"{name}.alpha"] = torch.tensor(4.0)
    return state


def controlnet_state() -> dict[str, torch.Tensor]:
    full = make_state_dict("controlnet_sd15_tiny")
    return {k[len("control_model.") :]: v for k, v in full.items() if k.startswith("control_model.")}


def valid_state(kind: str) -> dict[str, torch.Tensor]:
    if kind == "checkpoint":
        return make_state_dict("sd15_tiny")
    if kind == "vae":
        return make_state_dict("vae_sd_tiny")
    if kind == "lora":
        return lora_state()
    if kind == "embedding":
        return {"emb_params": torch.randn(2, 32)}
    if kind == "upscaler":
        return upscaler_state()
    return controlnet_state()


def _safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in state.items()})


def _raw(folder: Path, name: str, data: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def write_malicious_pickle(folder: Path, kind: str, marker: Path) -> str:
    name = "fault_evil" + PICKLE_SUFFIX[kind]
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": valid_state(kind), "payload": CreatesMarker(str(marker))}, folder / name)
    return name


def write_truncated(folder: Path, kind: str, marker: Path) -> str:
    data = _safetensors_bytes(valid_state(kind))
    return _raw(folder, "fault_truncated.safetensors", data[: len(data) // 2])


def write_zero_bytes(folder: Path, kind: str, marker: Path) -> str:
    return _raw(folder, "fault_empty" + PICKLE_SUFFIX[kind], b"")


def write_huge_header_claim(folder: Path, kind: str, marker: Path) -> str:
    """A safetensors file whose 8-byte length claims an 8 GB header."""
    return _raw(folder, "fault_huge.safetensors", struct.pack("<Q", 8 * 1024**3) + b'{"a":1}')


def write_nested_header(folder: Path, kind: str, marker: Path) -> str:
    """A safetensors header that is JSON nested 200,000 deep (a parser-stack bomb)."""
    header = b'{"__metadata__":{"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    return _raw(folder, "fault_nested.safetensors", struct.pack("<Q", len(header)) + header)


def write_wrong_shapes(folder: Path, kind: str, marker: Path) -> str:
    """The folder's real layout with every matrix one row too many."""
    state = {}
    for key, tensor in valid_state(kind).items():
        if tensor.ndim >= 2:
            tensor = torch.randn(tensor.shape[0] + 1, *tensor.shape[1:])
        state[key] = tensor
    write_state_dict(state, folder / "fault_shapes.safetensors")
    return "fault_shapes.safetensors"


NON_UTF8_STEM = b"fault_caf\xe9"


def write_non_utf8_name(folder: Path, kind: str, marker: Path) -> str:
    """A valid file whose name is not UTF-8; selectable by its name with U+FFFD."""
    folder.mkdir(parents=True, exist_ok=True)
    path = os.fsdecode(bytes(folder) + b"/" + NON_UTF8_STEM + b".safetensors")
    Path(path).write_bytes(_safetensors_bytes(valid_state(kind)))
    return NON_UTF8_STEM.decode("utf-8", "replace") + ".safetensors"


def write_symlink_loop(folder: Path, kind: str, marker: Path) -> None:
    (folder / "fault_loop").mkdir(parents=True, exist_ok=True)
    os.symlink("..", folder / "fault_loop" / "up")
    os.symlink(".", folder / "fault_self")
    return None


def write_directory_named_like_a_file(folder: Path, kind: str, marker: Path) -> None:
    (folder / "fault_dir.safetensors").mkdir(parents=True)
    (folder / f"fault_dir{PICKLE_SUFFIX[kind]}").mkdir()
    return None


FAULTS: dict[str, Callable[[Path, str, Path], str | None]] = {
    "malicious_pickle": write_malicious_pickle,
    "truncated": write_truncated,
    "zero_bytes": write_zero_bytes,
    "8gb_header_claim": write_huge_header_claim,
    "nested_header": write_nested_header,
    "wrong_shapes": write_wrong_shapes,
    "non_utf8_name": write_non_utf8_name,
    "symlink_loop": write_symlink_loop,
    "directory_named_like_a_file": write_directory_named_like_a_file,
}


def remove_faults(folder: Path) -> None:
    """Delete everything the writers above created in ``folder`` (names start with ``fault_``)."""
    import shutil

    if not folder.is_dir():
        return
    for entry in os.scandir(os.fsencode(folder)):
        if entry.name.startswith(b"fault_"):
            path = Path(os.fsdecode(entry.path))
            if path.is_symlink() or path.is_file():
                path.unlink()
            else:
                shutil.rmtree(path)


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 60, 200)).save(buffer, format="PNG")
    return buffer.getvalue()
