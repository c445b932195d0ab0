"""Assembles the Gradio page: top bar, then one tab per module (``modules/ui/tab_*.py``).

Tabs that reach into each other (send-to buttons, PNG Info) register on a shared ``UiContext``; the links
are wired after every tab exists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclasses.dataclass(frozen=True)
class PageAssets:
    css: str
    js: str
    head: str
    theme: object


def page_assets(backend: Backend) -> PageAssets:
    """CSS and scripts for the page."""
    css_parts = [(STATIC_DIR / "style.css").read_text(encoding="utf-8")]
    head_parts = ['<script src="/webui/localization.js"></script>']
    head_parts += [f"<script>{path.read_text(encoding='utf-8')}</script>" for path in sorted(STATIC_DIR.glob("*.js"))]
    extensions = backend.extensions
    if extensions is not None:  # extensions' style.css and javascript/*.js, after ours
        css_parts.append(extensions.page_css())
        head_parts.append(extensions.page_head())
    return PageAssets(css="\n".join(css_parts), js="", head="\n".join(head_parts), theme=gr.themes.Default())


def build_ui(backend: Backend) -> gr.Blocks:
    extensions = backend.extensions
    page_build = extensions.page_build() if extensions is not None else contextlib.nullcontext()
    with page_build:  # extensions: on_before_ui, then A1111's component events while the page is built
        return _build_page(backend)


def _build_page(backend: Backend) -> gr.Blocks:
    from modules.ui import (
        tab_extensions,
        tab_extras,
        tab_img2img,
        tab_merger,
        tab_pnginfo,
        tab_settings,
        tab_txt2img,
        topbar,
    )
    from modules.ui.context import UiContext
    from modules.ui.paste import wire_send_buttons
    from modules.ui.ui_config import apply_ui_config

    ctx = UiContext(backend)
    extensions = backend.extensions
    # on_ui_tabs callbacks build their Blocks outside ours; they are rendered into tabs below
    extension_tabs = extensions.ui_tabs() if extensions is not None else []
    with gr.Blocks(title="Stable Diffusion", analytics_enabled=False) as demo:
        quicksettings = topbar.build(backend, demo)
        with gr.Tabs(elem_id="tabs") as tabs:
            ctx.tabs = tabs
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                tab_txt2img.build(ctx, demo)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                tab_img2img.build(ctx, demo)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                tab_extras.build(ctx, demo)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                tab_pnginfo.build(ctx, demo)
            with gr.Tab("Checkpoint Merger", id="modelmerger", elem_id="tab_modelmerger"):
                tab_merger.build(ctx, demo)
            for blocks, title, tab_id in extension_tabs:
                with gr.Tab(title, id=tab_id, elem_id=f"tab_{tab_id}"):
                    blocks.render()
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                tab_extensions.build_extensions_tab(backend)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                tab_settings.build(backend, demo, skip_keys=set(quicksettings))
        wire_send_buttons(ctx)
    apply_ui_config(demo, backend.paths.ui_config_file)
    return demo
