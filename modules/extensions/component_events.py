"""A1111's component events: ``on_before_component`` / ``on_after_component`` and ``Script.after_component``.

A1111 tells extensions about every Gradio component the page creates (``txt2img_width`` ...), so they can
place their controls beside it or read its value. Gradio has no such event; ``component_events(manager)``
wraps ``gradio.components.Component.__init__`` for as long as the page is being built (the UI is built once,
at start-up, before the server answers) and restores it afterwards. Each component created meanwhile fires
the ``before_component`` / ``after_component`` callbacks, and the matching methods and per-element
registrations (``Script.on_after_component(fn, elem_id=...)``) of every script instance.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from typing import Any

from modules.extensions import bridge

log = logging.getLogger(__name__)

_busy = threading.local()  # a callback that creates components must not re-enter the events


class OnComponent:
    """What ``Script.on_after_component(fn, elem_id=...)`` callbacks receive (A1111's ``OnComponent``)."""

    def __init__(self, component: Any) -> None:
        self.component = component


def _script_instances(manager: Any) -> list[Any]:
    runner = manager.backend.scripts
    if runner is None:
        return []
    return runner.scripts(False) + runner.scripts(True)


def _fire(manager: Any, when: str, component: Any, kwargs: dict[str, Any]) -> None:
    for callback in manager.callbacks.get(f"{when}_component"):
        try:
            with manager.activated_for(callback):
                callback.fn(component, **kwargs)
        except Exception:
            log.exception("Extension %s: on_%s_component callback failed", callback.extension, when)
    elem_id = kwargs.get("elem_id")
    for script in _script_instances(manager):
        try:
            with bridge.activated(script.extension):
                getattr(script, f"{when}_component")(component, **kwargs)
                for wanted, fn in getattr(script, f"_on_{when}_component_elem_id", None) or []:
                    if wanted == elem_id:
                        fn(OnComponent(component))
        except Exception:
            log.exception("Extension %s: %s_component of %s failed", script.extension.name, when, script.title())


@contextlib.contextmanager
def component_events(manager: Any) -> Iterator[None]:
    """Fire component events for the components created inside the block (the page build)."""
    import gradio as gr

    component_class = gr.components.Component
    original = component_class.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(_busy, "active", False):
            original(self, *args, **kwargs)
            return
        _busy.active = True
        try:
            _fire(manager, "before", self, kwargs)
        finally:
            _busy.active = False
        original(self, *args, **kwargs)
        _busy.active = True
        try:
            _fire(manager, "after", self, kwargs)
        finally:
            _busy.active = False

    component_class.__init__ = init
    try:
        yield
    finally:
        component_class.__init__ = original
