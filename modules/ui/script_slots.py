"""The "Script" dropdown and the always-on script panels of txt2img / img2img.

The UI does not know any script; it asks the extension system, found as ``backend.scripts``,
through the small ``ScriptProvider`` protocol below. Without that service only "None" is offered.
``ScriptControls.to_params`` turns the widget values into the ``GenerationParams`` script fields.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import gradio as gr

from modules.processing.params import ScriptArgs

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

NONE = "None"


@runtime_checkable
class ScriptProvider(Protocol):
    """What the extension system offers the UI (every method optional; missing ones mean "nothing")."""

    def selectable_titles(self, is_img2img: bool) -> list[str]:
        """Titles for the Script dropdown."""
        ...

    def build_selectable_ui(self, title: str, is_img2img: bool) -> list[Any]:
        """Create the selectable script's components (inside the current Blocks context); return its inputs."""
        ...

    def build_alwayson_ui(self, is_img2img: bool) -> list[tuple[str, list[Any]]]:
        """Create every always-on script's panel; return (title, inputs) pairs in order."""
        ...


@dataclasses.dataclass
class ScriptControls:
    dropdown: gr.Dropdown
    selectable: dict[str, list[Any]]  # title -> its input components
    alwayson: list[tuple[str, list[Any]]]
    groups: dict[str, Any]  # title -> the group shown while that script is selected

    def inputs(self) -> list[Any]:
        components = [self.dropdown]
        for inputs in self.selectable.values():
            components += inputs
        for _, inputs in self.alwayson:
            components += inputs
        return components

    def to_params(self, values: dict[Any, Any]) -> tuple[str | None, tuple[Any, ...], tuple[ScriptArgs, ...]]:
        """(script_name, script_args, alwayson_scripts) for ``GenerationParams`` from {component: value}."""
        title = values.get(self.dropdown) or NONE
        script_name = None if title == NONE else title
        script_args = tuple(values.get(c) for c in self.selectable.get(title, [])) if script_name else ()
        alwayson = tuple(ScriptArgs(name, tuple(values.get(c) for c in inputs)) for name, inputs in self.alwayson)
        return script_name, script_args, alwayson


def build_script_controls(backend: Backend, is_img2img: bool) -> ScriptControls:
    """The Script dropdown with each selectable script's panel (shown while selected) and always-on panels."""
    provider = backend.scripts
    tab = "img2img" if is_img2img else "txt2img"
    titles = _call(provider, "selectable_titles", [], is_img2img)
    dropdown = gr.Dropdown(label="Script", choices=[NONE, *titles], value=NONE, elem_id=f"{tab}_script_list")
    selectable: dict[str, list[Any]] = {}
    groups: dict[str, Any] = {}
    for title in titles:
        with gr.Group(visible=False, elem_id=f"{tab}_script_{_slug(title)}") as group:
            selectable[title] = list(_call(provider, "build_selectable_ui", [], title, is_img2img) or [])
        groups[title] = group
    alwayson = list(_call(provider, "build_alwayson_ui", [], is_img2img) or [])
    if groups:
        ordered = list(groups)
        dropdown.change(
            lambda chosen: [gr.update(visible=title == chosen) for title in ordered],
            dropdown,
            [groups[title] for title in ordered],
            show_progress="hidden",
            queue=False,
        )
    return ScriptControls(dropdown, selectable, alwayson, groups)


def _call(provider: Any, method: str, default: Any, *args: Any) -> Any:
    function = getattr(provider, method, None) if provider is not None else None
    if function is None:
        return default
    try:
        return function(*args)
    except Exception:  # a broken extension must not take the page down
        log.exception("Script provider %s.%s failed", type(provider).__name__, method)
        return default


def _slug(title: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in title.lower()).strip("_")
