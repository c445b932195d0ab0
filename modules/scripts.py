"""A1111-compatible facade: ``from modules import scripts; class X(scripts.Script): ...``.

The real classes live in ``modules.extensions.script_api``; ``basedir()`` answers the folder of the extension
being loaded or run (``modules.extensions.bridge``), as A1111's does while its scripts load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.extensions import bridge
from modules.extensions.script_api import (  # noqa: F401  (the public surface for extensions)
    AlwaysVisible,
    PostprocessBatchListArgs,
    PostprocessImageArgs,
    PostProcessMaskOverlayArgs,
    PostSampleArgs,
    Script,
)


def basedir() -> str:
    """Folder of the extension whose code is running (the program folder for built-in scripts)."""
    context = bridge.current_or_none()
    if context is not None and context.path is not None:
        return str(context.path)
    return str(Path(__file__).resolve().parent.parent)


def current_extension() -> Any:
    """The ``ExtensionContext`` of the extension being loaded or run (settings, callbacks, services...)."""
    return bridge.current()


A1111_NAMES = (
    "scripts_txt2img",
    "scripts_img2img",
    "scripts_data",
    "scripts_current",
    "ScriptClassData",
    "ScriptFile",
    "list_scripts",
)


def __getattr__(name: str) -> Any:  # A1111's scripts_txt2img / scripts_img2img / scripts_data (modules/a1111/)
    if name in A1111_NAMES:
        from modules.a1111 import scripts_view

        return getattr(scripts_view, name)
    raise AttributeError(f"module 'modules.scripts' has no attribute {name!r}")
