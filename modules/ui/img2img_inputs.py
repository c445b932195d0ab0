"""The image inputs of the img2img tab's modes, and how each mode turns them into (init image, mask).

Modes (A1111's sub-tabs): img2img, Sketch, Inpaint, Inpaint sketch, Inpaint upload, Batch. The editors give
``{"background", "layers", "composite"}``; the conversion to an init image and a white-means-repaint mask
happens here, with the pure helpers of ``modules.images.ops``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageChops

from modules.processing.img2img_batch import IMAGE_SUFFIXES  # noqa: F401  (also read by the Extras tab)

MODES = {  # mode id -> tab label
    "img2img": "img2img",
    "sketch": "Sketch",
    "inpaint": "Inpaint",
    "inpaint_sketch": "Inpaint sketch",
    "inpaint_upload": "Inpaint upload",
    "batch": "Batch",
}
INPAINT_MODES = ("inpaint", "inpaint_sketch", "inpaint_upload")


class MissingInput(ValueError):
    """The chosen mode lacks its image or mask; the message tells the user what to add."""


@dataclasses.dataclass
class ModeInputs:
    tabs: gr.Tabs
    mode: gr.Textbox
    image: gr.Image  # img2img
    sketch: gr.ImageEditor
    inpaint: gr.ImageMask
    inpaint_sketch: gr.ImageEditor
    upload_image: gr.Image
    upload_mask: gr.Image
    batch_files: gr.File
    batch_input_dir: gr.Textbox
    batch_output_dir: gr.Textbox
    batch_mask_dir: gr.Textbox
    batch_source: gr.State

    def image_inputs(self) -> list[Any]:
        return [
            self.mode,
            self.image,
            self.sketch,
            self.inpaint,
            self.inpaint_sketch,
            self.upload_image,
            self.upload_mask,
        ]

    def batch_inputs(self) -> list[Any]:
        return [self.batch_files, self.batch_input_dir, self.batch_output_dir, self.batch_mask_dir, self.batch_source]


def tab_id(mode: str) -> str:
    return f"img2img_{mode}_tab"


def build() -> ModeInputs:
    # a DOM-hidden textbox, not a State: its change event also fires when a send-to button sets the mode
    mode = gr.Textbox("img2img", visible="hidden", elem_id="img2img_mode", interactive=False)
    editor_size = {"height": 480}
    with gr.Tabs(elem_id="mode_img2img") as tabs:
        with gr.Tab("img2img", id=tab_id("img2img"), elem_id="img2img_img2img_tab") as tab_img2img:
            image = gr.Image(
                label="Image for img2img",
                elem_id="img2img_image",
                type="pil",
                image_mode="RGBA",
                sources=["upload", "clipboard"],
                **editor_size,
            )
        with gr.Tab("Sketch", id=tab_id("sketch"), elem_id="img2img_img2img_sketch_tab") as tab_sketch:
            sketch = gr.ImageEditor(
                label="Image for img2img",
                elem_id="img2img_sketch",
                type="pil",
                image_mode="RGB",
                sources=["upload", "clipboard"],
                brush=gr.Brush(color_mode="defaults"),
                **editor_size,
            )
        with gr.Tab("Inpaint", id=tab_id("inpaint"), elem_id="img2img_inpaint_tab") as tab_inpaint:
            inpaint = gr.ImageMask(
                label="Image for inpainting with mask",
                elem_id="img2maskimg",
                type="pil",
                image_mode="RGBA",
                sources=["upload", "clipboard"],
                brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
                **editor_size,
            )
        with gr.Tab("Inpaint sketch", id=tab_id("inpaint_sketch"), elem_id="img2img_inpaint_sketch_tab") as tab_isketch:
            inpaint_sketch = gr.ImageEditor(
                label="Color sketch inpainting",
                elem_id="inpaint_sketch",
                type="pil",
                image_mode="RGB",
                sources=["upload", "clipboard"],
                brush=gr.Brush(color_mode="defaults"),
                **editor_size,
            )
        with gr.Tab("Inpaint upload", id=tab_id("inpaint_upload"), elem_id="img2img_inpaint_upload_tab") as tab_upload:
            with gr.Row():
                upload_image = gr.Image(
                    label="Image for img2img",
                    elem_id="img_inpaint_base",
                    type="pil",
                    image_mode="RGBA",
                    sources=["upload", "clipboard"],
                    **editor_size,
                )
                upload_mask = gr.Image(
                    label="Mask",
                    elem_id="img_inpaint_mask",
                    type="pil",
                    image_mode="RGBA",
                    sources=["upload", "clipboard"],
                    **editor_size,
                )
        with gr.Tab("Batch", id=tab_id("batch"), elem_id="img2img_batch_tab") as tab_batch:
            batch_source = gr.State("upload")
            with gr.Tabs(elem_id="img2img_batch_source"):
                with gr.Tab("Upload", id="img2img_batch_upload_tab", elem_id="img2img_batch_upload_tab") as tab_files:
                    batch_files = gr.File(
                        label="Files", file_count="multiple", file_types=["image"], elem_id="img2img_batch_upload"
                    )
                with gr.Tab(
                    "From directory", id="img2img_batch_directory_tab", elem_id="img2img_batch_directory_tab"
                ) as tab_dir:
                    gr.HTML(
                        '<p class="hint">Process images in a directory on the same machine where the server '
                        "is running. Use an empty output directory to save pictures normally instead of "
                        "writing to the output directory. Add inpaint batch mask directory to enable inpaint "
                        "batch processing.</p>"
                    )
                    batch_input_dir = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir")
                    batch_mask_dir = gr.Textbox(
                        label="Inpaint batch mask directory (required for inpaint batch processing only)",
                        elem_id="img2img_batch_inpaint_mask_dir",
                    )
            batch_output_dir = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir")
            tab_files.select(lambda: "upload", None, batch_source, queue=False, show_progress="hidden")
            tab_dir.select(lambda: "directory", None, batch_source, queue=False, show_progress="hidden")
    for name, tab in (
        ("img2img", tab_img2img),
        ("sketch", tab_sketch),
        ("inpaint", tab_inpaint),
        ("inpaint_sketch", tab_isketch),
        ("inpaint_upload", tab_upload),
        ("batch", tab_batch),
    ):
        tab.select(lambda name=name: name, None, mode, queue=False, show_progress="hidden")
    return ModeInputs(
        tabs,
        mode,
        image,
        sketch,
        inpaint,
        inpaint_sketch,
        upload_image,
        upload_mask,
        batch_files,
        batch_input_dir,
        batch_output_dir,
        batch_mask_dir,
        batch_source,
    )


def _layers_mask(editor: dict[str, Any]) -> Image.Image | None:
    """White where any layer of the editor was painted (alpha > 0); None when nothing was painted."""
    background = editor.get("background")
    layers = [layer for layer in editor.get("layers") or [] if layer is not None]
    if background is None or not layers:
        return None
    mask = Image.new("L", background.size, 0)
    for layer in layers:
        alpha = layer.convert("RGBA").getchannel("A")
        if alpha.size != mask.size:
            alpha = alpha.resize(mask.size)
        mask = ImageChops.lighter(mask, alpha)
    return mask if mask.getbbox() else None


def current_image(mode: str, values: dict[Any, Any], inputs: ModeInputs) -> Image.Image | None:
    """The picture the chosen mode works on (for "detect size" and resize-by)."""
    if mode == "img2img":
        return values.get(inputs.image)
    if mode == "inpaint_upload":
        return values.get(inputs.upload_image)
    editor = values.get(
        {"sketch": inputs.sketch, "inpaint": inputs.inpaint, "inpaint_sketch": inputs.inpaint_sketch}.get(
            mode, inputs.image
        )
    )
    if isinstance(editor, dict):
        return editor.get("background") or editor.get("composite")
    return editor


def image_and_mask(
    mode: str, values: dict[Any, Any], inputs: ModeInputs, mask_alpha: float = 0.0, mask_blur: int = 4
) -> tuple[Image.Image, Image.Image | None]:
    """(init image, mask or None) for a single-image mode; MissingInput names what is missing."""
    from modules.images.ops import combine_sketch, inpaint_sketch

    if mode == "img2img":
        image = values.get(inputs.image)
        if image is None:
            raise MissingInput("Upload an image in the img2img tab first.")
        return image, None
    if mode == "inpaint_upload":
        image, mask = values.get(inputs.upload_image), values.get(inputs.upload_mask)
        if image is None or mask is None:
            raise MissingInput("Inpaint upload needs both an image and a mask.")
        return image, mask
    editor = (
        values.get({"sketch": inputs.sketch, "inpaint": inputs.inpaint, "inpaint_sketch": inputs.inpaint_sketch}[mode])
        or {}
    )
    background = editor.get("background")
    if background is None:
        raise MissingInput(f"Upload an image in the {MODES[mode]} tab first.")
    if mode == "sketch":
        composite = editor.get("composite")
        return (
            composite.convert("RGB")
            if composite is not None
            else combine_sketch(background, Image.new("RGBA", background.size))
        ), None
    mask = _layers_mask(editor)
    if mask is None:
        raise MissingInput(f"Draw on the image in the {MODES[mode]} tab to mark the area to repaint.")
    if mode == "inpaint":
        return background, mask
    composite = editor.get("composite") or background
    return inpaint_sketch(composite, background, mask_alpha, mask_blur)


def batch_files(values: dict[Any, Any], inputs: ModeInputs) -> list[Path]:
    """The image files of a batch: the uploaded ones, or those in the input directory (sorted)."""
    if values.get(inputs.batch_source) == "directory":
        folder = Path((values.get(inputs.batch_input_dir) or "").strip())
        if not str(folder) or not folder.is_dir():
            raise MissingInput(f"Input directory {str(folder)!r} does not exist on the server.")
        files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    else:
        uploaded = values.get(inputs.batch_files) or []
        files = [Path(getattr(item, "name", item)) for item in uploaded]
    if not files:
        raise MissingInput("The batch has no images: upload files or give an input directory.")
    return files
