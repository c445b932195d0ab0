"""The ControlNet panel of txt2img / img2img: one tab per unit, as A1111's extension lays it out.

``build(service, is_img2img, elem_id)`` creates the components inside the current Blocks and returns them
in ``units.UI_FIELDS`` order, unit after unit: those values become the script's arguments. Choosing a
preprocessor re-labels the resolution and threshold sliders; "Run preprocessor" shows the detected map.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from controlnet_ext.units import CONTROL_MODES, RESIZE_MODES

log = logging.getLogger(__name__)


def _slider_updates(service: Any, module: str) -> list[Any]:
    import gradio as gr

    try:
        pre = service.resolve_module(module)
    except ValueError:
        return [gr.update(visible=False)] * 3
    updates = []
    for slider in (pre.resolution, pre.threshold_a, pre.threshold_b):
        if slider is None:
            updates.append(gr.update(visible=False))
        else:
            updates.append(
                gr.update(
                    visible=True,
                    label=slider.name,
                    minimum=slider.min,
                    maximum=slider.max,
                    step=slider.step,
                    value=slider.value,
                )
            )
    return updates


def _unit(service: Any, number: int, elem_id: Callable[[str], str]) -> list[Any]:
    import gradio as gr

    def eid(name: str) -> str:
        return elem_id(f"unit{number}_{name}")

    with gr.Row():
        image = gr.Image(label="Image", type="pil", sources=["upload", "clipboard"], height=260, elem_id=eid("image"))
        preview = gr.Image(
            label="Preprocessor Preview", type="pil", interactive=False, height=260, elem_id=eid("preview")
        )
    with gr.Row():
        enabled = gr.Checkbox(label="Enable", value=False, elem_id=eid("enable"))
        pixel_perfect = gr.Checkbox(label="Pixel Perfect", value=False, elem_id=eid("pixel_perfect"))
        run = gr.Button("Run preprocessor 💥", size="sm", elem_id=eid("run_preprocessor"))
    with gr.Row():
        module = gr.Dropdown(label="Preprocessor", choices=service.module_names(), value="none", elem_id=eid("module"))
        model = gr.Dropdown(label="Model", choices=service.model_titles(), value="None", elem_id=eid("model"))
        refresh = gr.Button("🔄", elem_id=eid("refresh_models"), scale=0, min_width=40)
    weight = gr.Slider(label="Control Weight", minimum=0.0, maximum=2.0, value=1.0, step=0.05, elem_id=eid("weight"))
    with gr.Row():
        start = gr.Slider(
            label="Starting Control Step", minimum=0.0, maximum=1.0, value=0.0, step=0.01, elem_id=eid("guidance_start")
        )
        end = gr.Slider(
            label="Ending Control Step", minimum=0.0, maximum=1.0, value=1.0, step=0.01, elem_id=eid("guidance_end")
        )
    with gr.Row():
        resolution = gr.Slider(
            label="Preprocessor Resolution",
            minimum=64,
            maximum=2048,
            value=512,
            step=8,
            visible=False,
            elem_id=eid("processor_res"),
        )
        threshold_a = gr.Slider(
            label="Threshold A", minimum=-1, maximum=255, value=-1, step=1, visible=False, elem_id=eid("threshold_a")
        )  # -1: the preprocessor's default
        threshold_b = gr.Slider(
            label="Threshold B", minimum=-1, maximum=255, value=-1, step=1, visible=False, elem_id=eid("threshold_b")
        )
    control_mode = gr.Radio(
        label="Control Mode", choices=list(CONTROL_MODES), value=CONTROL_MODES[0], elem_id=eid("control_mode")
    )
    resize_mode = gr.Radio(
        label="Resize Mode", choices=list(RESIZE_MODES), value="Crop and Resize", elem_id=eid("resize_mode")
    )

    module.change(
        lambda name: _slider_updates(service, name),
        module,
        [resolution, threshold_a, threshold_b],
        show_progress="hidden",
    )

    def refresh_lists() -> tuple[Any, Any]:
        """Models and preprocessors dropped in while the server runs (annotator files make theirs appear)."""
        return gr.update(choices=service.model_titles(refresh=True)), gr.update(choices=service.module_names())

    refresh.click(refresh_lists, None, [model, module], show_progress="hidden")

    def preview_map(picture: Any, name: str, res: float, a: float, b: float) -> Any:
        from controlnet_ext.imageops import to_preview

        if picture is None:
            raise gr.Error("Upload an image first")
        try:
            request = {"module": name, "image": picture, "resolution": int(res), "threshold_a": float(a)}
            (detected,) = service.detect_on_queue([{**request, "threshold_b": float(b)}])
        except ValueError as error:
            raise gr.Error(str(error)) from error
        return to_preview(detected)

    run.click(preview_map, [image, module, resolution, threshold_a, threshold_b], preview)
    return [
        enabled,
        image,
        module,
        model,
        weight,
        start,
        end,
        control_mode,
        resize_mode,
        pixel_perfect,
        resolution,
        threshold_a,
        threshold_b,
    ]


def build(service: Any, is_img2img: bool, elem_id: Callable[[str], str]) -> list[Any]:
    import gradio as gr

    components: list[Any] = []
    with gr.Accordion("ControlNet", open=False, elem_id=elem_id("accordion")), gr.Tabs():
        for number in range(service.unit_count()):
            with gr.Tab(f"ControlNet Unit {number}", elem_id=elem_id(f"unit{number}_tab")):
                components += _unit(service, number, elem_id)
    return components
