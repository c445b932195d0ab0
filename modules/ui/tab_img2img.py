"""img2img tab: the six input modes, resize and inpainting options, and the same result panel as txt2img.

A single image becomes one job. Batch hands the backend an ``Img2ImgBatch`` (``processing/img2img_batch.py``),
which queues one job per input image, one after another, so other users' jobs can interleave and Interrupt
stops the rest of the batch; the handler only follows the jobs and shows the results.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.processing.img2img_batch import Img2ImgBatch, snap_size
from modules.processing.params import INPAINT_AREAS, INPAINTING_FILL, MASK_MODES, RESIZE_MODES, GenerationParams
from modules.settings.locks import check_folder
from modules.ui import extra_networks, gen_controls, img2img_inputs, output_panel, refiner_controls, runner, toprow
from modules.ui.common import (
    SWAP_SYMBOL,
    describe_error,
    error_html,
    format_seconds,
    info_html,
    models_unavailable_message,
    tool_button,
)
from modules.ui.context import PasteField, SendTarget, UiContext
from modules.ui.paste import override_field, wire_paste_button
from modules.ui.script_slots import build_script_controls, build_section_panels, script_paste_fields
from modules.ui.tab_txt2img import (
    build_override_dropdown,
    finish_handler,
    generation_outputs,
    prompt_fields,
    prompt_params,
    wire_reuse_seed,
)

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

TAB = "img2img"
DETECT_SIZE_SYMBOL = "\U0001f4d0"  # 📐


@dataclasses.dataclass
class InpaintControls:
    group: gr.Group
    mask_blur: gr.Slider
    mask_alpha: gr.Slider
    mask_mode: gr.Radio
    fill: gr.Radio
    full_res: gr.Radio
    padding: gr.Slider
    scripts: list[tuple[str, list[Any]]]  # always-on panels of the "inpaint" section (Soft inpainting)


def build_inpaint_controls(backend: Backend) -> InpaintControls:
    with gr.Group(visible=False, elem_id="inpaint_controls") as group:
        with gr.Row():
            mask_blur = gr.Slider(
                label="Mask blur", minimum=0, maximum=64, step=1, value=4, elem_id="img2img_mask_blur"
            )
            mask_alpha = gr.Slider(
                label="Mask transparency",
                minimum=0,
                maximum=100,
                step=1,
                value=0,
                visible=False,
                elem_id="img2img_mask_alpha",
            )
        mask_mode = gr.Radio(
            label="Mask mode", choices=list(MASK_MODES), value=MASK_MODES[0], type="index", elem_id="img2img_mask_mode"
        )
        fill = gr.Radio(
            label="Masked content",
            choices=list(INPAINTING_FILL),
            value="original",
            type="index",
            elem_id="img2img_inpainting_fill",
        )
        with gr.Row():
            full_res = gr.Radio(
                label="Inpaint area",
                choices=list(INPAINT_AREAS),
                value=INPAINT_AREAS[0],
                type="index",
                elem_id="img2img_inpaint_full_res",
            )
            padding = gr.Slider(
                label="Only masked padding, pixels",
                minimum=0,
                maximum=256,
                step=4,
                value=32,
                elem_id="img2img_inpaint_full_res_padding",
            )
        scripts = build_section_panels(backend, True, "inpaint")
    return InpaintControls(group, mask_blur, mask_alpha, mask_mode, fill, full_res, padding, scripts)


def _one_of(key: str, allowed: tuple[str, ...]):
    return lambda params: params.get(key) if params.get(key) in allowed else None


def build(ctx: UiContext, demo: gr.Blocks) -> None:
    backend = ctx.backend
    row = toprow.build(backend, TAB)
    networks = extra_networks.build(backend, TAB)
    with gr.Row(elem_id=f"{TAB}_extra_tabs", equal_height=False):
        with gr.Column(scale=1, elem_id=f"{TAB}_settings"):
            inputs = img2img_inputs.build()
            resize_mode = gr.Radio(
                label="Resize mode",
                choices=list(RESIZE_MODES),
                value=RESIZE_MODES[0],
                type="index",
                elem_id="resize_mode",
            )
            inpaint = build_inpaint_controls(backend)
            sampler, scheduler, steps = gen_controls.build_sampler_row(backend, TAB)
            refiner = refiner_controls.build_refiner(backend, TAB)
            scale_tab = gr.State("to")
            with gr.Tabs(elem_id=f"{TAB}_tabs_resize"):
                with gr.Tab("Resize to", id="img2img_tab_resize_to", elem_id="img2img_tab_resize_to") as tab_to:
                    with gr.Row():
                        with gr.Column(scale=4):
                            width = gr.Slider(
                                minimum=64, maximum=2048, step=8, label="Width", value=512, elem_id="img2img_width"
                            )
                            height = gr.Slider(
                                minimum=64, maximum=2048, step=8, label="Height", value=512, elem_id="img2img_height"
                            )
                        with gr.Column(scale=0, min_width=44):
                            swap = tool_button(SWAP_SYMBOL, "img2img_res_switch_btn")
                            detect = tool_button(DETECT_SIZE_SYMBOL, "img2img_detect_image_size_btn")
                with gr.Tab("Resize by", id="img2img_tab_resize_by", elem_id="img2img_tab_resize_by") as tab_by:
                    scale_by = gr.Slider(
                        minimum=0.05, maximum=4.0, step=0.05, label="Scale", value=1.0, elem_id="img2img_scale"
                    )
                    scale_info = gr.HTML(elem_id="img2img_scale_resolution_preview")
            tab_to.select(lambda: "to", None, scale_tab, queue=False, show_progress="hidden")
            tab_by.select(lambda: "by", None, scale_tab, queue=False, show_progress="hidden")
            with gr.Row():
                batch_count = gr.Slider(
                    minimum=1, maximum=100, step=1, label="Batch count", value=1, elem_id="img2img_batch_count"
                )
                batch_size = gr.Slider(
                    minimum=1, maximum=8, step=1, label="Batch size", value=1, elem_id="img2img_batch_size"
                )
            cfg_scale = gen_controls.build_cfg(TAB)
            denoising = gr.Slider(
                minimum=0.0,
                maximum=1.0,
                step=0.01,
                label="Denoising strength",
                value=0.75,
                elem_id="img2img_denoising_strength",
            )
            seed_parts = gen_controls.build_seed(TAB)
            override = build_override_dropdown(TAB)
            scripts = build_script_controls(backend, is_img2img=True, placed=inpaint.scripts)
        with gr.Column(scale=1, elem_id=f"{TAB}_results_column"):
            panel = output_panel.build(ctx, TAB)

    controls = gen_controls.GenControls(
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
        refiner=refiner,
    )
    swap.click(lambda w, h: (h, w), [width, height], [width, height], queue=False, show_progress="hidden")
    _wire_mode_visibility(inputs, inpaint)

    def detect_size(values):
        image = img2img_inputs.current_image(values[inputs.mode], values, inputs)
        if image is None:
            return gr.update(), gr.update()
        return snap_size(image.width), snap_size(image.height)

    detect.click(detect_size, set(inputs.image_inputs()), [width, height], show_progress="hidden")

    def scale_preview(values):
        image = img2img_inputs.current_image(values[inputs.mode], values, inputs)
        if image is None:
            return ""
        scale = float(values[scale_by])
        return (
            f"<p>resize: from <b>{image.width}x{image.height}</b> to "
            f"<b>{snap_size(image.width * scale)}x{snap_size(image.height * scale)}</b></p>"
        )

    scale_by.release(scale_preview, {scale_by, *inputs.image_inputs()}, scale_info, show_progress="hidden")
    tab_by.select(scale_preview, {scale_by, *inputs.image_inputs()}, scale_info, show_progress="hidden")

    buttons = runner.RunButtons(row.generate, row.interrupt, row.skip)
    runner.wire_interrupt(backend, buttons, panel.job_id)
    wire_reuse_seed(controls, panel)

    def base_params(values: dict[Any, Any]) -> GenerationParams:
        mode = values[inputs.mode]
        inpainting = mode in img2img_inputs.INPAINT_MODES or (mode == "batch" and values[inputs.batch_mask_dir])
        extra: dict[str, Any] = {}
        if inpainting:
            fill = values[inpaint.fill]
            extra = {
                "mask_blur": int(values[inpaint.mask_blur]),
                "inpainting_mask_invert": int(values[inpaint.mask_mode] or 0),
                "inpainting_fill": int(fill if fill is not None else 1),
                "inpaint_full_res": bool(values[inpaint.full_res]),
                "inpaint_full_res_padding": int(values[inpaint.padding]),
            }
        return GenerationParams(
            mode="img2img",
            **prompt_params(backend, values, row, override, scripts),
            resize_mode=int(values[resize_mode] or 0),
            denoising_strength=float(values[denoising]),
            **extra,
            **controls.params_kwargs(values),
        )

    def sized(params: GenerationParams, values: dict[Any, Any], image: Image.Image) -> GenerationParams:
        if values[scale_tab] != "by":
            return params
        scale = float(values[scale_by])
        return dataclasses.replace(params, width=snap_size(image.width * scale), height=snap_size(image.height * scale))

    def single(values: dict[Any, Any]):
        mode = values[inputs.mode]
        image, mask = img2img_inputs.image_and_mask(
            mode, values, inputs, float(values[inpaint.mask_alpha]), int(values[inpaint.mask_blur])
        )
        params = dataclasses.replace(base_params(values), init_images=(image,), mask=mask)
        return backend.generation.submit(sized(params, values, image))

    def generate(values: dict[Any, Any]):
        problem = models_unavailable_message(backend)
        if problem:
            yield {panel.message: error_html(problem)}
            return
        if values[inputs.mode] == "batch":
            yield from _run_batch(
                ctx,
                values,
                inputs,
                panel,
                buttons,
                lambda: base_params(values),
                float(values[scale_by]) if values[scale_tab] == "by" else None,
            )
            return
        yield from runner.run(
            backend,
            buttons,
            panel.job_id,
            panel.progress,
            panel.preview,
            panel.message,
            lambda: single(values),
            finish_handler(ctx, panel),
        )

    all_inputs = {
        row.prompt,
        row.negative_prompt,
        row.styles,
        override,
        resize_mode,
        denoising,
        scale_tab,
        scale_by,
        inpaint.mask_blur,
        inpaint.mask_alpha,
        inpaint.mask_mode,
        inpaint.fill,
        inpaint.full_res,
        inpaint.padding,
        *controls.inputs(),
        *scripts.inputs(),
        *inputs.image_inputs(),
        *inputs.batch_inputs(),
    }
    row.generate.click(
        generate, all_inputs, generation_outputs(buttons, panel), show_progress="hidden", concurrency_limit=None
    )

    fields = (
        prompt_fields(row)
        + [override_field(backend, override)]
        + controls.paste_fields(backend)
        + [
            PasteField(denoising, "Denoising strength"),
            PasteField(inpaint.mask_blur, "Mask blur"),
            PasteField(inpaint.mask_mode, _one_of("Mask mode", MASK_MODES)),
            PasteField(inpaint.fill, _one_of("Masked content", INPAINTING_FILL)),
            PasteField(inpaint.full_res, _one_of("Inpaint area", INPAINT_AREAS)),
            PasteField(inpaint.padding, "Masked area padding"),
        ]
        + script_paste_fields(backend, True)
    )
    target = ctx.add_target(
        SendTarget(
            TAB,
            TAB,
            fields,
            image=inputs.image,
            mode_tabs=inputs.tabs,
            mode_id=img2img_inputs.tab_id("img2img"),
            mode_state=inputs.mode,
            mode_value="img2img",
        )
    )
    ctx.add_target(
        SendTarget(
            "inpaint",
            TAB,
            fields,
            image=inputs.inpaint,
            mode_tabs=inputs.tabs,
            mode_id=img2img_inputs.tab_id("inpaint"),
            mode_state=inputs.mode,
            mode_value="inpaint",
        )
    )
    wire_paste_button(ctx, row.paste, row.prompt, target)
    toprow.wire_page_load(backend, demo, row)
    extra_networks.wire_page_load(backend, TAB, demo, networks)
    _wire_interrogate(backend, row, inputs, panel.message)


def _wire_interrogate(
    backend: Backend, row: toprow.Toprow, inputs: img2img_inputs.ModeInputs, message: gr.HTML
) -> None:
    """The Interrogate buttons put a description of the current mode's image into the prompt (A1111 replaces
    it): the img2img picture, the sketch, or the inpaint background, as A1111's process_interrogate."""

    def interrogate_with(model: str):
        def run(values: dict[Any, Any]):
            from modules.interrogate import InterrogatorUnavailable, check, interrogate, job_reporter
            from modules.models.errors import ModelLoadError

            prompt = values[row.prompt]
            mode = values[inputs.mode] or "img2img"
            try:
                if mode == "batch":
                    check(backend, model)
                    done = backend.jobs.run(
                        lambda job: _interrogate_batch(backend, values, inputs, model, job), label="interrogate"
                    )
                    return {row.prompt: gr.update(value=prompt), message: info_html(done)}
                picture = img2img_inputs.current_image(mode, values, inputs)
                if picture is None:
                    raise ValueError(f"Upload an image to the {img2img_inputs.MODES.get(mode, mode)} tab first.")
                check(backend, model)
                caption = backend.jobs.run(
                    lambda job: interrogate(backend, picture, model, job_reporter(job)), label="interrogate"
                )
            except (ValueError, OSError, ModelLoadError, InterrogatorUnavailable) as error:
                return {row.prompt: gr.update(value=prompt), message: error_html(describe_error(error))}
            return {row.prompt: gr.update(value=caption), message: ""}

        return run

    sources = {row.prompt, *inputs.image_inputs(), *inputs.batch_inputs()}
    for button, model in ((row.interrogate, "clip"), (row.deepbooru, "deepdanbooru")):
        if button is not None:
            button.click(interrogate_with(model), sources, [row.prompt, message], show_progress="minimal")


def _interrogate_batch(
    backend: Backend, values: dict[Any, Any], inputs: img2img_inputs.ModeInputs, model: str, job: Any
) -> str:
    """A1111's Interrogate in the Batch tab: each input image's description appended to ``<name>.txt`` in the
    output directory (the input directory when none is given); returns what was done, for the page."""
    from modules.images.limits import max_pixels, open_limited
    from modules.interrogate import interrogate, job_reporter

    files = img2img_inputs.batch_files(values, inputs)
    typed = (values.get(inputs.batch_output_dir) or "").strip()
    if not typed and values.get(inputs.batch_source) == "directory":
        typed = (values.get(inputs.batch_input_dir) or "").strip()
    if not typed:
        raise ValueError("Set an output directory: the descriptions are written there as .txt files.")
    folder = check_folder(typed, backend.paths, backend.flags, "Output directory")
    folder.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(files):
        job.update(job_no=number, job_count=len(files))
        picture = open_limited(path, max_pixels(backend.settings), path.name)
        text = interrogate(backend, picture.convert("RGB"), model, job_reporter(job))
        with open(folder / f"{path.stem}.txt", "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return f"Wrote descriptions of {len(files)} images to {folder}"


def _wire_mode_visibility(inputs: img2img_inputs.ModeInputs, inpaint: InpaintControls) -> None:
    def show(mode: str):
        return (
            gr.update(visible=mode in img2img_inputs.INPAINT_MODES or mode == "batch"),
            gr.update(visible=mode == "inpaint_sketch"),
        )

    inputs.mode.change(show, inputs.mode, [inpaint.group, inpaint.mask_alpha], queue=False, show_progress="hidden")


def _run_batch(
    ctx: UiContext,
    values: dict[Any, Any],
    inputs: img2img_inputs.ModeInputs,
    panel: output_panel.OutputPanel,
    buttons: runner.RunButtons,
    make_params,
    scale_by: float | None,
):
    """Submit the batch to the backend (one job per input image) and follow its jobs."""
    backend = ctx.backend
    started = time.perf_counter()
    try:
        folders = [(inputs.batch_output_dir, "Output directory"), (inputs.batch_mask_dir, "Mask directory")]
        if values.get(inputs.batch_source) == "directory":
            folders.append((inputs.batch_input_dir, "Input directory"))
        for component, label in folders:  # with --listen only the data folder and the command line's folders
            if (values.get(component) or "").strip():
                check_folder(values[component], backend.paths, backend.flags, label)
        batch = Img2ImgBatch(
            files=tuple(img2img_inputs.batch_files(values, inputs)),
            base=make_params(),
            mask_dir=(values[inputs.batch_mask_dir] or "").strip(),
            output_dir=(values[inputs.batch_output_dir] or "").strip(),
            scale_by=scale_by,
        )
        run = backend.generation.submit_img2img_batch(batch)
    except ValueError as error:
        yield {panel.message: error_html(describe_error(error))}
        return
    yield {**runner.running_updates(buttons, True), panel.message: ""}
    job = None
    while (job := run.next_job(job)) is not None:
        prefix = f"Image {run.number}/{run.total}: "
        yield {panel.job_id: job.id, panel.progress: runner.progress_html(backend, job, prefix)}
        yield from runner.follow(backend, job, panel.progress, panel.preview, prefix=prefix)
    problem = runner.outcome_message(run.failed_job) if run.failed_job is not None else None
    if run.input_error is not None:
        name, error = run.input_error
        problem = error_html(f"{name}: {describe_error(error)}")
    shown = output_panel.ShownResult(run.images, run.infotexts, 0, run.seeds, [])
    final = {
        panel.progress: "",
        panel.preview: gr.update(visible=False, value=None),
        panel.job_id: None,
        **runner.running_updates(buttons, False),
    }
    if run.images:
        ctx.last_infotext = shown.infotext(None)
        text = (
            f"Processed {len(run.images)} image(s) from {run.total} input(s). Time taken: "
            f"{format_seconds(time.perf_counter() - started)}"
        )
        final.update(output_panel.shown_updates(panel, shown, text))
    if problem is not None:
        final[panel.message] = problem
    yield final
