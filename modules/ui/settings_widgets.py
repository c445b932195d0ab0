"""Gradio widgets for registry options: one place that turns an ``OptionInfo`` into a component.

Used by the Settings tab and the quick settings in the top bar, so an option looks and behaves the same in
both places.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.settings.registry import OptionInfo


def option_component(option: OptionInfo, value: Any, interactive: bool = True, elem_prefix: str = "setting_"):
    """Create the component for ``option`` showing ``value``."""
    common = dict(label=option.label, info=option.info or None, elem_id=f"{elem_prefix}{option.key}",
                  interactive=interactive)
    kind = option.component
    if kind == "checkbox" or isinstance(option.default, bool):
        return gr.Checkbox(value=bool(value), **common)
    if kind == "slider":
        return gr.Slider(value=value, minimum=option.minimum if option.minimum is not None else 0,
                         maximum=option.maximum if option.maximum is not None else 100,
                         step=option.step or 1, **common)
    if kind == "number":
        return gr.Number(value=value, minimum=option.minimum, maximum=option.maximum,
                         precision=0 if isinstance(option.default, int) else None, **common)
    if kind in ("dropdown", "multiselect"):
        choices = option.choice_list()
        multiselect = kind == "multiselect" or isinstance(option.default, list)
        current = list(value or []) if multiselect else value
        allow_custom = True  # lists (models, languages) can change after the page was built
        return gr.Dropdown(choices=choices, value=current, multiselect=multiselect,
                           allow_custom_value=allow_custom, **common)
    if kind == "radio":
        return gr.Radio(choices=option.choice_list(), value=value, **common)
    return gr.Textbox(value="" if value is None else str(value), lines=1, **common)


def refreshed(option: OptionInfo, value: Any):
    """An update that brings a component to the current value and choice list."""
    if option.component in ("dropdown", "multiselect", "radio"):
        return gr.update(value=value, choices=option.choice_list())
    return gr.update(value=value)
