"""Gradio 3.41 spellings (A1111's Gradio) accepted while extension UI code runs.

A1111 extensions build their widgets with Gradio 3 calls that our Gradio rejects (``_js=``, ``.style()``,
``gr.Box``, ``gr.Button.update()``, ``gr.inputs.Slider``, ``gr.Image(source=...)``...). ``gradio3_shims()``
installs translations for exactly as long as an extension's ``ui()``, ``on_ui_tabs`` or ``on_ui_settings``
runs, and again while an event handler registered from there runs (handlers call ``gr.X.update`` at click
time). The shims only *add* spellings Gradio lacks; nothing Gradio accepts changes meaning, so core code that
happens to run on another thread meanwhile is unaffected. The mapping table is documented in
``modules/extensions/README.md`` ("Gradio 3 shims").
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.events import Dependency

log = logging.getLogger(__name__)

_lock = threading.RLock()
_depth = 0
_restore: list[Callable[[], None]] = []
_SHIMMED = "__gradio3_shim__"

# Constructor keywords renamed or removed since Gradio 3: {class name: {old: new or None (dropped)}}.
RENAMED_KWARGS: dict[str, dict[str, str | None]] = {
    "Image": {"source": "sources", "tool": None, "shape": None, "brush_radius": None, "brush_color": None},
    "Gallery": {"grid": "columns"},
    "Textbox": {"show_copy_button": "buttons"},
    "Code": {"show_copy_button": None},
    "Video": {"source": "sources"},
    "Audio": {"source": "sources"},
    "Dataframe": {"overflow_row_behaviour": None, "max_rows": None, "max_cols": None},
}

# ``.style(**kwargs)`` keywords to constructor attributes (None: Gradio 3 look-only keyword, ignored).
STYLE_KWARGS: dict[str, str | None] = {
    "container": "container",
    "equal_height": "equal_height",
    "grid": "columns",
    "columns": "columns",
    "rows": "rows",
    "height": "height",
    "width": "width",
    "preview": "preview",
    "object_fit": "object_fit",
    "size": "size",
    "full_width": None,
    "rounded": None,
    "border": None,
    "margin": None,
    "mobile_collapse": None,
}


@contextlib.contextmanager
def gradio3_shims() -> Iterator[None]:
    """Accept Gradio 3 spellings inside the block; nesting and concurrent use are counted."""
    global _depth
    with _lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _uninstall()


def active() -> bool:
    return _depth > 0


# --- pure translations (tested directly) -----------------------------------------------------------------
def translate_kwargs(class_name: str, kwargs: dict[str, Any], accepted: set[str] | None) -> dict[str, Any]:
    """Gradio 3 constructor keywords of ``class_name`` rewritten for the current constructor.

    ``accepted``: the keywords the current constructor takes (None: it takes ``**kwargs``, keep everything).
    """
    out = dict(kwargs)
    for old, new in RENAMED_KWARGS.get(class_name, {}).items():
        if old not in out:
            continue
        value = out.pop(old)
        if new is None or new in out:
            continue
        if new == "sources":
            value = [value] if isinstance(value, str) else value
        elif new == "buttons":
            if not value:
                continue
            value = ["copy"]
        out[new] = value
    if class_name == "Button" and out.get("variant") == "tool":
        out["variant"] = "secondary"
        classes = out.get("elem_classes") or []
        out["elem_classes"] = [*([classes] if isinstance(classes, str) else classes), "tool"]
    if out.get("visible") is False and (accepted is None or "visible" in accepted):
        out["visible"] = "hidden"  # Gradio 3 kept invisible components in the page; scripts look them up
    if "default" in out and "value" not in out and (accepted is None or "default" not in accepted):
        out["value"] = out.pop("default")
    if accepted is not None:
        for key in [k for k in out if k not in accepted]:
            log.debug("Gradio 3 keyword %s=%r of %s dropped", key, out[key], class_name)
            del out[key]
    return out


def style_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``.style(**kwargs)`` as attribute assignments; unknown and look-only keys are left out."""
    return {STYLE_KWARGS[k]: v for k, v in kwargs.items() if STYLE_KWARGS.get(k)}


# --- installation -----------------------------------------------------------------------------------------
def _all_block_classes() -> list[type]:
    seen: list[type] = []
    pending = [Block]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                pending.append(sub)
    return seen


def _set(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` and remember how to undo it."""
    had = name in vars(owner)
    old = vars(owner).get(name)
    setattr(owner, name, value)
    _restore.append(lambda: setattr(owner, name, old) if had else delattr(owner, name))


def _install() -> None:
    _set(gr, "Box", gr.Group)
    _set(gr, "inputs", _legacy_namespace("inputs"))
    _set(gr, "outputs", _legacy_namespace("outputs"))
    _set(gr, "on", _event_wrapper(gr.on, takes_block=True))  # on(triggers, fn, ...)
    _set(Block, "style", _style)
    _set(Block, "update", staticmethod(_update))
    original_dependency_init = Dependency.__init__

    @functools.wraps(original_dependency_init)
    def dependency_init(self, *args, **kwargs):
        original_dependency_init(self, *args, **kwargs)
        for name in ("then", "success", "failure"):
            if hasattr(self, name):
                setattr(self, name, _event_wrapper(getattr(self, name), takes_block=False))

    _set(Dependency, "__init__", dependency_init)
    for owner, name, value in _class_patches():
        _set(owner, name, value)


_wrapped: dict[tuple[type, str], tuple[Any, Any]] = {}  # (class, attribute) -> (original, shimmed); signatures are slow


def _class_patches() -> list[tuple[type, str, Any]]:
    """(class, attribute, shimmed value) for every Gradio block class, reusing wrappers of unchanged originals."""
    patches = []
    for cls in _all_block_classes():
        for name, value in list(vars(cls).items()):
            if name == "__init__" and not getattr(value, _SHIMMED, False):
                make = _init_wrapper
            elif inspect.isfunction(value) and value.__name__ == "event_trigger":
                make = _event_trigger_wrapper
            else:
                continue
            cached = _wrapped.get((cls, name))
            if cached is None or cached[0] is not value:
                cached = (value, make(cls, value))
                _wrapped[(cls, name)] = cached
            patches.append((cls, name, cached[1]))
    return patches


def _event_trigger_wrapper(cls: type, trigger: Callable[..., Any]) -> Callable[..., Any]:
    return _event_wrapper(trigger, takes_block=True)


def _uninstall() -> None:
    while _restore:
        _restore.pop()()


def _update(**kwargs: Any) -> dict[str, Any]:
    """Gradio 3's ``gr.Component.update(...)``: an update dict for an event's output."""
    return gr.update(**kwargs)


def _style(self: Block, **kwargs: Any) -> Block:
    for name, value in style_attributes(kwargs).items():
        if hasattr(self, name):
            setattr(self, name, value)
    return self


def _init_wrapper(cls: type, original: Callable[..., None]) -> Callable[..., None]:
    parameters = inspect.signature(original).parameters.values()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    accepted = None if takes_any else {p.name for p in parameters}

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        original(self, *args, **translate_kwargs(cls.__name__, kwargs, accepted))

    setattr(init, _SHIMMED, True)
    return init


def _event_wrapper(trigger: Callable[..., Any], *, takes_block: bool) -> Callable[..., Any]:
    """An event listener accepting ``_js=``; its handler runs with the shims on (it may call ``X.update``).

    ``takes_block``: the first positional argument is the block (or triggers) and ``fn`` the second.
    """

    @functools.wraps(trigger)
    def listener(*args, **kwargs):
        if "_js" in kwargs:
            js = kwargs.pop("_js")
            kwargs.setdefault("js", js)
        fn_index = 1 if takes_block else 0
        if "fn" in kwargs:
            kwargs["fn"] = _shimmed_handler(kwargs["fn"])
        elif len(args) > fn_index:
            args = (*args[:fn_index], _shimmed_handler(args[fn_index]), *args[fn_index + 1 :])
        return trigger(*args, **kwargs)

    return listener


def _shimmed_handler(fn: Any) -> Any:
    """``fn`` running inside ``gradio3_shims()``, of the same kind (sync, generator, async) and signature."""
    if not callable(fn) or isinstance(fn, str):
        return fn
    if inspect.isasyncgenfunction(fn):

        async def wrapper(*args, **kwargs):
            with gradio3_shims():
                async for item in fn(*args, **kwargs):
                    yield item
    elif inspect.iscoroutinefunction(fn):

        async def wrapper(*args, **kwargs):
            with gradio3_shims():
                return await fn(*args, **kwargs)
    elif inspect.isgeneratorfunction(fn):

        def wrapper(*args, **kwargs):
            with gradio3_shims():
                yield from fn(*args, **kwargs)
    else:

        def wrapper(*args, **kwargs):
            with gradio3_shims():
                return fn(*args, **kwargs)

    return functools.wraps(fn)(wrapper)


def _legacy_namespace(kind: str) -> types.SimpleNamespace:
    """``gr.inputs`` / ``gr.outputs`` of Gradio 2-3: the same components under their old homes."""
    names = ["Slider", "Textbox", "Checkbox", "CheckboxGroup", "Dropdown", "Radio", "Number", "Image", "File"]
    names += ["Audio", "Video", "Dataframe", "HTML", "JSON", "Label", "Gallery", "Chatbot"]
    return types.SimpleNamespace(**{name: getattr(gr, name) for name in names if hasattr(gr, name)}, kind=kind)
