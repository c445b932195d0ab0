"""A1111's ``modules.paths`` / ``paths_internal``: folders as strings, read from the running Backend."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve

_NAMES = {
    "models_path": lambda p: p.models,
    "data_path": lambda p: p.data,
    "script_path": lambda p: p.program,
    "extensions_dir": lambda p: p.extensions,
    "extensions_builtin_dir": lambda p: p.builtin_extensions,
    "default_output_dir": lambda p: p.outputs,
    "sd_default_config": lambda p: p.program / "configs" / "v1-inference.yaml",
    "config_states_dir": lambda p: p.data / "config_states",
}


def _value(name: str) -> str:
    return str(_NAMES[name](_resolve.backend().paths))


def __getattr__(name: str) -> Any:
    if name == "paths":
        return {"Stable Diffusion": _value("script_path")}
    if name in _NAMES:
        return _value(name)
    raise AttributeError(f"module 'modules.paths' has no attribute {name!r}")
