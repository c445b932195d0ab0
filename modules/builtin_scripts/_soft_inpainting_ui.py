"""The "Soft inpainting" accordion of img2img's inpaint modes: opening it turns soft inpainting on, closing it
turns it off (A1111's InputAccordion), with the six sliders and a short help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

ACCORDION_ID = "soft_inpainting_enabled"
INTRO = "Blends the original with the inpainted content as the mask's opacity says. A high Mask blur helps."
HELP = (
    "Schedule bias: below 1 the original is kept more near the end, above 1 more at the start.",
    "Preservation strength: higher keeps more of the original where the mask is partial.",
    "Transition contrast boost: higher keeps the blend's contrast, too high over-saturates.",
    "The pixel composite keeps the original pixels wherever the result changed little.",
    "Mask influence: how much the mask biases that.",
    "Difference threshold: the change at which the original fades to half.",
    "Difference contrast: how soft or sharp that fade is.",
)


def build_panel(sliders: Sequence[Any], defaults: Any) -> tuple[gr.Checkbox, list[gr.Slider], list[tuple[Any, Any]]]:
    """(enable checkbox, sliders in order, infotext_fields) for ``sliders`` (``soft_inpainting.SLIDERS``)."""
    with gr.Accordion("Soft inpainting", open=False, elem_id=ACCORDION_ID) as accordion:
        enabled = gr.Checkbox(
            label="Soft inpainting",
            value=False,
            elem_id=f"{ACCORDION_ID}-checkbox",
            elem_classes=["input-accordion-checkbox"],
        )
        gr.Markdown(INTRO)
        components = []
        for index, slider in enumerate(sliders):
            if index == 3:
                gr.Markdown("### Pixel composite")
            components.append(
                gr.Slider(
                    label=slider.label,
                    info=slider.info,
                    minimum=slider.minimum,
                    maximum=slider.maximum,
                    step=slider.step,
                    value=getattr(defaults, slider.field),
                    elem_id=slider.field,
                )
            )
        with gr.Accordion("Help", open=False):
            gr.Markdown("\n\n".join(HELP))
    accordion.expand(lambda: True, None, enabled, queue=False, show_progress="hidden")
    accordion.collapse(lambda: False, None, enabled, queue=False, show_progress="hidden")
    enabled.input(lambda on: gr.update(open=bool(on)), enabled, accordion, queue=False, show_progress="hidden")

    def opened(params: dict[str, Any]) -> Any:
        if "Soft inpainting enabled" not in params:
            return None
        return gr.update(open=str(params["Soft inpainting enabled"]).strip().lower() == "true")

    fields: list[tuple[Any, Any]] = [(enabled, "Soft inpainting enabled"), (accordion, opened)]
    fields += [(component, slider.infotext) for component, slider in zip(components, sliders, strict=True)]
    return enabled, components, fields
