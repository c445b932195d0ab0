"""Shared by the ControlNet annotator tests: the extension's modules, and random weights in the key layout of
a released annotator file (``tests/fixtures/annotators/<stem>.json``, dumped from the reference
implementations), so a test file goes through the same loading code as the real download."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from tests.checkpoint_factory import write_state_dict

ROOT = Path(__file__).resolve().parent.parent
CN_DIR = ROOT / "extensions-builtin" / "sd-webui-controlnet"
LAYOUTS = ROOT / "tests" / "fixtures" / "annotators"
HED_BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convs)


def controlnet_module(name: str) -> ModuleType:
    """``controlnet_ext.<name>`` of the built-in ControlNet extension (its folder put on the path)."""
    if str(CN_DIR) not in sys.path:
        sys.path.insert(0, str(CN_DIR))
    return importlib.import_module(f"controlnet_ext.{name}")


def released_layout(stem: str) -> dict[str, list[int]]:
    """``{key: shape}`` of the released file ``<stem>.pth``."""
    return json.loads((LAYOUTS / f"{stem}.json").read_text())


def random_state(stem: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Trained-like random tensors for every key of a released layout: kernels ~ N(0, 1/fan_in), norm scales
    ~ 1 + N(0, 0.01), biases and means ~ N(0, 0.01), BatchNorm variances in [0.5, 1.5), so activations stay
    finite through deep stacks."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in released_layout(stem).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
            continue
        if key.endswith("running_var"):
            value = 0.5 + torch.rand(shape, generator=generator)
        elif len(shape) >= 2:
            value = torch.randn(shape, generator=generator) / float(np.prod(shape[1:])) ** 0.5
        elif key.endswith("weight"):
            value = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            value = 0.1 * torch.randn(shape, generator=generator)
        state[key] = value.to(dtype)
    return state


def write_hed_weights(path: Path, seed: int = 0) -> Path:
    """A pickled plain state dict with the keys and shapes of lllyasviel's ControlNetHED.pth (fp16)."""
    state = {"norm": torch.zeros(1, 3, 1, 1)}
    generator = torch.Generator().manual_seed(seed)
    for block, (cin, cout, layers) in enumerate(HED_BLOCKS, start=1):
        for layer in range(layers):
            fan_in = (cin if layer == 0 else cout) * 9
            weight = torch.randn(cout, cin if layer == 0 else cout, 3, 3, generator=generator) / fan_in**0.5
            state[f"block{block}.convs.{layer}.weight"] = weight.half()
            state[f"block{block}.convs.{layer}.bias"] = torch.zeros(cout).half()
        state[f"block{block}.projection.weight"] = (torch.randn(1, cout, 1, 1, generator=generator) / cout**0.5).half()
        state[f"block{block}.projection.bias"] = torch.zeros(1).half()
    return write_state_dict(state, path, fmt="ckpt", wrap=False)
