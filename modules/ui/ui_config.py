"""UI defaults from ``ui-config.json`` (``--ui-config-file``), in A1111's format.

Keys are ``<tab>/<label>/<field>`` (``txt2img/Sampling steps/value``, ``img2img/Denoising strength/maximum``…)
for the labelled input components of the txt2img and img2img tabs. At start-up the stored values become the
components' defaults; keys missing from the file are added with the current defaults, so the file lists
everything a user can change. A file that cannot be read is left alone and ignored (logged).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from modules.settings.store import write_json_atomic

log = logging.getLogger(__name__)

TABS = ("txt2img", "img2img")
FIELDS = {
    gr.Slider: ("value", "minimum", "maximum", "step", "visible"),
    gr.Number: ("value", "visible"),
    gr.Checkbox: ("value", "visible"),
    gr.Textbox: ("value", "visible"),
    gr.Radio: ("value", "visible"),
    gr.Dropdown: ("value", "visible"),
}


def _fields(component: Any) -> tuple[str, ...]:
    for kind, fields in FIELDS.items():
        if isinstance(component, kind):
            return fields
    return ()


def _keyed_components(demo: gr.Blocks) -> dict[str, Any]:
    """``<tab>/<label>`` → component, for labelled inputs whose elem_id starts with a tab name."""
    found: dict[str, Any] = {}
    for component in demo.blocks.values():
        elem_id = getattr(component, "elem_id", None) or ""
        label = getattr(component, "label", None)
        if not label or not isinstance(label, str) or not _fields(component):
            continue
        tab = next((name for name in TABS if elem_id.startswith(name + "_")), None)
        if tab is not None:
            found.setdefault(f"{tab}/{label}", component)
    return found


def apply_ui_config(demo: gr.Blocks, path: Path) -> int:
    """Apply stored defaults to ``demo`` (before it is mounted); returns how many values were applied."""
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            log.warning("UI defaults file %s could not be read (%s); it is ignored", path, error)
            return 0
    applied = 0
    missing: dict[str, Any] = {}
    for prefix, component in _keyed_components(demo).items():
        for field in _fields(component):
            key = f"{prefix}/{field}"
            if key in stored:
                if stored[key] != getattr(component, field, None):
                    setattr(component, field, stored[key])
                    applied += 1
            else:
                value = getattr(component, field, None)
                if isinstance(value, (str, int, float, bool, list)) or value is None:
                    missing[key] = value
    if missing:
        try:
            write_json_atomic(path, {**stored, **missing})
        except OSError as error:
            log.warning("UI defaults file %s could not be written: %s", path, error)
    return applied
