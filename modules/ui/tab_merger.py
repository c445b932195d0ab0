"""Checkpoint Merger tab: pick A, B, C and a method; the merge runs as a job (modules.merger) and the new
file joins the checkpoint list with its hash."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.merger import FORMATS, METHODS, MergeRequest, merge_checkpoints
from modules.merger_extras import CONFIG_SOURCES
from modules.ui import runner
from modules.ui.common import REFRESH_SYMBOL, error_html, info_html, tool_button
from modules.ui.context import UiContext

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

NO_VAE = "None"


def checkpoint_titles(backend: Backend) -> list[str]:
    models = backend.models
    return [info.title for info in models.checkpoints()] if models is not None else []


def vae_names(backend: Backend) -> list[str]:
    models = backend.models
    return [info.name for info in models.vaes()] if models is not None else []


def merge_output_dir(paths: Any) -> Path:
    """Where A1111 saves merges: ``--ckpt-dir`` when given, else models/Stable-diffusion."""
    return paths.checkpoints[-1]


def build(ctx: UiContext, demo: gr.Blocks) -> None:
    backend = ctx.backend
    with gr.Row(equal_height=False, elem_id="modelmerger_row"):
        with gr.Column(variant="compact", elem_id="modelmerger_settings"):
            gr.HTML(
                '<p class="hint">A merger of the two checkpoints will be generated in your '
                "<b>checkpoint</b> directory.</p>"
            )
            with gr.Row():
                names = checkpoint_titles(backend)
                primary = gr.Dropdown(names, label="Primary model (A)", elem_id="modelmerger_primary_model_name")
                secondary = gr.Dropdown(names, label="Secondary model (B)", elem_id="modelmerger_secondary_model_name")
                tertiary = gr.Dropdown(names, label="Tertiary model (C)", elem_id="modelmerger_tertiary_model_name")
                refresh = tool_button(REFRESH_SYMBOL, "modelmerger_refresh_checkpoint_names")
            custom_name = gr.Textbox(label="Custom Name (Optional)", elem_id="modelmerger_custom_name")
            multiplier = gr.Slider(
                minimum=0.0,
                maximum=1.0,
                step=0.05,
                value=0.3,
                elem_id="modelmerger_interp_amount",
                label="Multiplier (M) - set to 0 to get model A",
            )
            method = gr.Radio(
                choices=list(METHODS),
                value="Weighted sum",
                label="Interpolation Method",
                elem_id="modelmerger_interp_method",
            )
            with gr.Row():
                checkpoint_format = gr.Radio(
                    choices=list(FORMATS),
                    value="safetensors",
                    label="Checkpoint format",
                    elem_id="modelmerger_checkpoint_format",
                )
                save_as_half = gr.Checkbox(value=False, label="Save as float16", elem_id="modelmerger_save_as_half")
            with gr.Row():
                config_source = gr.Radio(
                    choices=list(CONFIG_SOURCES),
                    value=CONFIG_SOURCES[0],
                    label="Copy config from",
                    elem_id="modelmerger_config_method",
                )
                bake_in_vae = gr.Dropdown(
                    choices=[NO_VAE, *vae_names(backend)],
                    value=NO_VAE,
                    label="Bake in VAE",
                    elem_id="modelmerger_bake_in_vae",
                )
            discard = gr.Textbox(label="Discard weights with matching name", elem_id="modelmerger_discard_weights")
            save_metadata = gr.Checkbox(value=True, label="Save metadata", elem_id="modelmerger_save_metadata")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id="modelmerger_interrupt", visible=False, variant="stop")
                skip = gr.Button("Skip", visible=False, elem_id="modelmerger_skip")
                merge = gr.Button("Merge", variant="primary", elem_id="modelmerger_merge")
        with gr.Column(variant="compact", elem_id="modelmerger_results_container"):
            progress = gr.HTML(elem_id="modelmerger_progress", elem_classes=["progress-box"])
            result = gr.HTML(elem_id="modelmerger_result")
            job_id = gr.State(None)
            preview = gr.State(None)  # merges have no preview; runner needs somewhere to put none

    dropdowns = [primary, secondary, tertiary]

    def refreshed_lists():
        if backend.models is not None:
            backend.models.refresh()
        titles = checkpoint_titles(backend)
        return [gr.update(choices=titles) for _ in dropdowns] + [gr.update(choices=[NO_VAE, *vae_names(backend)])]

    refresh.click(refreshed_lists, None, [*dropdowns, bake_in_vae], show_progress="hidden")
    demo.load(
        lambda: [gr.update(choices=checkpoint_titles(backend)) for _ in dropdowns],
        None,
        dropdowns,
        show_progress="hidden",
        queue=False,
    )

    def path_of(title: str | None) -> Path | None:
        if not title:
            return None
        info = backend.models.find_checkpoint(title)
        if info is None:
            raise ValueError(f"Checkpoint {title!r} not found; press {REFRESH_SYMBOL} to refresh the list")
        return Path(info.path)

    def vae_path(name: str | None) -> Path | None:
        if not name or name == NO_VAE:
            return None
        info = next((vae for vae in backend.models.vaes() if vae.name == name), None)
        if info is None:
            raise ValueError(f"VAE {name!r} not found in the VAE folder")
        return Path(info.path)

    def submit(values: dict[Any, Any]):
        request = MergeRequest(
            primary=path_of(values[primary]),
            secondary=path_of(values[secondary]),
            tertiary=path_of(values[tertiary]),
            method=values[method],
            multiplier=float(values[multiplier]),
            save_as_half=bool(values[save_as_half]),
            checkpoint_format=values[checkpoint_format],
            output_dir=merge_output_dir(backend.paths),
            config_source=values[config_source],
            bake_in_vae=vae_path(values[bake_in_vae]),
            custom_name=values[custom_name] or "",
            discard_weights=values[discard] or "",
            save_metadata=bool(values[save_metadata]),
        )

        def task(job):
            job.update(textinfo="Merging", job_count=1)
            path = merge_checkpoints(
                request,
                lambda done, total: job.update(sampling_step=done, sampling_steps=total),
                allow_unsafe_pickle=bool(backend.flags.disable_safe_unpickle),
                should_stop=lambda: job.interrupted,
            )
            job.update(textinfo="Calculating hash")
            backend.models.refresh()
            info = backend.models.find_checkpoint(str(path))
            if info is not None and not backend.flags.no_hashing:
                backend.models.hash_of(info)
            return path, info.title if info is not None else path.name

        return backend.jobs.submit(task, label="merge checkpoints")

    def finish(outcome, seconds: float):
        path, title = outcome
        titles = checkpoint_titles(backend)
        return {
            result: info_html(f"Checkpoint saved to {path}") + f'<p class="merge-title">{html.escape(title)}</p>',
            **{dropdown: gr.update(choices=titles) for dropdown in dropdowns},
        }

    def run(values: dict[Any, Any]):
        if backend.models is None:
            yield {result: error_html(backend.status)}
            return
        if not values[primary]:
            yield {result: error_html("Choose the primary model (A) first.")}
            return
        buttons = runner.RunButtons(merge, interrupt, skip)
        for update in runner.run(backend, buttons, job_id, progress, preview, result, lambda: submit(values), finish):
            update.pop(skip, None)  # a merge cannot skip anything; keep that button hidden
            yield update

    runner.wire_interrupt(backend, runner.RunButtons(merge, interrupt, skip), job_id)
    inputs = {
        primary,
        secondary,
        tertiary,
        method,
        multiplier,
        save_as_half,
        checkpoint_format,
        custom_name,
        discard,
        save_metadata,
        config_source,
        bake_in_vae,
    }
    merge.click(
        run,
        inputs,
        [merge, interrupt, skip, job_id, progress, preview, result, *dropdowns],
        show_progress="hidden",
        concurrency_limit=None,
    )
