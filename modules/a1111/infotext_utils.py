"""A1111's ``modules.infotext_utils`` (alias ``generation_parameters_copypaste``): reading infotexts, send-to buttons.

``parse_generation_parameters`` is the program's infotext parser. The send-to buttons of extensions
(``register_paste_params_button``) are recorded per Backend; the page's own Send to buttons are built in.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from modules.a1111 import _resolve


def parse_generation_parameters(x: str, skip_fields: list[str] | None = None) -> dict[str, Any]:
    from modules.processing.infotext import parse_infotext

    return parse_infotext(x, skip_fields=skip_fields or ())


class ParamBinding:
    def __init__(
        self,
        paste_button: Any,
        tabname: str,
        source_text_component: Any = None,
        source_image_component: Any = None,
        source_tabname: str | None = None,
        override_settings_component: Any = None,
        paste_field_names: list[str] | None = None,
    ) -> None:
        self.paste_button = paste_button
        self.tabname = tabname
        self.source_text_component = source_text_component
        self.source_image_component = source_image_component
        self.source_tabname = source_tabname
        self.override_settings_component = override_settings_component
        self.paste_field_names = paste_field_names or []


def register_paste_params_button(binding: ParamBinding) -> None:
    _resolve.backend().offers.paste_bindings.append(binding)


def create_buttons(tabs_list: list[str]) -> dict[str, Any]:
    import gradio as gr

    return {tab: gr.Button(f"Send to {tab}", elem_id=f"{tab}_tab") for tab in tabs_list}


def bind_buttons(buttons: dict[str, Any], send_image: Any, send_generate_info: Any) -> None:
    for tabname, button in buttons.items():
        register_paste_params_button(ParamBinding(button, tabname, send_generate_info, send_image))


def image_from_url_text(filedata: Any) -> Any:
    """A gallery entry, file dict or data URL as a PIL image (None when empty)."""
    from PIL import Image

    if filedata is None:
        return None
    if isinstance(filedata, list):
        filedata = filedata[0] if filedata else None
        if filedata is None:
            return None
    if isinstance(filedata, dict):
        filedata = filedata.get("path") or filedata.get("name") or filedata.get("url")
    if isinstance(filedata, (tuple, list)):
        filedata = filedata[0]
    if hasattr(filedata, "size") and hasattr(filedata, "mode"):
        return filedata
    text = str(filedata)
    if text.startswith("data:image/"):
        return Image.open(io.BytesIO(base64.b64decode(text.split(",", 1)[1])))
    return Image.open(text)


paste_fields: dict[str, Any] = {}
