"""PNG Info tab: drop an image, read its generation parameters, send them to txt2img / img2img / inpaint /
extras."""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr
from PIL import Image

from modules.processing.infotext import MAX_INFOTEXT_CHARS
from modules.ui.common import text_html
from modules.ui.context import UiContext

log = logging.getLogger(__name__)


def open_image(path: str | None) -> Image.Image | None:
    """The uploaded file exactly as stored (the browser's copy keeps every metadata chunk)."""
    if not path:
        return None
    with Image.open(path) as opened:
        opened.load()
        return opened.copy()


def info_html(path: str | None) -> tuple[str, str]:
    """(HTML of the parameters and other text chunks, the raw infotext) for an uploaded image file."""
    image = open_image(path)
    if image is None:
        return "", ""
    from modules.images.metadata import read_infotext

    infotext, items = read_infotext(image)
    parts = []
    if infotext and len(infotext) > MAX_INFOTEXT_CHARS:  # shown cut short, and not sent on to other tabs
        note = f"The parameters text is {len(infotext)} characters long; only the first {MAX_INFOTEXT_CHARS} are shown."
        parts.append(f'<div class="error">{html.escape(note)}</div>')
        infotext_shown, infotext = infotext[:MAX_INFOTEXT_CHARS], ""
        parts.append(f'<div class="infotext-block"><p><b>parameters</b></p>{text_html(infotext_shown)}</div>')
    if infotext:
        parts.append(f'<div class="infotext-block"><p><b>parameters</b></p>{text_html(infotext)}</div>')
    for key, value in items.items():
        if isinstance(value, bytes) or not isinstance(value, (str, int, float)):
            continue
        value = str(value)[:MAX_INFOTEXT_CHARS]
        parts.append(f'<div class="infotext-block"><p><b>{html.escape(str(key))}</b></p>{text_html(value)}</div>')
    if not parts:
        parts.append('<div class="error">Nothing found in the image.</div>')
    return "\n".join(parts), infotext or ""


def build(ctx: UiContext, demo: gr.Blocks) -> None:
    with gr.Row(equal_height=False, elem_id="pnginfo_row"):
        with gr.Column(variant="panel"):
            image = gr.Image(
                label="Source",
                elem_id="pnginfo_image",
                sources=["upload", "clipboard"],
                type="filepath",
                image_mode=None,
                height=480,
            )
        with gr.Column(variant="panel"):
            html_info = gr.HTML(elem_id="pnginfo_html_info")
            generation_info = gr.Textbox(visible=False, elem_id="pnginfo_generation_info")
            with gr.Row(elem_id="pnginfo_send_buttons"):
                buttons = {
                    "txt2img": gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img"),
                    "img2img": gr.Button("Send to img2img", elem_id="pnginfo_send_img2img"),
                    "inpaint": gr.Button("Send to inpaint", elem_id="pnginfo_send_inpaint"),
                    "extras": gr.Button("Send to extras", elem_id="pnginfo_send_extras"),
                }

    image.change(info_html, image, [html_info, generation_info], show_progress="hidden")

    def current(path: str | None, infotext: str) -> tuple[Any, str]:
        return open_image(path), infotext or ""

    for target, button in buttons.items():
        ctx.add_send_button(button, target, [image, generation_info], current)
