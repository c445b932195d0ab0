"""The parameter panel shared by txt2img and img2img: sampler, steps, size, batch, CFG, seed and hires fix.

Ranges and defaults are A1111 1.10's UI values (not the API's): steps 20, CFG 7, 512x512, hires denoising
0.7, upscale by 2. ``GenControls.params_kwargs`` turns the widget values into ``GenerationParams`` fields.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.processing.samplers import list_samplers, list_schedulers
from modules.ui import refiner_controls
from modules.ui.common import RANDOM_SYMBOL, REUSE_SYMBOL, SWAP_SYMBOL, tool_button
from modules.ui.context import PasteField

if TYPE_CHECKING:
    from modules.app import Backend

DEFAULT_SAMPLER = "DPM++ 2M"
SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"


def sampler_choices(backend: Backend) -> list[str]:
    hidden = backend.settings.get("hide_samplers") or []
    return [info.name for info in list_samplers(hidden)]


def schedule_choices() -> list[str]:
    return [info.label for info in list_schedulers()]


def hires_upscaler_choices(backend: Backend) -> list[str]:
    return backend.upscalers.hires_upscaler_names()


@dataclasses.dataclass
class Hires:
    enable: gr.Checkbox
    accordion: gr.Accordion
    upscaler: gr.Dropdown
    steps: gr.Slider
    denoising: gr.Slider
    scale: gr.Slider
    resize_x: gr.Slider
    resize_y: gr.Slider
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    checkpoint: gr.Dropdown

    def inputs(self) -> list[Any]:
        return [
            self.checkpoint,
            self.enable,
            self.upscaler,
            self.steps,
            self.denoising,
            self.scale,
            self.resize_x,
            self.resize_y,
            self.sampler,
            self.scheduler,
            self.prompt,
            self.negative_prompt,
        ]


@dataclasses.dataclass
class GenControls:
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider
    width: gr.Slider
    height: gr.Slider
    swap: gr.Button
    batch_count: gr.Slider
    batch_size: gr.Slider
    cfg_scale: gr.Slider
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button
    seed_extras: gr.Checkbox
    subseed: gr.Number
    random_subseed: gr.Button
    reuse_subseed: gr.Button
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider
    hires: Hires | None = None
    refiner: refiner_controls.Refiner | None = None

    def inputs(self) -> list[Any]:
        items = [
            self.sampler,
            self.scheduler,
            self.steps,
            self.width,
            self.height,
            self.batch_count,
            self.batch_size,
            self.cfg_scale,
            self.seed,
            self.seed_extras,
            self.subseed,
            self.subseed_strength,
            self.seed_resize_from_w,
            self.seed_resize_from_h,
        ]
        items += self.refiner.inputs() if self.refiner else []
        return items + (self.hires.inputs() if self.hires else [])

    def params_kwargs(self, values: dict[Any, Any]) -> dict[str, Any]:
        """``GenerationParams`` fields from the values of ``inputs()`` (a {component: value} dict)."""
        extras = bool(values[self.seed_extras])
        kwargs: dict[str, Any] = {
            "sampler_name": values[self.sampler],
            "scheduler": values[self.scheduler] or "Automatic",
            "steps": int(values[self.steps]),
            "width": int(values[self.width]),
            "height": int(values[self.height]),
            "n_iter": int(values[self.batch_count]),
            "batch_size": int(values[self.batch_size]),
            "cfg_scale": _number(values[self.cfg_scale]),
            "seed": _int(values[self.seed], -1),
            "subseed": _int(values[self.subseed], -1) if extras else -1,
            "subseed_strength": float(values[self.subseed_strength]) if extras else 0.0,
            "seed_resize_from_w": int(values[self.seed_resize_from_w]) if extras else 0,
            "seed_resize_from_h": int(values[self.seed_resize_from_h]) if extras else 0,
        }
        hires = self.hires
        if hires is not None and values[hires.enable]:
            sampler, scheduler = values[hires.sampler], values[hires.scheduler]
            kwargs.update(
                enable_hr=True,
                hr_upscaler=values[hires.upscaler],
                hr_second_pass_steps=int(values[hires.steps]),
                denoising_strength=float(values[hires.denoising]),
                hr_scale=float(values[hires.scale]),
                hr_resize_x=int(values[hires.resize_x]),
                hr_resize_y=int(values[hires.resize_y]),
                hr_sampler_name=None if sampler in (None, "", SAME_SAMPLER) else sampler,
                hr_scheduler=None if scheduler in (None, "", SAME_SCHEDULER) else scheduler,
                hr_prompt=values[hires.prompt] or "",
                hr_negative_prompt=values[hires.negative_prompt] or "",
                **refiner_controls.hires_checkpoint_kwargs(values[hires.checkpoint]),
            )
        if self.refiner is not None:
            kwargs.update(self.refiner.params_kwargs(values))
        return kwargs

    def paste_fields(self, backend: Backend) -> list[PasteField]:
        """Which infotext key fills which control (A1111's ``paste_fields`` for this panel)."""
        samplers = set(sampler_choices(backend))
        schedules = set(schedule_choices())

        def one_of(key: str, allowed: set[str]):
            return lambda params: params.get(key) if params.get(key) in allowed else None

        fields = [
            PasteField(self.steps, "Steps"),
            PasteField(self.sampler, one_of("Sampler", samplers)),
            PasteField(self.scheduler, one_of("Schedule type", schedules)),
            PasteField(self.cfg_scale, "CFG scale"),
            PasteField(self.seed, "Seed", kind="seed"),
            PasteField(self.width, "Size-1", kind="size"),
            PasteField(self.height, "Size-2", kind="size"),
            PasteField(self.batch_size, "Batch size"),
            PasteField(self.seed_extras, lambda p: True if p.get("Variation seed strength") else None, kind="seed"),
            PasteField(self.subseed, "Variation seed", kind="seed"),
            PasteField(self.subseed_strength, "Variation seed strength", kind="seed"),
            PasteField(self.seed_resize_from_w, "Seed resize from-1", kind="seed"),
            PasteField(self.seed_resize_from_h, "Seed resize from-2", kind="seed"),
        ]
        hires = self.hires
        if hires is not None:

            def enabled(params: dict[str, Any]) -> bool:
                return "Denoising strength" in params and any(
                    key in params for key in ("Hires upscale", "Hires upscaler", "Hires resize-1")
                )

            upscalers = set(hires_upscaler_choices(backend))
            fields += [
                PasteField(hires.enable, enabled),
                PasteField(hires.accordion, lambda p: gr.update(open=enabled(p))),
                PasteField(hires.denoising, "Denoising strength"),
                PasteField(hires.scale, "Hires upscale"),
                PasteField(hires.upscaler, one_of("Hires upscaler", upscalers)),
                PasteField(hires.steps, "Hires steps"),
                PasteField(hires.resize_x, "Hires resize-1"),
                PasteField(hires.resize_y, "Hires resize-2"),
                PasteField(hires.sampler, one_of("Hires sampler", samplers | {SAME_SAMPLER})),
                PasteField(hires.scheduler, one_of("Hires schedule type", schedules | {SAME_SCHEDULER})),
                PasteField(hires.prompt, "Hires prompt"),
                PasteField(hires.negative_prompt, "Hires negative prompt"),
                refiner_controls.hires_checkpoint_paste(backend, hires.checkpoint),
            ]
        if self.refiner is not None:
            fields += self.refiner.paste_fields(backend)
        return fields


def _number(value: Any) -> float:
    """A slider's number, integral values as int: the infotext then says ``CFG scale: 7`` as A1111's UI does."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _int(value: Any, default: int) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def build_sampler_row(backend: Backend, tab: str) -> tuple[gr.Dropdown, gr.Dropdown, gr.Slider]:
    samplers = sampler_choices(backend)
    default = DEFAULT_SAMPLER if DEFAULT_SAMPLER in samplers else (samplers[0] if samplers else None)
    with gr.Row(elem_id=f"{tab}_sampler_row"):
        sampler = gr.Dropdown(label="Sampling method", choices=samplers, value=default, elem_id=f"{tab}_sampling")
        scheduler = gr.Dropdown(
            label="Schedule type", choices=schedule_choices(), value="Automatic", elem_id=f"{tab}_scheduler"
        )
    steps = gr.Slider(minimum=1, maximum=150, step=1, value=20, label="Sampling steps", elem_id=f"{tab}_steps")
    return sampler, scheduler, steps


def build_hires(backend: Backend, tab: str) -> Hires:
    """A1111's "Hires. fix" accordion: opening it enables hires fix, closing it disables it."""
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{tab}_hr") as accordion:
        enable = gr.Checkbox(
            label="Hires. fix", value=False, elem_id=f"{tab}_hr-checkbox", elem_classes=["input-accordion-checkbox"]
        )
        with gr.Row():
            upscaler = gr.Dropdown(
                label="Upscaler", choices=hires_upscaler_choices(backend), value="Latent", elem_id=f"{tab}_hr_upscaler"
            )
            steps = gr.Slider(
                minimum=0, maximum=150, step=1, value=0, label="Hires steps", elem_id=f"{tab}_hires_steps"
            )
            denoising = gr.Slider(
                minimum=0.0,
                maximum=1.0,
                step=0.01,
                value=0.7,
                label="Denoising strength",
                elem_id=f"{tab}_denoising_strength",
            )
        with gr.Row():
            scale = gr.Slider(
                minimum=1.0, maximum=4.0, step=0.05, value=2.0, label="Upscale by", elem_id=f"{tab}_hr_scale"
            )
            resize_x = gr.Slider(
                minimum=0, maximum=2048, step=8, value=0, label="Resize width to", elem_id=f"{tab}_hr_resize_x"
            )
            resize_y = gr.Slider(
                minimum=0, maximum=2048, step=8, value=0, label="Resize height to", elem_id=f"{tab}_hr_resize_y"
            )
        with gr.Row(elem_id=f"{tab}_hires_fix_row3"):
            checkpoint = refiner_controls.build_hires_checkpoint(backend, tab)
            sampler = gr.Dropdown(
                label="Hires sampling method",
                choices=[SAME_SAMPLER, *sampler_choices(backend)],
                value=SAME_SAMPLER,
                elem_id=f"{tab}_hr_sampler",
            )
            scheduler = gr.Dropdown(
                label="Hires schedule type",
                choices=[SAME_SCHEDULER, *schedule_choices()],
                value=SAME_SCHEDULER,
                elem_id=f"{tab}_hr_scheduler",
            )
        with gr.Row():
            prompt = gr.Textbox(
                label="Hires prompt",
                lines=2,
                elem_id=f"{tab}_hr_prompt",
                placeholder="Prompt for hires fix pass.\nLeave empty to use the same prompt as in first pass.",
            )
            negative = gr.Textbox(
                label="Hires negative prompt",
                lines=2,
                elem_id=f"{tab}_hr_neg_prompt",
                placeholder="Negative prompt for hires fix pass.\n"
                "Leave empty to use the same negative prompt as in first pass.",
            )
    accordion.expand(lambda: True, None, enable, queue=False, show_progress="hidden")
    accordion.collapse(lambda: False, None, enable, queue=False, show_progress="hidden")
    enable.input(lambda on: gr.update(open=bool(on)), enable, accordion, queue=False, show_progress="hidden")
    return Hires(
        enable,
        accordion,
        upscaler,
        steps,
        denoising,
        scale,
        resize_x,
        resize_y,
        sampler,
        scheduler,
        prompt,
        negative,
        checkpoint,
    )


def build_size_and_batch(tab: str, default_size: int = 512) -> tuple[Any, ...]:
    """Width/Height with the swap button, then Batch count / Batch size."""
    with gr.Row(elem_id=f"{tab}_dimensions_row"):
        with gr.Column(scale=4, elem_id=f"{tab}_column_size"):
            width = gr.Slider(
                minimum=64, maximum=2048, step=8, label="Width", value=default_size, elem_id=f"{tab}_width"
            )
            height = gr.Slider(
                minimum=64, maximum=2048, step=8, label="Height", value=default_size, elem_id=f"{tab}_height"
            )
        swap = tool_button(SWAP_SYMBOL, f"{tab}_res_switch_btn")
        with gr.Column(scale=2, elem_id=f"{tab}_column_batch"):
            batch_count = gr.Slider(
                minimum=1, maximum=100, step=1, label="Batch count", value=1, elem_id=f"{tab}_batch_count"
            )
            batch_size = gr.Slider(
                minimum=1, maximum=8, step=1, label="Batch size", value=1, elem_id=f"{tab}_batch_size"
            )
    swap.click(lambda w, h: (h, w), [width, height], [width, height], queue=False, show_progress="hidden")
    return width, height, swap, batch_count, batch_size


def build_cfg(tab: str) -> gr.Slider:
    return gr.Slider(minimum=1.0, maximum=30.0, step=0.5, label="CFG Scale", value=7.0, elem_id=f"{tab}_cfg_scale")


def build_seed(tab: str) -> tuple:
    with gr.Row(elem_id=f"{tab}_seed_row"):
        seed = gr.Number(label="Seed", value=-1, precision=0, elem_id=f"{tab}_seed", min_width=100, scale=4)
        random_seed = tool_button(RANDOM_SYMBOL, f"{tab}_random_seed")
        reuse_seed = tool_button(REUSE_SYMBOL, f"{tab}_reuse_seed")
        seed_extras = gr.Checkbox(label="Extra", value=False, elem_id=f"{tab}_subseed_show", scale=1, min_width=80)
    with gr.Group(visible=False, elem_id=f"{tab}_seed_extras") as extras_group:
        with gr.Row():
            subseed = gr.Number(label="Variation seed", value=-1, precision=0, elem_id=f"{tab}_subseed", scale=4)
            random_subseed = tool_button(RANDOM_SYMBOL, f"{tab}_random_subseed")
            reuse_subseed = tool_button(REUSE_SYMBOL, f"{tab}_reuse_subseed")
            subseed_strength = gr.Slider(
                label="Variation strength",
                value=0.0,
                minimum=0,
                maximum=1,
                step=0.01,
                elem_id=f"{tab}_subseed_strength",
                scale=4,
            )
        with gr.Row():
            resize_w = gr.Slider(
                minimum=0,
                maximum=2048,
                step=8,
                label="Resize seed from width",
                value=0,
                elem_id=f"{tab}_seed_resize_from_w",
            )
            resize_h = gr.Slider(
                minimum=0,
                maximum=2048,
                step=8,
                label="Resize seed from height",
                value=0,
                elem_id=f"{tab}_seed_resize_from_h",
            )
    random_seed.click(lambda: -1, None, seed, queue=False, show_progress="hidden")
    random_subseed.click(lambda: -1, None, subseed, queue=False, show_progress="hidden")
    seed_extras.change(
        lambda on: gr.update(visible=bool(on)), seed_extras, extras_group, queue=False, show_progress="hidden"
    )
    return (
        seed,
        random_seed,
        reuse_seed,
        seed_extras,
        subseed,
        random_subseed,
        reuse_subseed,
        subseed_strength,
        resize_w,
        resize_h,
    )


def build(backend: Backend, tab: str, with_hires: bool, before_size: Any = None) -> GenControls:
    """The whole panel in A1111's order; ``before_size`` builds tab-specific rows above the size sliders."""
    sampler, scheduler, steps = build_sampler_row(backend, tab)
    hires = build_hires(backend, tab) if with_hires else None
    refiner = refiner_controls.build_refiner(backend, tab)
    if before_size is not None:
        before_size()
    width, height, swap, batch_count, batch_size = build_size_and_batch(tab)
    cfg_scale = build_cfg(tab)
    seed_parts = build_seed(tab)
    return GenControls(
        sampler,
        scheduler,
        steps,
        width,
        height,
        swap,
        batch_count,
        batch_size,
        cfg_scale,
        *seed_parts,
        hires=hires,
        refiner=refiner,
    )
