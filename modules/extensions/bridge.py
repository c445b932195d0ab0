"""The one documented bridge from A1111-style module-level calls to the registry of an extension.

A1111 extensions call ``script_callbacks.on_ui_tabs(fn)`` at import time and sometimes inside their hooks.
The facade modules ``modules.script_callbacks`` and ``modules.scripts`` forward those calls to the
``ExtensionContext`` made *current* here: the loader makes an extension's context current while its script
files are imported, and the script runner while that extension's hooks run. A ``ContextVar`` keeps it
per thread / task, so two backends (tests) or concurrent requests never see each other's context. Outside
those moments there is no current context and the facades fail with a message saying so.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Iterator
from typing import Any

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("current_extension", default=None)


class _Fallback:
    """The program's own context of the Backend that loaded extensions last (weakly held).

    A1111 extensions also read ``shared.opts`` from Gradio event handlers and from routes they add, which run
    in threads where no context was made current. Those calls resolve to this one. The core never reads it.
    """

    def __init__(self) -> None:
        self._ref: Any = None

    def set(self, context: Any) -> None:
        self._ref = weakref.ref(context)

    def get(self) -> Any:
        return self._ref() if self._ref is not None else None


_fallback = _Fallback()


class NoExtensionContext(RuntimeError):
    """A facade was called while no extension is being loaded or run."""


def current() -> Any:
    """The ``ExtensionContext`` being loaded or run; NoExtensionContext when there is none."""
    context = _current.get()
    if context is None:
        raise NoExtensionContext(
            "modules.script_callbacks / modules.scripts functions work only while an extension's scripts are "
            "loaded or its hooks run; register callbacks at import time or from a hook"
        )
    return context


def current_or_none() -> Any:
    return _current.get()


def current_or_fallback() -> Any:
    """The current context, else the program context of the Backend that loaded extensions last (or None)."""
    context = _current.get()
    return context if context is not None else _fallback.get()


def set_fallback(context: Any) -> None:
    """For the extension manager: calls made outside any context resolve to ``context`` from now on."""
    _fallback.set(context)


@contextlib.contextmanager
def activated(context: Any) -> Iterator[Any]:
    """Make ``context`` current for the duration of the block (nesting restores the outer one)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
