"""txt2img tab: prompt row, parameter panel, Script, and the result panel; Generate runs through the queue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.processing.params import GenerationParams
from modules.ui import extra_networks, gen_controls, output_panel, runner, toprow
from modules.ui.common import error_html, format_seconds, models_unavailable_message
from modules.ui.context import PasteField, SendTarget, UiContext
from modules.ui.paste import override_field, overrides_from_entries, wire_paste_button
from modules.ui.script_slots import build_script_controls, script_paste_fields

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

TAB = "txt2img"


def build_override_dropdown(tab: str) -> gr.Dropdown:
    return gr.Dropdown(
        label="Override settings",
        choices=[],
        value=[],
        multiselect=True,
        visible=False,
        elem_id=f"{tab}_override_settings",
        allow_custom_value=True,
    )


def prompt_fields(row: toprow.Toprow) -> list[PasteField]:
    return [
        PasteField(row.prompt, "Prompt"),
        PasteField(row.negative_prompt, "Negative prompt"),
        PasteField(row.styles, "Styles array"),
    ]


def finish_handler(ctx: UiContext, panel: output_panel.OutputPanel):
    """Show a finished job's ``Processed`` in ``panel`` and remember its infotext for ↙."""

    def finish(processed: Any, seconds: float) -> dict[Any, Any]:
        shown = output_panel.ShownResult.from_processed(processed)
        ctx.last_infotext = shown.infotext(None)
        log_text = f"Time taken: {format_seconds(seconds)}"
        if getattr(processed, "interrupted", False):
            log_text = "Interrupted. " + log_text
        if getattr(processed, "comments", ""):
            log_text = f"{processed.comments}\n{log_text}"
        return output_panel.shown_updates(panel, shown, log_text)

    return finish


def wire_reuse_seed(controls: gen_controls.GenControls, panel: output_panel.OutputPanel) -> None:
    """♻: the seed (or variation seed) of the selected image of the last result."""

    def reuse(subseed: bool):
        def pick(result, selected):
            seed = result.seed_at(selected, subseed=subseed) if result is not None else None
            return gr.update() if seed is None else seed

        return pick

    controls.reuse_seed.click(reuse(False), [panel.result, panel.selected], controls.seed, show_progress="hidden")
    controls.reuse_subseed.click(reuse(True), [panel.result, panel.selected], controls.subseed, show_progress="hidden")


def generation_outputs(buttons: runner.RunButtons, panel: output_panel.OutputPanel) -> list[Any]:
    """What a run handler updates: the three buttons and every part of the output panel."""
    return [
        buttons.generate,
        buttons.interrupt,
        buttons.skip,
        panel.job_id,
        panel.progress,
        panel.preview,
        panel.gallery,
        panel.result,
        panel.selected,
        panel.html_info,
        panel.html_log,
        panel.download,
        panel.message,
    ]


def prompt_params(backend: Backend, values: dict[Any, Any], row: toprow.Toprow, override: Any, scripts: Any) -> dict:
    """The GenerationParams fields both generation tabs take from the top row, overrides and scripts."""
    script_name, script_args, alwayson = scripts.to_params(values)
    return {
        "prompt": values[row.prompt] or "",
        "negative_prompt": values[row.negative_prompt] or "",
        "styles": tuple(values[row.styles] or ()),
        "override_settings": overrides_from_entries(backend, values[override]),
        "script_name": script_name,
        "script_args": script_args,
        "alwayson_scripts": alwayson,
    }


def build(ctx: UiContext, demo: gr.Blocks) -> None:
    backend = ctx.backend
    row = toprow.build(backend, TAB)
    networks = extra_networks.build(backend, TAB)
    with gr.Row(elem_id=f"{TAB}_extra_tabs", equal_height=False):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            controls = gen_controls.build(backend, TAB, with_hires=True)
            override = build_override_dropdown(TAB)
            scripts = build_script_controls(backend, is_img2img=False)
        with gr.Column(scale=1, elem_id=f"{TAB}_results_column"):
            panel = output_panel.build(ctx, TAB)

    buttons = runner.RunButtons(row.generate, row.interrupt, row.skip)
    runner.wire_interrupt(backend, buttons, panel.job_id)
    wire_reuse_seed(controls, panel)

    def make_params(values: dict[Any, Any]) -> GenerationParams:
        return GenerationParams(
            mode="txt2img", **prompt_params(backend, values, row, override, scripts), **controls.params_kwargs(values)
        )

    def generate(values: dict[Any, Any]):
        problem = models_unavailable_message(backend)
        if problem:
            yield {panel.message: error_html(problem)}
            return
        yield from runner.run(
            backend,
            buttons,
            panel.job_id,
            panel.progress,
            panel.preview,
            panel.message,
            lambda: backend.generation.submit(make_params(values)),
            finish_handler(ctx, panel),
        )

    inputs = {row.prompt, row.negative_prompt, row.styles, override, *controls.inputs(), *scripts.inputs()}
    row.generate.click(
        generate, inputs, generation_outputs(buttons, panel), show_progress="hidden", concurrency_limit=None
    )

    target = ctx.add_target(
        SendTarget(
            TAB,
            TAB,
            prompt_fields(row)
            + [override_field(backend, override)]
            + controls.paste_fields(backend)
            + script_paste_fields(backend, False),
        )
    )
    wire_paste_button(ctx, row.paste, row.prompt, target)
    toprow.wire_page_load(backend, demo, row)
    extra_networks.wire_page_load(backend, TAB, demo, networks)
