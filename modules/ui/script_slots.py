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
from modules.ui.context import PasteField

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

    def build_alwayson_ui(self, is_img2img: bool, section: str | None = None) -> list[tuple[str, list[Any]]]:
        """Create the always-on panels of ``section`` (None: the general place); return (title, inputs) pairs."""
        ...

    def infotext_fields(self, is_img2img: bool) -> list[tuple[Any, Any]]:
        """(component, infotext key or ``fn(params)``) pairs of the built panels."""
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


def build_section_panels(backend: Backend, is_img2img: bool, section: str) -> list[tuple[str, list[Any]]]:
    """The always-on panels of one placed section (img2img's "inpaint"), built where the caller is."""
    return list(_call(backend.scripts, "build_alwayson_ui", [], is_img2img, section) or [])


def script_paste_fields(backend: Backend, is_img2img: bool) -> list[PasteField]:
    """Paste fields for the script panels' ``infotext_fields``; a checkbox gets a bool, a slider a number."""
    pairs = _call(backend.scripts, "infotext_fields", [], is_img2img) or []
    return [PasteField(component, _paste_source(component, key)) for component, key in pairs]


def _paste_source(component: Any, key: Any):
    if callable(key):
        return key

    def source(params: dict[str, Any]) -> Any:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(component, gr.Checkbox):
            return str(value).strip().lower() in ("true", "1", "yes")
        if isinstance(component, (gr.Slider, gr.Number)):
            return float(value)
        return value

    return source


def build_script_controls(
    backend: Backend, is_img2img: bool, placed: list[tuple[str, list[Any]]] | None = None
) -> ScriptControls:
    """The Script dropdown with each selectable script's panel (shown while selected) and always-on panels;
    ``placed`` are the panels of placed sections built elsewhere on the tab (see ``build_section_panels``)."""
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
    alwayson = list(_call(provider, "build_alwayson_ui", [], is_img2img) or []) + list(placed or [])
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
