"""LoRA / LyCORIS networks applied by weight, inside a context that restores the model bit for bit.

``lora_patch(model, [(network, te_weight, unet_weight), ...])`` adds each network's weight delta to the
weights it targets and, on exit, copies back a backup of exactly the tensors it touched. No module's
``forward`` is replaced and nothing is reloaded, so generation speed is unchanged and two generations with
and without a LoRA see the same base weights.

Accepted files: kohya/A1111 keys (``lora_unet_*``, ``lora_te_*``, ``lora_te1_*``/``lora_te2_*`` for SDXL)
with ``lora_down``/``lora_up``/``alpha`` (Linear, 1x1 and kxk conv "LoCon", optional ``lora_mid`` Tucker core)
or LoHa ``hada_*`` factors; diffusers/PEFT keys (``unet.*.lora_A/lora_B``, ``text_encoder.*``) are renamed to
kohya names first. UNet layers may be named in diffusers form (SD 1.x kohya files) or in the original LDM form
(SDXL kohya files); both resolve to the same diffusers module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.models.errors import ModelLoadError
from modules.models.statedict import open_state_dict

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LORA_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")
_PEFT_PREFIXES = {
    "unet.": "lora_unet_",
    "text_encoder.": "lora_te1_",
    "text_encoder_2.": "lora_te2_",
    "lora_unet.": "lora_unet_",
}
_PEFT_PARTS = (
    ("lora_A.weight", "lora_down.weight"),
    ("lora_B.weight", "lora_up.weight"),
    ("lora.down.weight", "lora_down.weight"),
    ("lora.up.weight", "lora_up.weight"),
)
TEXT_PREFIXES = {
    "sd1": [("lora_te_", 0), ("lora_te1_", 0)],
    "sd2": [("lora_te_", 0), ("lora_te1_", 0)],
    "sdxl": [("lora_te1_", 0), ("lora_te2_", 1)],
    "sdxl_refiner": [("lora_te2_", 0), ("lora_te_", 0)],
}


@dataclasses.dataclass
class LoraNetwork:
    """A parsed LoRA file: per kohya module name (``lora_unet_...``), its factor tensors."""

    name: str
    path: Path
    modules: dict[str, dict[str, torch.Tensor]]


def _kohya_name(key: str) -> tuple[str, str] | None:
    """(module name, part) of a LoRA key, with diffusers/PEFT names rewritten to kohya's."""
    for prefix, kohya in _PEFT_PREFIXES.items():
        if key.startswith(prefix) and not key.startswith("lora_unet_"):
            for old, new in _PEFT_PARTS:
                if key.endswith("." + old):
                    module = key[len(prefix) : -len(old) - 1]
                    return kohya + module.replace(".", "_"), new
            if key.endswith(".alpha"):
                return kohya + key[len(prefix) : -len(".alpha")].replace(".", "_"), "alpha"
            return None
    if "." not in key:
        return None
    module, part = key.split(".", 1)
    return module, part


def load_lora(path: Path, name: str | None = None) -> LoraNetwork:
    """Parse a LoRA file (safe loader for pickles); ModelLoadError when unreadable."""
    state_file = open_state_dict(path)
    try:
        tensors = state_file.read(state_file.keys(), lambda key: None)
    finally:
        state_file.close()
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        parsed = _kohya_name(key)
        if parsed:
            modules.setdefault(parsed[0], {})[parsed[1]] = tensor
    return LoraNetwork(name or path.stem, path, modules)


def _canonical_text_name(name: str) -> str:
    return name if name.startswith("text_model.") else "text_model." + name


def target_index(model: Any) -> dict[str, Any]:
    """kohya module name -> torch module (Linear/Conv2d) of ``model``; built once per model."""
    cached = getattr(model, "_lora_index", None)
    if cached is not None:
        return cached
    index: dict[str, Any] = {}
    unet_modules = dict(model.unet.named_modules())
    for name, module in unet_modules.items():
        if hasattr(module, "weight") and getattr(module, "weight", None) is not None and name:
            index["lora_unet_" + name.replace(".", "_")] = module
    for ldm, diffusers_name in model.unet_ldm_names.items():
        module = unet_modules.get(diffusers_name)
        if module is not None:
            index.setdefault("lora_unet_" + ldm.replace(".", "_"), module)
    for prefix, position in TEXT_PREFIXES.get(model.arch.family, []):
        if position >= len(model.text_encoders):
            continue
        for name, module in model.text_encoders[position].named_modules():
            if name and getattr(module, "weight", None) is not None:
                index.setdefault(prefix + _canonical_text_name(name).replace(".", "_"), module)
    model._lora_index = index
    return index


def network_delta(parts: dict[str, torch.Tensor], weight: torch.Tensor) -> torch.Tensor | None:
    """The full-size weight delta (float32, multiplier 1) of one module's factors, None if not supported."""
    import torch

    device = weight.device
    if "dora_scale" in parts:  # DoRA renormalises the weight: a plain delta would be wrong
        return None
    if "lora_down.weight" in parts and "lora_up.weight" in parts:
        down = parts["lora_down.weight"].to(device, torch.float32)
        up = parts["lora_up.weight"].to(device, torch.float32)
        rank = down.shape[0]
        mid = parts.get("lora_mid.weight")
        if mid is not None:  # LyCORIS Tucker: core [r, r, kh, kw]
            delta = torch.einsum("ijkl,jm,ni->nmkl", mid.to(device, torch.float32), down.flatten(1), up.flatten(1))
        elif down.ndim == 4 and down.shape[2:] != (1, 1):
            delta = (up.flatten(1) @ down.flatten(1)).reshape(up.shape[0], *down.shape[1:])
        else:
            delta = up.flatten(1) @ down.flatten(1)
    elif "hada_w1_a" in parts and "hada_w2_a" in parts and "hada_t1" not in parts:
        w1 = parts["hada_w1_a"].to(device, torch.float32) @ parts["hada_w1_b"].to(device, torch.float32)
        w2 = parts["hada_w2_a"].to(device, torch.float32) @ parts["hada_w2_b"].to(device, torch.float32)
        rank = parts["hada_w1_b"].shape[0]
        delta = w1 * w2
    elif "diff" in parts:
        return parts["diff"].to(device, torch.float32).reshape(weight.shape)
    else:
        return None
    alpha = parts.get("alpha")
    scale = float(alpha) / rank if alpha is not None else 1.0
    if delta.numel() != weight.numel():
        return None
    return delta.reshape(weight.shape) * scale


@dataclasses.dataclass
class PatchReport:
    """What a ``lora_patch`` did: modules patched per network and module names that matched nothing."""

    applied: dict[str, int] = dataclasses.field(default_factory=dict)
    unmatched: dict[str, list[str]] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def lora_patch(model: Any, networks: Sequence[tuple[LoraNetwork, float, float]]) -> Iterator[PatchReport]:
    """Add ``te_weight``/``unet_weight`` times each network's delta to ``model``; restore exactly on exit."""
    import torch

    report = PatchReport()
    backups: dict[int, tuple[torch.nn.Parameter, torch.Tensor]] = {}
    try:
        with torch.no_grad():
            index = target_index(model)
            for network, te_weight, unet_weight in networks:
                applied, unmatched = 0, []
                for module_name, parts in network.modules.items():
                    multiplier = unet_weight if module_name.startswith("lora_unet_") else te_weight
                    if multiplier == 0:
                        continue
                    module = index.get(module_name)
                    if module is None:
                        unmatched.append(module_name)
                        continue
                    param = module.weight
                    try:
                        delta = network_delta(parts, param)
                    except (RuntimeError, ValueError, TypeError, IndexError) as error:  # factors of wrong shapes
                        raise ModelLoadError(
                            network.path, f"LoRA module {module_name} does not fit the loaded model ({error})"
                        ) from error
                    if delta is None:
                        unmatched.append(module_name)
                        continue
                    if id(param) not in backups:
                        backups[id(param)] = (param, param.detach().clone())
                    param.add_((delta * multiplier).to(param.dtype))
                    applied += 1
                report.applied[network.name] = applied
                if unmatched:
                    report.unmatched[network.name] = unmatched
                    log.warning(
                        "LoRA %s: %d module(s) not applied (no matching layer or unsupported type), e.g. %s",
                        network.name,
                        len(unmatched),
                        unmatched[:3],
                    )
        yield report
    finally:
        with torch.no_grad():
            for param, backup in backups.values():
                param.copy_(backup.to(param.device))


def find_lora_files(directory: Path | None) -> list[Path]:
    """LoRA files under ``directory`` (bounded: symlink loops and unreadable entries are skipped)."""
    from modules.models.folder_scan import scan_files

    if directory is None:
        return []
    return scan_files(Path(directory), LORA_SUFFIXES).files


_ALIAS_RE = re.compile(r"[^\w\-. ]")


def lora_alias(path: Path, metadata: dict[str, str]) -> str:
    """A1111's alias: the ``ss_output_name`` recorded at training time, else the file stem."""
    alias = metadata.get("ss_output_name") or path.stem
    return _ALIAS_RE.sub("", alias) or path.stem
