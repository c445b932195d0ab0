"""A1111's "Refiner" accordion (checkpoint + "Switch at") and the Hires checkpoint choice, for txt2img and img2img.

The values become ``GenerationParams.refiner_checkpoint`` / ``refiner_switch_at`` / ``hr_checkpoint_name``;
pasting an infotext fills them back from ``Refiner``, ``Refiner switch at`` and ``Hires checkpoint`` (which
name the checkpoint by its short title, ``name [hash]``, matched to one of the listed checkpoints).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.processing.model_switch import SAME_CHECKPOINT
from modules.ui.common import REFRESH_SYMBOL, tool_button
from modules.ui.context import PasteField

if TYPE_CHECKING:
    from modules.app import Backend

DEFAULT_SWITCH_AT = 0.8  # A1111's slider default


def checkpoint_titles(backend: Backend) -> list[str]:
    models = backend.models
    return [info.title for info in models.checkpoints()] if models is not None else []


def listed_title(backend: Backend, text: Any) -> str | None:
    """The listed checkpoint an infotext value (short title, name or hash) names, or None."""
    if not text or backend.models is None:
        return None
    info = backend.models.find_checkpoint(str(text))
    return info.title if info is not None else None


@dataclasses.dataclass
class Refiner:
    enable: gr.Checkbox
    accordion: gr.Accordion
    checkpoint: gr.Dropdown
    switch_at: gr.Slider

    def inputs(self) -> list[Any]:
        return [self.enable, self.checkpoint, self.switch_at]

    def params_kwargs(self, values: dict[Any, Any]) -> dict[str, Any]:
        """A1111's refiner script: nothing unless enabled with a checkpoint chosen."""
        name = values[self.checkpoint]
        if not values[self.enable] or name in (None, "", "None"):
            return {}
        return {"refiner_checkpoint": name, "refiner_switch_at": float(values[self.switch_at])}

    def paste_fields(self, backend: Backend) -> list[PasteField]:
        def named(params: dict[str, Any]) -> bool:
            return "Refiner" in params

        return [
            PasteField(self.enable, named),
            PasteField(self.accordion, lambda p: gr.update(open=named(p))),
            PasteField(self.checkpoint, lambda p: listed_title(backend, p.get("Refiner"))),
            PasteField(self.switch_at, "Refiner switch at"),
        ]


def build_refiner(backend: Backend, tab: str) -> Refiner:
    """The accordion; opening it enables the refiner, closing it disables it (A1111's InputAccordion)."""
    prefix = f"script_{tab}_refiner"
    with gr.Accordion("Refiner", open=False, elem_id=f"{prefix}_enable") as accordion:
        enable = gr.Checkbox(
            label="Refiner", value=False, elem_id=f"{prefix}_enable-checkbox", elem_classes=["input-accordion-checkbox"]
        )
        with gr.Row():
            checkpoint = gr.Dropdown(
                label="Checkpoint",
                choices=["", *checkpoint_titles(backend)],
                value="",
                elem_id=f"{prefix}_checkpoint",
                info="switch to another model in the middle of generation",
            )
            refresh = tool_button(REFRESH_SYMBOL, f"{prefix}_checkpoint_refresh")
            switch_at = gr.Slider(
                value=DEFAULT_SWITCH_AT,
                label="Switch at",
                minimum=0.01,
                maximum=1.0,
                step=0.01,
                elem_id=f"{prefix}_switch_at",
                info="fraction of sampling steps when the switch to refiner model should happen; 1=never, "
                "0.5=switch in the middle of generation",
            )
    refresh.click(
        lambda: gr.update(choices=["", *_refreshed_titles(backend)]), None, checkpoint, show_progress="hidden"
    )
    accordion.expand(lambda: True, None, enable, queue=False, show_progress="hidden")
    accordion.collapse(lambda: False, None, enable, queue=False, show_progress="hidden")
    enable.input(lambda on: gr.update(open=bool(on)), enable, accordion, queue=False, show_progress="hidden")
    return Refiner(enable, accordion, checkpoint, switch_at)


def _refreshed_titles(backend: Backend) -> list[str]:
    if backend.models is not None:
        backend.models.refresh()
    return checkpoint_titles(backend)


def build_hires_checkpoint(backend: Backend, tab: str) -> gr.Dropdown:
    """The Hires fix accordion's checkpoint choice ("Use same checkpoint" by default)."""
    return gr.Dropdown(
        label="Checkpoint",  # A1111's label and id
        choices=[SAME_CHECKPOINT, *checkpoint_titles(backend)],
        value=SAME_CHECKPOINT,
        elem_id="hr_checkpoint" if tab == "txt2img" else f"{tab}_hr_checkpoint",
    )


def hires_checkpoint_kwargs(value: Any) -> dict[str, Any]:
    return {} if value in (None, "", SAME_CHECKPOINT) else {"hr_checkpoint_name": value}


def hires_checkpoint_paste(backend: Backend, dropdown: gr.Dropdown) -> PasteField:
    def value(params: dict[str, Any]) -> str | None:
        text = params.get("Hires checkpoint")
        return SAME_CHECKPOINT if text in (None, SAME_CHECKPOINT) else listed_title(backend, text)

    return PasteField(dropdown, value)
