"""How a facade finds the program it speaks for: the current extension context, its Backend, the running job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modules.extensions import bridge

if TYPE_CHECKING:
    from modules.app import Backend
    from modules.extensions.manager import ExtensionManager
    from modules.extensions.offers import ExtensionOffers
    from modules.extensions.runner import ScriptRunner
    from modules.models.manager import ModelManager


def context() -> Any:
    """The current ``ExtensionContext`` (or the program's, outside hooks); a clear error before start-up."""
    found = bridge.current_or_fallback()
    if found is None:
        raise bridge.NoExtensionContext(
            "A1111 compatibility names (modules.shared, modules.processing, ...) work once the WebUI has loaded "
            "its extensions; nothing is loaded in this process yet"
        )
    return found


def backend() -> Backend:
    return context().backend_for_processing


def backend_or_none() -> Backend | None:
    found = bridge.current_or_fallback()
    return found.backend_for_processing if found is not None else None


def models_or_none() -> ModelManager | None:
    found = backend_or_none()
    return getattr(found, "models", None) if found is not None else None


def current_job() -> Any:
    """The job the worker is running now, or None."""
    found = backend_or_none()
    return found.jobs.current if found is not None else None


def extension_manager() -> ExtensionManager | None:
    """The extension manager, or None before there is a Backend or before extensions are loaded."""
    found = backend_or_none()
    return found.extensions if found is not None else None


def script_runner() -> ScriptRunner | None:
    """The loaded scripts' runner, or None before there is a Backend or before extensions are loaded."""
    found = backend_or_none()
    return found.scripts if found is not None else None


def offers() -> ExtensionOffers | None:
    """What the loaded extensions offered (``ExtensionOffers``), or None before there is a Backend."""
    found = backend_or_none()
    return found.offers if found is not None else None


def flags_without_backend() -> Any:
    """The command-line flags before a Backend exists (preload.py, install.py): parsed from this process's
    arguments, or those the installer passed in ``WEBUI_LAUNCH_ARGS``; unknown flags are ignored."""
    import json
    import os
    import sys

    from modules.extensions.preload import preload_argv
    from modules.settings.cli import build_parser

    argv = preload_argv()
    if argv is None:
        argv = json.loads(os.environ["WEBUI_LAUNCH_ARGS"]) if os.environ.get("WEBUI_LAUNCH_ARGS") else sys.argv[1:]
    known, _ = build_parser().parse_known_args(argv)
    return known


def paths() -> Any:
    """The Backend's ``Paths``, or (while preload.py runs, before there is one) those the command line gives."""
    from modules.extensions.preload import preload_argv

    found = backend_or_none() if preload_argv() is None else None
    if found is not None:
        return found.paths
    from modules.paths import Paths

    return Paths.from_flags(flags_without_backend())
