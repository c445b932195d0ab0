"""How a facade finds the program it speaks for: the current extension context, its Backend, the running job."""

from __future__ import annotations

from typing import Any

from modules.extensions import bridge


def context() -> Any:
    """The current ``ExtensionContext`` (or the program's, outside hooks); a clear error before start-up."""
    found = bridge.current_or_fallback()
    if found is None:
        raise bridge.NoExtensionContext(
            "A1111 compatibility names (modules.shared, modules.processing, ...) work once the WebUI has loaded "
            "its extensions; nothing is loaded in this process yet"
        )
    return found


def backend() -> Any:
    return context().backend_for_processing


def backend_or_none() -> Any:
    found = bridge.current_or_fallback()
    return found.backend_for_processing if found is not None else None


def models_or_none() -> Any:
    found = backend_or_none()
    return getattr(found, "models", None) if found is not None else None


def current_job() -> Any:
    """The job the worker is running now, or None."""
    found = backend_or_none()
    return found.jobs.current if found is not None else None


def service(name: str, default: Any = None) -> Any:
    found = backend_or_none()
    return found.services.get(name, default) if found is not None else default
