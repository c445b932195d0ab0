"""Assembles the Gradio page: top bar, then one tab per module (``modules/ui/tab_*.py``)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import gradio as gr

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclasses.dataclass(frozen=True)
class PageAssets:
    css: str
    js: str
    head: str
    theme: object


def page_assets(backend) -> PageAssets:
    """CSS and scripts for the page."""
    css_parts = [(STATIC_DIR / "style.css").read_text(encoding="utf-8")]
    head_parts = ['<script src="/webui/localization.js"></script>']
    head_parts += [f"<script>{path.read_text(encoding='utf-8')}</script>" for path in sorted(STATIC_DIR.glob("*.js"))]
    return PageAssets(css="\n".join(css_parts), js="", head="\n".join(head_parts), theme=gr.themes.Default())


def build_ui(backend) -> gr.Blocks:
    from modules.ui import tab_settings, tab_txt2img, topbar

    with gr.Blocks(title="Stable Diffusion", analytics_enabled=False) as demo:
        topbar.build(backend, demo)
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                tab_txt2img.build(backend, demo)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                tab_settings.build(backend, demo)
    return demo
