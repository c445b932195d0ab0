"""Gradio widgets for registry options: one place that turns an ``OptionInfo`` into a component.

Used by the Settings tab and the quick settings in the top bar, so an option looks and behaves the same in
both places.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.settings.registry import OptionInfo

if TYPE_CHECKING:
    from modules.app import Backend

CHOICE_KINDS = ("dropdown", "multiselect", "radio")


def option_choices(option: OptionInfo, backend: Backend | None = None) -> list[Any]:
    """The option's current choice list; model lists come from the model manager when not bound yet."""
    choices = option.choice_list()
    if choices or backend is None or backend.models is None:
        return choices
    models = backend.models
    if option.key == "sd_model_checkpoint":
        return [info.title for info in models.checkpoints()]
    if option.key == "sd_vae":
        return ["Automatic", "None"] + [info.name for info in models.vaes()]
    return choices


def _with_value(choices: list[Any], value: Any) -> list[Any]:
    """Keep a stored value selectable even when it is not (or not yet) in the list."""
    if value in (None, "") or isinstance(value, list) or value in choices:
        return choices
    plain = [c[1] if isinstance(c, tuple) else c for c in choices]
    return choices if value in plain else [*choices, value]


def option_component(
    option: OptionInfo,
    value: Any,
    interactive: bool = True,
    elem_prefix: str = "setting_",
    backend: Backend | None = None,
    **extra: Any,
):
    """Create the component for ``option`` showing ``value``."""
    common = {
        "label": option.label,
        "info": option.info or None,
        "elem_id": f"{elem_prefix}{option.key}",
        "interactive": interactive,
    }
    common.update(extra)
    kind = option.component
    if kind == "checkbox" or isinstance(option.default, bool):
        return gr.Checkbox(value=bool(value), **common)
    if kind == "slider":
        return gr.Slider(
            value=value,
            minimum=option.minimum if option.minimum is not None else 0,
            maximum=option.maximum if option.maximum is not None else 100,
            step=option.step or 1,
            **common,
        )
    if kind == "number":
        return gr.Number(
            value=value,
            minimum=option.minimum,
            maximum=option.maximum,
            precision=0 if isinstance(option.default, int) else None,
            **common,
        )
    if kind in ("dropdown", "multiselect"):
        multiselect = kind == "multiselect" or isinstance(option.default, list)
        current = list(value or []) if multiselect else value
        choices = _with_value(option_choices(option, backend), current)
        # lists (models, languages) can change after the page was built, so stored values stay allowed
        return gr.Dropdown(choices=choices, value=current, multiselect=multiselect, allow_custom_value=True, **common)
    if kind == "radio":
        return gr.Radio(choices=option.choice_list(), value=value, **common)
    text = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    return gr.Textbox(value=text, lines=1, **common)


def refreshed(option: OptionInfo, value: Any, backend: Backend | None = None):
    """An update that brings a component to the current value and choice list."""
    if option.component in CHOICE_KINDS:
        choices = option_choices(option, backend) if option.component != "radio" else option.choice_list()
        return gr.update(value=value, choices=_with_value(choices, value))
    if option.component == "textbox" and not isinstance(value, str):
        value = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    return gr.update(value=value)
