"""How A1111's module names reach the facades in ``modules/a1111/`` (the loader installs this once).

Our package is itself called ``modules``, so A1111's names fall in two groups:

- Names the program does not use (``modules.shared``, ``modules.sd_models``, ``modules.ui_components`` ...):
  an import hook (``A1111Finder`` on ``sys.meta_path``) answers ``import modules.shared`` with the facade
  module ``modules.a1111.shared`` itself, so ``from modules import shared`` and ``import modules.shared as
  shared`` give the same object. ``launch`` is the program's own ``launch.py``, which forwards A1111's
  installer names (``is_installed``, ``run_pip``, ``args`` ...) to ``modules.a1111.launch_utils``.
- Names that are packages of the program too (``modules.processing``, ``modules.images``,
  ``modules.devices``, ``modules.paths``, ``modules.extensions``): each has a module ``__getattr__`` that
  sends names it does not define to the facade (``forward``), so ``from modules.processing import
  fix_seed`` works while the core's own modules are untouched. The core never reaches those names.

Imports of A1111's model internals (``ldm``, ``sgm``, ``modules.sd_hijack`` ...) fail with an ImportError
saying the extension needs A1111 internals, which extensions that probe for them (``try: from modules import
sd_hijack``) already handle.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from typing import Any

FACADES = {
    "shared": "shared",
    "shared_items": "shared_items",
    "shared_state": "state",
    "options": "options",
    "sd_models": "sd_models",
    "sd_samplers": "sd_samplers",
    "sd_vae": "sd_vae",
    "extra_networks": "extra_networks",
    "hashes": "hashes",
    "infotext_utils": "infotext_utils",
    "generation_parameters_copypaste": "generation_parameters_copypaste",
    "ui_components": "ui_components",
    "ui_common": "ui_common",
    "call_queue": "call_queue",
    "scripts_postprocessing": "scripts_postprocessing",
    "errors": "errors",
    "masking": "masking",
    "launch_utils": "launch_utils",
    "extras": "extras",
    "paths_internal": "paths",
}
# A1111 modules that are its Stable Diffusion internals: extensions patching them cannot work here.
INTERNALS = (
    "ldm",
    "sgm",
    "k_diffusion",
    "repositories",
    "modules_forge",
    "modules.sd_hijack",
    "modules.sd_hijack_optimizations",
    "modules.sd_samplers_kdiffusion",
    "modules.sd_samplers_common",
    "modules.sd_models_config",
    "modules.sd_unet",
    "modules.lowvram",
    "modules.prompt_parser",
    "modules.textual_inversion",
    "modules.hypernetworks",
)
NEEDS_INTERNALS = (
    "{name} is part of AUTOMATIC1111's Stable Diffusion internals, which this WebUI does not have: the "
    "extension needs A1111 internals (see modules/extensions/README.md, 'What is not covered')"
)


class NeedsA1111Internals(ModuleNotFoundError):
    pass


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return importlib.import_module(self.target)

    def exec_module(self, module: Any) -> None:
        """The facade module is already executed."""


class A1111Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith("modules."):
            short = fullname[len("modules.") :]
            if short in FACADES:
                loader = _AliasLoader(f"modules.a1111.{FACADES[short]}")
                return importlib.machinery.ModuleSpec(fullname, loader)
        if any(fullname == name or fullname.startswith(name + ".") for name in INTERNALS):
            raise NeedsA1111Internals(
                NEEDS_INTERNALS.format(name=fullname)
            )  # no name=: "from modules import x" keeps the message
        return None


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, A1111Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, A1111Finder())


def _is_submodule(package: str, name: str) -> bool:
    parent = sys.modules.get(f"modules.{package}")
    for folder in getattr(parent, "__path__", None) or ():
        if os.path.exists(os.path.join(folder, f"{name}.py")) or os.path.isdir(os.path.join(folder, name)):
            return True
    return False


def forward(facade: str, name: str) -> Any:
    """For a program module's ``__getattr__``: A1111's ``name`` from ``modules.a1111.<facade>``."""
    if name.startswith("__") or _is_submodule(facade, name):
        raise AttributeError(name)  # the import system asks before importing a submodule: not ours to answer
    module = importlib.import_module(f"modules.a1111.{facade}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'modules.{facade}' has no attribute {name!r}") from None
