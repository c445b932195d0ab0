"""The result side of a generating tab: progress, live preview, gallery, infotext and the buttons under it.

The images of the last result stay on the server in a ``gr.State`` (``ShownResult``), so Save and the
send-to buttons use the original images and infotexts, not the re-encoded copies the browser shows.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from typing import Any

import gradio as gr

from modules.ui import zip_output
from modules.ui.common import (
    FOLDER_SYMBOL,
    SAVE_SYMBOL,
    SEND_EXTRAS_SYMBOL,
    SEND_IMG2IMG_SYMBOL,
    SEND_INPAINT_SYMBOL,
    describe_error,
    error_html,
    info_html,
    is_local_request,
    text_html,
    tool_button,
)
from modules.ui.context import UiContext
from modules.ui.save_log import open_folder, output_folder, save_to_log

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ShownResult:
    """What the gallery shows, with what Save / send-to / ♻ need."""

    images: list[Any]
    infotexts: list[str]
    index_of_first_image: int = 0
    seeds: list[int] = dataclasses.field(default_factory=list)
    subseeds: list[int] = dataclasses.field(default_factory=list)

    @classmethod
    def from_processed(cls, processed: Any) -> ShownResult:
        return cls(
            list(processed.images),
            list(processed.infotexts),
            int(processed.index_of_first_image),
            list(processed.all_seeds),
            list(processed.all_subseeds),
        )

    def infotext(self, index: int | None) -> str:
        if not self.infotexts:
            return ""
        if index is None or index < 0:
            index = self.index_of_first_image
        return self.infotexts[min(index, len(self.infotexts) - 1)]

    def image(self, index: int | None) -> Any:
        if not self.images:
            return None
        if index is None or index < 0 or index >= len(self.images):
            index = min(self.index_of_first_image, len(self.images) - 1)
        return self.images[index]

    def seed_at(self, index: int | None, subseed: bool = False) -> int | None:
        seeds = self.subseeds if subseed else self.seeds
        if not seeds:
            return None
        shown = index if index is not None and index >= 0 else self.index_of_first_image
        position = shown - self.index_of_first_image
        return seeds[position] if 0 <= position < len(seeds) else seeds[0]


@dataclasses.dataclass
class OutputPanel:
    tab: str
    progress: gr.HTML
    preview: gr.Image
    gallery: gr.Gallery
    result: gr.State
    selected: gr.State
    job_id: gr.State
    open_folder: gr.Button
    save: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button
    send_extras: gr.Button
    download: gr.File
    html_info: gr.HTML
    html_log: gr.HTML
    message: gr.HTML


def gallery_value(result: ShownResult) -> list[tuple[Any, str | None]]:
    return [(image, None) for image in result.images]


def build(ctx: UiContext, tab: str, send_buttons: bool = True) -> OutputPanel:
    with gr.Column(elem_id=f"{tab}_results", elem_classes=["results"]):
        progress = gr.HTML(elem_id=f"{tab}_progress", elem_classes=["progress-box"], padding=False)
        preview = gr.Image(
            label="Preview",
            elem_id=f"{tab}_live_preview",
            visible=False,
            interactive=False,
            type="pil",
            show_label=False,
            height=420,
        )
        gallery = gr.Gallery(
            label="Output",
            show_label=False,
            elem_id=f"{tab}_gallery",
            columns=4,
            height=520,
            object_fit="contain",
            format="png",
            interactive=False,
            preview=True,
        )
        with gr.Row(elem_id=f"image_buttons_{tab}", elem_classes=["image-buttons"]):
            folder_button = tool_button(FOLDER_SYMBOL, f"{tab}_open_folder")
            save_button = tool_button(SAVE_SYMBOL, f"save_{tab}")
            zip_button = zip_output.build(tab)
            send_img2img = tool_button(SEND_IMG2IMG_SYMBOL, f"{tab}_send_to_img2img", visible=send_buttons)
            send_inpaint = tool_button(SEND_INPAINT_SYMBOL, f"{tab}_send_to_inpaint", visible=send_buttons)
            send_extras = tool_button(SEND_EXTRAS_SYMBOL, f"{tab}_send_to_extras", visible=send_buttons)
        download = gr.File(
            label="Download", visible=False, elem_id=f"download_files_{tab}", interactive=False, file_count="multiple"
        )
        html_info = gr.HTML(elem_id=f"html_info_{tab}", elem_classes=["infotext"])
        html_log = gr.HTML(elem_id=f"html_log_{tab}", elem_classes=["html-log"])
        message = gr.HTML(elem_id=f"{tab}_message", elem_classes=["message"])
    panel = OutputPanel(
        tab,
        progress,
        preview,
        gallery,
        gr.State(None),
        gr.State(None),
        gr.State(None),
        folder_button,
        save_button,
        send_img2img,
        send_inpaint,
        send_extras,
        download,
        html_info,
        html_log,
        message,
    )
    _wire(ctx, panel)
    zip_output.wire(ctx.backend, zip_button, panel.result, panel.download, panel.message)
    return panel


def _wire(ctx: UiContext, panel: OutputPanel) -> None:
    backend = ctx.backend

    def on_select(result: ShownResult | None, event: gr.SelectData):
        index = event.index if isinstance(event.index, int) else None
        return index, text_html(result.infotext(index)) if result else ""

    panel.gallery.select(
        on_select, panel.result, [panel.selected, panel.html_info], show_progress="hidden", concurrency_limit=None
    )

    def open_output_folder(request: gr.Request):
        folder = output_folder(backend, panel.tab)
        if not is_local_request(request):
            return info_html(f"Images are saved in {folder} on the server.")
        problem = open_folder(folder)
        return info_html(problem or f"Opened {folder}")

    panel.open_folder.click(open_output_folder, None, panel.message, show_progress="hidden", concurrency_limit=None)

    def save(result: ShownResult | None, selected: int | None):
        if result is None or not result.images:
            return gr.update(visible=False), error_html("Nothing to save: generate an image first.")
        indices = (
            [selected]
            if selected is not None and 0 <= selected < len(result.images)
            else list(range(len(result.images)))
        )
        try:
            paths = save_to_log(
                backend, result.images, result.infotexts, result.seeds, result.index_of_first_image, indices
            )
        except OSError as error:
            return gr.update(visible=False), error_html(f"Could not save: {describe_error(error)}")
        names = ", ".join(html.escape(path.name) for path in paths)
        return gr.update(value=[str(path) for path in paths], visible=True), f'<div class="info">Saved: {names}</div>'

    panel.save.click(save, [panel.result, panel.selected], [panel.download, panel.message], show_progress="hidden")

    def selected_image(result: ShownResult | None, selected: int | None):
        if result is None or not result.images:
            return None, ""
        index = selected if selected is not None and 0 <= selected < len(result.images) else None
        return result.image(index), result.infotext(index)

    for button, target in (
        (panel.send_img2img, "img2img"),
        (panel.send_inpaint, "inpaint"),
        (panel.send_extras, "extras"),
    ):
        ctx.add_send_button(button, target, [panel.result, panel.selected], selected_image)


def shown_updates(panel: OutputPanel, result: ShownResult, log_text: str = "") -> dict[Any, Any]:
    """The updates that display ``result`` in ``panel``."""
    return {
        panel.gallery: gr.update(value=gallery_value(result), selected_index=None),
        panel.result: result,
        panel.selected: None,
        panel.html_info: text_html(result.infotext(None)),
        panel.html_log: text_html(log_text),
        panel.download: gr.update(visible=False, value=None),
    }
