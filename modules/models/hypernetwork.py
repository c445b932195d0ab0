"""Hypernetworks in A1111's ``.pt`` format: small MLPs that reshape what the attention layers' k and v see.

A file is a pickled dict: for each width it was trained for (int keys: 768 for the SD 1.x text context, 320,
640, 1280 for the UNet's own features), a pair of layer states, the first for k and the second for v; plus
how the layers were built (``layer_structure`` such as ``[1, 2, 1]``, ``activation_func``, ``is_layer_norm``,
``use_dropout``, ``activate_output``, ``last_layer_dropout``) and notes (``name``, ``step``, ``sd_checkpoint``).

Applied as A1111 does, to every attention layer of the UNet (self- and cross-attention): the tensor fed to
``to_k`` becomes ``x + mlp_k(x) * strength`` (``to_v`` likewise with ``mlp_v``) when the file has layers for
that width; several hypernetworks chain in prompt order. ``hypernet_patch`` does it with forward pre-hooks
on ``to_k``/``to_v`` that are removed on exit: no weight changes and no ``forward`` is replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from modules.models.errors import ModelLoadError
from modules.models.statedict import load_pickle

log = logging.getLogger(__name__)

HYPERNET_SUFFIXES = (".pt",)
_OLD_KEYS = {  # the first release's names, renamed as A1111 does when it loads them
    "linear1.weight": "linear.0.weight",
    "linear1.bias": "linear.0.bias",
    "linear2.weight": "linear.1.weight",
    "linear2.bias": "linear.1.bias",
}


def _activations() -> dict[str, type[torch.nn.Module]]:
    """Activation names as A1111 files spell them: its short list, then every torch activation, lowercased."""
    table: dict[str, type[torch.nn.Module]] = {
        "linear": torch.nn.Identity,
        "relu": torch.nn.ReLU,
        "leakyrelu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU,
        "swish": torch.nn.Hardswish,  # A1111 maps "swish" to Hardswish; files trained with it expect that
        "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid,
    }
    for name, cls in inspect.getmembers(torch.nn.modules.activation, inspect.isclass):
        if cls.__module__ == "torch.nn.modules.activation":
            table.setdefault(name.lower(), cls)
    return table


@dataclasses.dataclass(frozen=True)
class HypernetStructure:
    """How the MLP of every width is built (A1111's defaults for keys a file lacks)."""

    layer_structure: tuple[float, ...] = (1, 2, 1)
    activation: str | None = None
    layer_norm: bool = False
    dropout: bool = False
    activate_output: bool = True
    last_layer_dropout: bool = False

    @classmethod
    def from_file_dict(cls, data: dict) -> HypernetStructure:
        structure = data.get("layer_structure") or (1, 2, 1)
        return cls(
            layer_structure=tuple(float(x) for x in structure),
            activation=data.get("activation_func"),
            layer_norm=bool(data.get("is_layer_norm", False)),
            dropout=bool(data.get("use_dropout", False)),
            activate_output=bool(data.get("activate_output", True)),
            last_layer_dropout=bool(data.get("last_layer_dropout", False)),
        )


def build_layers(dim: int, structure: HypernetStructure) -> torch.nn.Sequential:
    """The MLP for width ``dim``, with modules at the same indices as A1111's, so saved states load unchanged."""
    sizes = structure.layer_structure
    if len(sizes) < 2 or sizes[0] != 1 or sizes[-1] != 1:
        raise ValueError(f"layer_structure {list(sizes)} must start and end with 1")
    activation = structure.activation
    table = _activations()
    if activation not in (None, "linear") and activation not in table:
        raise ValueError(f"unsupported activation function {activation!r}")
    count = len(sizes) - 1
    layers: list[torch.nn.Module] = []
    for i in range(count):
        width_out = int(dim * sizes[i + 1])
        layers.append(torch.nn.Linear(int(dim * sizes[i]), width_out))
        is_last = i == count - 1
        if activation not in (None, "linear") and not (is_last and not structure.activate_output):
            layers.append(table[activation]())
        if structure.layer_norm:
            layers.append(torch.nn.LayerNorm(width_out))
        if structure.dropout and (i < count - 2 or (structure.last_layer_dropout and i < count - 1)):
            layers.append(torch.nn.Dropout(p=0.3))  # inert at inference; keeps the state's indices
    return torch.nn.Sequential(*layers)


class HypernetModule(torch.nn.Module):
    """One side (k or v) at one width: ``x + mlp(x) * strength``."""

    def __init__(self, dim: int, structure: HypernetStructure) -> None:
        super().__init__()
        self.linear = build_layers(dim, structure)

    def forward(self, x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        return x + self.linear(x) * strength


@dataclasses.dataclass(eq=False)
class Hypernetwork:
    """A parsed file: per width, the (k, v) modules."""

    name: str
    path: Path
    layers: dict[int, tuple[HypernetModule, HypernetModule]]
    structure: HypernetStructure


def parse_hypernetwork(data: Any, path: Path, name: str) -> Hypernetwork:
    """Build the modules from a loaded file dict; ModelLoadError naming the file when it is not one."""
    if not isinstance(data, dict):
        raise ModelLoadError(path, "is not a hypernetwork (expected a dict of layer states)")
    try:
        structure = HypernetStructure.from_file_dict(data)
        layers: dict[int, tuple[HypernetModule, HypernetModule]] = {}
        for width, states in data.items():
            if not isinstance(width, int) or isinstance(width, bool):
                continue
            if not isinstance(states, (list, tuple)) or len(states) != 2:
                raise ValueError(f"width {width}: expected a pair of layer states (k, v)")
            pair = []
            for state in states:
                module = HypernetModule(width, structure)
                fixed = {_OLD_KEYS.get(key, key): value for key, value in dict(state).items()}
                module.load_state_dict(fixed)
                module.eval().requires_grad_(False)
                pair.append(module)
            layers[width] = (pair[0], pair[1])
    except (ValueError, TypeError, RuntimeError, KeyError) as error:
        raise ModelLoadError(path, f"is not a usable hypernetwork: {str(error).splitlines()[0]}") from error
    if not layers:
        raise ModelLoadError(path, "is not a hypernetwork: it holds no layers for any width")
    return Hypernetwork(str(data.get("name") or name), path, layers, structure)


def load_hypernetwork(path: Path, name: str, allow_unsafe_pickle: bool = False) -> Hypernetwork:
    """Read ``path`` through the safe unpickler (tensors and plain containers only) and build its modules."""
    data = load_pickle(Path(path), allow_unsafe_pickle, mmap=False)
    hypernet = parse_hypernetwork(data, Path(path), name)
    hypernet.name = name  # the prompt names the file, whatever name the trainer stored
    log.info("Loaded hypernetwork %s (widths %s)", path, sorted(hypernet.layers))
    return hypernet


def _attention_layers(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The UNet's transformer attention layers (diffusers names them ``attn1``/``attn2``)."""
    return [
        module
        for name, module in unet.named_modules()
        if name.rsplit(".", 1)[-1] in ("attn1", "attn2") and hasattr(module, "to_k") and hasattr(module, "to_v")
    ]


def _context_hook(chain: Sequence[tuple[Hypernetwork, float]], side: int):
    """A pre-hook feeding ``to_k`` (side 0) or ``to_v`` (side 1) the hypernetwork-transformed input."""

    def hook(_module: torch.nn.Module, args: tuple) -> tuple | None:
        if not args:
            return None
        x = args[0]
        changed = x
        for hypernet, strength in chain:
            pair = hypernet.layers.get(int(changed.shape[-1]))
            if pair is None:
                continue
            layer = pair[side]
            weight = next(layer.parameters())
            if weight.device != changed.device:  # offloaded UNets (--medvram) move between devices
                layer.to(changed.device)
            changed = layer(changed.to(weight.dtype), strength).to(x.dtype)
        return None if changed is x else (changed, *args[1:])

    return hook


@contextlib.contextmanager
def hypernet_patch(unet: torch.nn.Module, chain: Sequence[tuple[Hypernetwork, float]]) -> Iterator[int]:
    """Apply ``[(hypernetwork, strength)]`` to ``unet`` while inside; yields the number of hooked layers."""
    chain = [(hypernet, float(strength)) for hypernet, strength in chain]
    handles: list[Any] = []
    try:
        if chain:
            for attention in _attention_layers(unet):
                handles.append(attention.to_k.register_forward_pre_hook(_context_hook(chain, 0)))
                handles.append(attention.to_v.register_forward_pre_hook(_context_hook(chain, 1)))
        yield len(handles) // 2
    finally:
        for handle in handles:
            handle.remove()


def find_hypernetwork_files(directory: Path | None) -> list[Path]:
    """``.pt`` files under ``directory`` (A1111 skips one named ``None``, the dropdown's empty choice)."""
    from modules.models.folder_scan import scan_files

    if directory is None or not Path(directory).is_dir():
        return []
    return sorted(path for path in scan_files(Path(directory), HYPERNET_SUFFIXES).files if path.stem != "None")
