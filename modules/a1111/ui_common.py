"""A1111's ``modules.ui_common``: small UI helpers extensions reuse (refresh button, text as HTML, saving)."""

from __future__ import annotations

import html
from typing import Any

from modules.a1111 import _resolve

refresh_symbol = "\U0001f504"  # 🔄
folder_symbol = "\U0001f4c2"  # 📂


def plaintext_to_html(text: str, classname: str | None = None) -> str:
    content = "<br>\n".join(html.escape(line) for line in (text or "").split("\n"))
    return f"<p class='{classname}'>{content}</p>" if classname else f"<p>{content}</p>"


def create_refresh_button(refresh_component: Any, refresh_method: Any, refreshed_args: Any, elem_id: str) -> Any:
    """A 🔄 button that calls ``refresh_method()`` and updates ``refresh_component`` with ``refreshed_args``."""
    import gradio as gr

    from modules.a1111.ui_components import ToolButton

    components = refresh_component if isinstance(refresh_component, list) else [refresh_component]

    def refresh() -> Any:
        refresh_method()
        args = refreshed_args() if callable(refreshed_args) else refreshed_args
        updates = [gr.update(**(args or {})) for _ in components]
        return updates if len(updates) > 1 else updates[0]

    button = ToolButton(value=refresh_symbol, elem_id=elem_id)
    button.click(fn=refresh, inputs=[], outputs=components)
    return button


def save_files(js_data: Any, images: Any, do_make_zip: bool, index: int) -> tuple[Any, ...]:
    """A1111's gallery "Save": copy the shown images into ``outputs/save``; (files, html)."""
    import shutil
    from pathlib import Path

    from modules.a1111.infotext_utils import image_from_url_text

    target = Path(_resolve.backend().paths.outputs) / "save"
    target.mkdir(parents=True, exist_ok=True)
    items = images if index is None or index < 0 else images[index : index + 1]
    saved = []
    for item in items or []:
        source = item.get("name") or item.get("path") if isinstance(item, dict) else None
        if source and Path(source).is_file():
            destination = target / Path(source).name
            shutil.copyfile(source, destination)
        else:
            image = image_from_url_text(item)
            destination = target / f"{len(list(target.iterdir())):05}.png"
            image.save(destination)
        saved.append(str(destination))
    return saved, plaintext_to_html(f"Saved: {', '.join(Path(s).name for s in saved)}")
