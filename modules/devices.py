"""Where models run and in which precision, decided once from the command-line flags.

A1111 spreads this over module globals that everything reads; here ``choose_device(flags)`` returns one frozen
``DeviceInfo`` that the model manager is given. Rules (A1111's flags, same meaning):

- CUDA when a GPU is usable (``--device-id`` picks it), else the CPU; ``--use-cpu`` forces the CPU.
- fp16 on CUDA by default; fp32 with ``--no-half`` or ``--precision full``; bf16 with ``--precision bf16``.
  The CPU runs fp32 (fp16 matmuls are slow or missing there) unless bf16 is asked for.
- The VAE follows the model dtype unless ``--no-half-vae``.
- Attention uses torch's scaled-dot-product attention (diffusers' default); ``--xformers`` switches to xformers
  when it is installed and a GPU is used.
- ``--medvram`` / ``--lowvram`` keep weights in RAM and move only the part that runs to the GPU.

Importing this module is cheap: torch is imported inside the functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import logging
from typing import Any

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """The execution device and dtypes every model is loaded with."""

    device: Any  # torch.device
    dtype: Any  # torch.dtype of the UNet and text encoders
    vae_dtype: Any  # torch.dtype of the VAE
    offload: str = "none"  # none | medvram | lowvram
    attention: str = "sdpa"  # sdpa | xformers
    description: str = ""

    @property
    def is_cuda(self) -> bool:
        return getattr(self.device, "type", str(self.device)) == "cuda"

    @property
    def load_device(self) -> Any:
        """Where weights are put when loaded: the CPU when offloading, else the execution device."""
        import torch

        return torch.device("cpu") if self.offload != "none" else self.device


def _flag(flags: argparse.Namespace | None, name: str, default: Any = None) -> Any:
    return getattr(flags, name, default) if flags is not None else default


def cuda_usable() -> bool:
    import torch

    try:
        return bool(torch.cuda.is_available() and torch.cuda.device_count() > 0)
    except RuntimeError as error:  # broken driver install
        log.warning("CUDA is installed but not usable: %s", error)
        return False


def choose_device(flags: argparse.Namespace | None = None) -> DeviceInfo:
    """The ``DeviceInfo`` the flags ask for, falling back to the CPU when no GPU is usable."""
    import torch

    use_cpu = _flag(flags, "use_cpu") is not None
    precision = _flag(flags, "precision", "autocast") or "autocast"
    if not use_cpu and cuda_usable():
        index = _flag(flags, "device_id") or 0
        if index >= torch.cuda.device_count():
            log.warning("--device-id %s: only %d GPU(s); using GPU 0", index, torch.cuda.device_count())
            index = 0
        device = torch.device("cuda", index)
        if precision == "bf16":
            dtype = torch.bfloat16
        elif _flag(flags, "no_half") or precision == "full":
            dtype = torch.float32
        else:
            dtype = torch.float16
        name = torch.cuda.get_device_name(index)
    else:
        if not use_cpu and not _flag(flags, "skip_torch_cuda_test"):
            log.warning(
                "No usable CUDA GPU found: running on the CPU, which is slow "
                "(pass --skip-torch-cuda-test or --use-cpu all to silence this)"
            )
        device = torch.device("cpu")
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        name = "CPU"
    vae_dtype = torch.float32 if _flag(flags, "no_half_vae") else dtype
    offload = "none"
    if device.type == "cuda":
        if _flag(flags, "lowvram"):
            offload = "lowvram"
        elif _flag(flags, "medvram"):
            offload = "medvram"
    elif _flag(flags, "lowvram") or _flag(flags, "medvram"):
        log.info("--medvram/--lowvram have no effect on the CPU")
    attention = "sdpa"
    if _flag(flags, "xformers"):
        if device.type == "cuda" and importlib.util.find_spec("xformers") is not None:
            attention = "xformers"
        else:
            log.warning("--xformers: xformers is not installed or no GPU is used; using torch SDPA attention")
    description = f"{name}, {str(dtype).removeprefix('torch.')} (VAE {str(vae_dtype).removeprefix('torch.')})"
    if offload != "none":
        description += f", {offload}"
    if attention != "sdpa":
        description += f", {attention}"
    log.info("Device: %s", description)
    return DeviceInfo(device, dtype, vae_dtype, offload, attention, description)


def release_memory(device: Any = None) -> None:
    """Collect garbage and return cached GPU memory to the driver (after unloading a model)."""
    gc.collect()
    import torch

    if torch.cuda.is_available() and (device is None or getattr(device, "type", "") == "cuda"):
        torch.cuda.empty_cache()


def __getattr__(name: str):  # A1111's names for extensions (modules/extensions/compat_imports.py); core never uses them
    from modules.extensions.compat_imports import forward

    return forward("devices", name)
