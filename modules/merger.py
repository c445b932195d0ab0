"""Checkpoint merging (the Checkpoint Merger tab), in bounded memory.

A1111 loads the two or three whole state dicts and merges in place, so merging three 7 GB SDXL files needs
over 20 GB of RAM. Here the inputs are opened with ``modules.models.statedict.open_state_dict`` (a
safetensors index, or a memory-mapped ``torch.load(weights_only=True)`` for .ckpt files: the same safe
loader as model loading) and read **one tensor at a time**. Only the output is held in memory, already in
its target dtype, because neither safetensors nor torch.save can stream a file: peak memory is the size of
the result plus one tensor of each input.

Methods (A1111's): "No interpolation" copies A (for fp16 conversion or a format change), "Weighted sum" is
``A * (1 - M) + B * M``, "Add difference" is ``A + (B - C) * M``. Only model weights (keys containing
"model") are merged; other keys are copied from A. An inpainting or instruct-pix2pix A can be merged with a
normal B: only the first four input channels of the first UNet convolution are merged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

METHODS = ("No interpolation", "Weighted sum", "Add difference")
FORMATS = ("ckpt", "safetensors")
SKIP_ON_MERGE = frozenset({"cond_stage_model.transformer.text_model.embeddings.position_ids"})

ProgressFn = Callable[[int, int], None]


class MergeError(ValueError):
    """A merge that cannot be done as asked; the message says which model or option is wrong."""


@dataclasses.dataclass(frozen=True)
class MergeRequest:
    primary: Path
    secondary: Path | None = None
    tertiary: Path | None = None
    method: str = "Weighted sum"
    multiplier: float = 0.3
    save_as_half: bool = False
    checkpoint_format: str = "safetensors"
    output_dir: Path | None = None  # default: the primary model's folder
    custom_name: str = ""
    discard_weights: str = ""  # regex: matching keys are left out of the result
    save_metadata: bool = True
    config_source: str = "A, B or C"  # Copy config from: A, B or C / B / C / Don't
    bake_in_vae: Path | None = None  # a VAE file whose weights replace the result's first_stage_model

    def needed_models(self) -> tuple[bool, bool]:
        """(needs B, needs C) for the method."""
        return self.method in ("Weighted sum", "Add difference"), self.method == "Add difference"


def default_name(request: MergeRequest) -> str:
    """A1111-style file stem describing the recipe, e.g. ``0.7(a) + 0.3(b)``."""
    a = _model_name(request.primary)
    m = round(request.multiplier, 2)
    if request.method == "Weighted sum" and request.secondary is not None:
        return f"{round(1 - request.multiplier, 2)}({a}) + {m}({_model_name(request.secondary)})"
    if request.method == "Add difference" and request.secondary is not None and request.tertiary is not None:
        return f"{a} + {m}({_model_name(request.secondary)} - {_model_name(request.tertiary)})"
    return a


def _model_name(path: Path) -> str:
    return path.name.rsplit(".", 1)[0]


def _validate(request: MergeRequest) -> None:
    if request.method not in METHODS:
        raise MergeError(f"Interpolation Method must be one of {', '.join(METHODS)}, not {request.method!r}")
    if request.checkpoint_format not in FORMATS:
        raise MergeError(f"Checkpoint format must be ckpt or safetensors, not {request.checkpoint_format!r}")
    if not 0.0 <= request.multiplier <= 1.0:
        raise MergeError(f"Multiplier (M) must be between 0 and 1, got {request.multiplier}")
    need_b, need_c = request.needed_models()
    if need_b and request.secondary is None:
        raise MergeError(f"{request.method} needs a secondary model (B)")
    if need_c and request.tertiary is None:
        raise MergeError("Add difference needs a tertiary model (C)")
    for label, path in (
        ("primary (A)", request.primary),
        ("secondary (B)", request.secondary if need_b else None),
        ("tertiary (C)", request.tertiary if need_c else None),
    ):
        if path is not None and not Path(path).is_file():
            raise MergeError(f"The {label} model {path} does not exist")


def output_path(request: MergeRequest, channels_suffix: str = "") -> Path:
    name = (request.custom_name or "").strip() or default_name(request)
    if any(sep in name for sep in ("/", "\\")) or name in (".", ".."):
        raise MergeError(f"Custom Name {name!r} must be a file name, not a path")
    folder = Path(request.output_dir) if request.output_dir else Path(request.primary).parent
    return folder / f"{name}{channels_suffix}.{request.checkpoint_format}"


def merge_checkpoints(
    request: MergeRequest,
    progress: ProgressFn | None = None,
    allow_unsafe_pickle: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Merge as ``request`` says and write the result; returns its path. MergeError for bad requests."""
    from modules.models.statedict import open_state_dict

    _validate(request)
    need_b, need_c = request.needed_models()
    regex = None
    if request.discard_weights:
        try:
            regex = re.compile(request.discard_weights)
        except re.error as error:
            raise MergeError(f"Discard weights: invalid regular expression ({error})") from error
    files = [open_state_dict(request.primary, allow_unsafe_pickle)]
    try:
        files.append(open_state_dict(request.secondary, allow_unsafe_pickle) if need_b else None)
        files.append(open_state_dict(request.tertiary, allow_unsafe_pickle) if need_c else None)
        a, b, c = files
        keys = a.keys()
        result: dict[str, torch.Tensor] = {}
        suffix = ""
        for index, key in enumerate(keys):
            if should_stop is not None and should_stop():
                from modules.jobs.queue import JobInterrupted

                raise JobInterrupted("merge interrupted")
            if regex is not None and regex.search(key):
                continue
            tensor = a.read([key], lambda _key: None)[key]
            if b is not None and "model" in key and key in b.shapes and key not in SKIP_ON_MERGE:
                tensor, kind = _merge_one(key, tensor, b, c, request)
                suffix = suffix or kind
            if request.save_as_half and tensor.is_floating_point():
                tensor = tensor.half()
            result[key] = tensor.contiguous()
            if progress is not None:
                progress(index + 1, len(keys))
    finally:
        for file in files:
            if file is not None:
                file.close()
    if request.bake_in_vae is not None:
        from modules.merger_extras import BakeVaeError, bake_in_vae, vae_tensors

        try:
            bake_in_vae(result, vae_tensors(Path(request.bake_in_vae), allow_unsafe_pickle), request.save_as_half)
        except BakeVaeError as error:
            raise MergeError(str(error)) from None
    path = output_path(request, suffix)
    if path.resolve() in {Path(p).resolve() for p in (request.primary, request.secondary, request.tertiary) if p}:
        raise MergeError(f"The result would overwrite an input model ({path.name}); choose another Custom Name")
    metadata = _metadata(request) if request.save_metadata else {}
    _write(result, path, request.checkpoint_format, metadata)
    log.info("Merged checkpoint saved to %s", path)
    from modules.merger_extras import copy_config

    copy_config(request.config_source, path, request.primary, request.secondary, request.tertiary)
    return path


def _merge_one(key: str, a: torch.Tensor, b_file: Any, c_file: Any, request: MergeRequest) -> tuple[torch.Tensor, str]:
    """Merge one tensor in float32 and return it in A's dtype, plus ".inpainting"/".instruct-pix2pix" if the
    channel rule applied."""
    import torch

    b = b_file.read([key], lambda _key: torch.float32)[key]
    m = float(request.multiplier)
    if c_file is not None:
        if key in c_file.shapes:
            c = c_file.read([key], lambda _key: torch.float32)[key]
            if c.shape != b.shape:
                raise MergeError(
                    f"Tensor {key}: secondary {tuple(b.shape)} and tertiary {tuple(c.shape)} shapes differ"
                )
            b = b - c  # Add difference: B - C, then A + M * (B - C)
        else:
            b = torch.zeros_like(b)  # as A1111: a weight C lacks adds no difference

    def combine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x + y * m if c_file is not None else x * (1 - m) + y * m

    kind = ""
    if a.shape == b.shape:
        merged = combine(a, b)
    elif a.dim() == 4 and a.shape[0] == b.shape[0] and a.shape[2:] == b.shape[2:]:
        if a.shape[1] == 4 and b.shape[1] in (8, 9):
            raise MergeError(
                "When merging an inpainting or instruct-pix2pix model with a normal one, the primary "
                "model (A) must be the inpainting / instruct-pix2pix model"
            )
        if b.shape[1] != 4 or a.shape[1] not in (8, 9):
            raise MergeError(f"Tensor {key}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be merged")
        merged = a.float().clone()
        merged[:, 0:4] = combine(a[:, 0:4], b)
        kind = ".inpainting" if a.shape[1] == 9 else ".instruct-pix2pix"
    else:
        raise MergeError(
            f"Tensor {key}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ; the models are of "
            f"different architectures"
        )
    return merged.to(a.dtype) if a.is_floating_point() else merged, kind


def _metadata(request: MergeRequest) -> dict[str, str]:
    models = {"A": request.primary, "B": request.secondary, "C": request.tertiary}
    recipe = {
        "type": "webui",
        "primary_model": _model_name(request.primary),
        "secondary_model": _model_name(request.secondary) if request.secondary else None,
        "tertiary_model": _model_name(request.tertiary) if request.tertiary else None,
        "interp_method": request.method,
        "multiplier": request.multiplier,
        "save_as_half": request.save_as_half,
        "custom_name": request.custom_name,
        "discard_weights": request.discard_weights,
        "bake_in_vae": Path(request.bake_in_vae).name if request.bake_in_vae else "None",
    }
    return {
        "format": "pt",
        "sd_merge_recipe": json.dumps(recipe),
        "sd_merge_models": json.dumps({key: _model_name(path) for key, path in models.items() if path}),
    }


def _write(tensors: dict[str, torch.Tensor], path: Path, checkpoint_format: str, metadata: dict[str, str]) -> None:
    """Write to a temporary file and rename it into place, so a crash never leaves a half-written model."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if checkpoint_format == "safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(temporary), metadata=metadata or None)
        else:
            torch.save({"state_dict": tensors}, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
