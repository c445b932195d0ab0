"""A1111's ``modules.shared``: ``opts``, ``cmd_opts``, ``state``, ``OptionInfo``, ``sd_model`` ...

Names that depend on the running program (``cmd_opts``, ``sd_model``, ``sd_upscalers``, ``prompt_styles``,
paths) are looked up at each access through the module's ``__getattr__``, so ``shared.sd_model`` is the model
loaded now. ``from modules.shared import opts, state`` binds objects that resolve at each attribute access.
"""

from __future__ import annotations

import os
import re
from typing import Any

from modules.a1111 import _resolve, sd_models
from modules.a1111.options import OptionHTML, OptionInfo, Options, options_section, opts  # noqa: F401
from modules.a1111.state import State, state  # noqa: F401

styles_filename = "styles.csv"
hide_dirs: dict[str, Any] = {"visible": True}
demo = None
xformers_available = False
loaded_hypernetworks: list[Any] = []
face_restorers: list[Any] = []
parallel_processing_allowed = True
natural_sort_key_re = re.compile(r"([0-9]+)")


def natural_sort_key(text: str, regex: re.Pattern = natural_sort_key_re) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in regex.split(text)]


def listfiles(dirname: str) -> list[str]:
    names = sorted((n for n in os.listdir(dirname) if not n.startswith(".")), key=natural_sort_key)
    return [os.path.join(dirname, n) for n in names if not os.path.isdir(os.path.join(dirname, n))]


def walk_files(path: str, allowed_extensions: Any = None) -> Any:
    if not os.path.exists(path):
        return
    allowed = {e.lower() for e in allowed_extensions} if allowed_extensions else None
    for root, _, files in os.walk(path, followlinks=True):
        for filename in sorted(files, key=natural_sort_key):
            if allowed is None or os.path.splitext(filename)[1].lower() in allowed:
                yield os.path.join(root, filename)


def reload_hypernetworks() -> None:
    """``shared.hypernetworks`` is read from the folder at each access, so there is nothing to reload."""


def list_checkpoint_tiles(use_short: bool = False) -> list[str]:
    return [info.title for info in sd_models.checkpoints_list.values()]


def refresh_checkpoints() -> None:
    models = _resolve.models_or_none()
    if models is not None:
        models.refresh()


class _TotalTqdm:
    """A1111's console progress bar over all jobs; progress is shown on the page here, so these do nothing."""

    def reset(self) -> None: ...
    def update(self) -> None: ...
    def updateTotal(self, new_total: int) -> None: ...  # noqa: N802 (A1111's name)
    def clear(self) -> None: ...


total_tqdm = _TotalTqdm()


def _prompt_styles() -> Any:
    return _resolve.backend().styles  # the one database the page and the API use


def _dynamic(name: str) -> Any:
    if name == "cmd_opts":
        from modules.a1111.cmd_opts import cmd_opts

        return cmd_opts()
    if name == "sd_model":
        return sd_models.current_model()
    if name == "sd_upscalers":
        from modules.a1111.upscalers import sd_upscalers

        return sd_upscalers()
    if name == "prompt_styles":
        return _prompt_styles()
    if name == "hypernetworks":  # A1111's {name: path} of the hypernetworks folder
        from modules.models.networks import scan_hypernetworks

        found = scan_hypernetworks(getattr(_resolve.backend().paths, "hypernetworks", None))
        return {info.name: str(info.path) for info in found}
    if name in ("models_path", "data_path", "script_path"):
        from modules.a1111 import paths

        return getattr(paths, name)
    if name == "config_filename":
        return str(_resolve.backend().paths.settings_file)
    if name == "device":
        from modules.a1111 import devices

        return devices.device
    if name == "interrogator":  # A1111's InterrogateModels: interrogate(), generate_caption(), categories()
        return _resolve.backend().clip_interrogator()
    if name == "interrupted":
        return state.interrupted
    if name == "log":
        import logging

        return logging.getLogger("extensions")
    raise AttributeError(f"module 'modules.shared' has no attribute {name!r}")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return _dynamic(name)
