"""Extras tab: upscale and restore faces in one image, uploaded files or a folder (postprocessing.run_extras).

Results are saved to ``outputs/extras-images`` (or the batch output folder) with the source image's
infotext kept and A1111's ``postprocessing`` text added.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from modules.images.limits import check_size, max_pixels, open_limited
from modules.images.split_flip import FLIP_CHOICES
from modules.interrogate.caption import CHOICES as CAPTION_CHOICES
from modules.settings.locks import check_folder
from modules.ui import output_panel, runner
from modules.ui.common import describe_error, error_html, format_seconds
from modules.ui.context import SendTarget, UiContext
from modules.ui.img2img_inputs import IMAGE_SUFFIXES
from modules.ui.save_log import output_folder
from modules.ui.tab_txt2img import generation_outputs

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

TAB = "extras"


def upscaler_names(backend: Backend) -> list[str]:
    return backend.upscalers.names()


def _inputs(backend: Backend, source: str, single: Any, files: Any, input_dir: str) -> list[tuple[Any, str]]:
    """(loader, stem) pairs for the chosen source; ValueError tells the user what is missing or refused.

    Only the headers are read here (sizes checked against ``max_image_pixels``); each image is decoded when
    its turn comes, so a batch never holds more than one source image in memory.
    """
    if source == "single":
        if single is None:
            raise ValueError("Upload an image first.")
        check_size(single.width, single.height, max_pixels(backend.settings), "The image")
        return [(lambda: single, "")]
    if source == "batch":
        paths = [Path(getattr(item, "name", item)) for item in files or []]
    else:
        folder = check_folder(input_dir or "", backend.paths, backend.flags, "Input directory")
        if not (input_dir or "").strip() or not folder.is_dir():
            raise ValueError(f"Input directory {(input_dir or '').strip()!r} does not exist on the server.")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError("No images to process.")
    limit = max_pixels(backend.settings)
    for path in paths:
        try:
            with Image.open(path) as opened:  # the header only
                check_size(opened.width, opened.height, limit, path.name)
        except Image.DecompressionBombError as error:
            raise ValueError(f"{path.name}: {error}") from error
    return [(lambda path=path: open_limited(path, limit, path.name), path.stem) for path in paths]


def build(ctx: UiContext, demo: gr.Blocks) -> None:
    backend = ctx.backend
    with gr.Row(equal_height=False, elem_id="extras_row"):
        with gr.Column(scale=1, elem_id="extras_settings"):
            source = gr.State("single")
            with gr.Tabs(elem_id="mode_extras") as mode_tabs:
                with gr.Tab("Single Image", id="extras_single_tab", elem_id="extras_single_tab") as tab_single:
                    image = gr.Image(
                        label="Source", type="pil", elem_id="extras_image", height=400, sources=["upload", "clipboard"]
                    )
                with gr.Tab(
                    "Batch Process", id="extras_batch_process_tab", elem_id="extras_batch_process_tab"
                ) as tab_batch:
                    files = gr.File(
                        label="Batch Process", file_count="multiple", file_types=["image"], elem_id="extras_image_batch"
                    )
                with gr.Tab(
                    "Batch from Directory", id="extras_batch_directory_tab", elem_id="extras_batch_directory_tab"
                ) as tab_dir:
                    input_dir = gr.Textbox(
                        label="Input directory",
                        elem_id="extras_batch_input_dir",
                        placeholder="A directory on the same machine where the server is running.",
                    )
                    output_dir = gr.Textbox(
                        label="Output directory",
                        elem_id="extras_batch_output_dir",
                        placeholder="Leave blank to save images to the default path.",
                    )
                    show_results = gr.Checkbox(
                        label="Show result images", value=True, elem_id="extras_show_extras_results"
                    )
            for name, tab in (("single", tab_single), ("batch", tab_batch), ("directory", tab_dir)):
                tab.select(lambda name=name: name, None, source, queue=False, show_progress="hidden")
            with gr.Row(elem_id="extras_generate_box"):
                interrupt = gr.Button("Interrupt", elem_id="extras_interrupt", visible=False, variant="stop")
                skip = gr.Button("Skip", elem_id="extras_skip", visible=False)
                generate = gr.Button("Generate", variant="primary", elem_id="extras_generate")
            resize_tab = gr.State("by")
            with gr.Tabs(elem_id="extras_resize_mode"):
                with gr.Tab("Scale by", id="extras_scale_by_tab", elem_id="extras_scale_by_tab") as tab_by:
                    scale_by = gr.Slider(
                        minimum=1.0, maximum=8.0, step=0.05, label="Resize", value=4, elem_id="extras_upscaling_resize"
                    )
                with gr.Tab("Scale to", id="extras_scale_to_tab", elem_id="extras_scale_to_tab") as tab_to:
                    with gr.Row():
                        to_width = gr.Slider(
                            minimum=64,
                            maximum=8192,
                            step=8,
                            label="Width",
                            value=512,
                            elem_id="extras_upscaling_resize_w",
                        )
                        to_height = gr.Slider(
                            minimum=64,
                            maximum=8192,
                            step=8,
                            label="Height",
                            value=512,
                            elem_id="extras_upscaling_resize_h",
                        )
                    crop = gr.Checkbox(label="Crop to fit", value=True, elem_id="extras_upscaling_crop")
            tab_by.select(lambda: "by", None, resize_tab, queue=False, show_progress="hidden")
            tab_to.select(lambda: "to", None, resize_tab, queue=False, show_progress="hidden")
            names = upscaler_names(backend)
            with gr.Row():
                upscaler_1 = gr.Dropdown(label="Upscaler 1", choices=names, value="None", elem_id="extras_upscaler_1")
                upscaler_2 = gr.Dropdown(label="Upscaler 2", choices=names, value="None", elem_id="extras_upscaler_2")
            visibility = gr.Slider(
                minimum=0.0,
                maximum=1.0,
                step=0.001,
                label="Upscaler 2 visibility",
                value=0.0,
                elem_id="extras_upscaler_2_visibility",
            )
            # A1111's GFPGAN and CodeFormer postprocessing sections (their weights: models/GFPGAN, models/Codeformer)
            with gr.Accordion("GFPGAN", open=False, elem_id="extras_gfpgan"):
                gfpgan_enable = gr.Checkbox(label="Enable", value=False, elem_id="extras_gfpgan_enable")
                gfpgan_visibility = gr.Slider(
                    minimum=0.0,
                    maximum=1.0,
                    step=0.001,
                    label="Visibility",
                    value=1.0,
                    elem_id="extras_gfpgan_visibility",
                )
            with gr.Accordion("CodeFormer", open=False, elem_id="extras_codeformer"):
                codeformer_enable = gr.Checkbox(label="Enable", value=False, elem_id="extras_codeformer_enable")
                codeformer_visibility = gr.Slider(
                    minimum=0.0,
                    maximum=1.0,
                    step=0.001,
                    label="Visibility",
                    value=1.0,
                    elem_id="extras_codeformer_visibility",
                )
                codeformer_weight = gr.Slider(
                    minimum=0.0,
                    maximum=1.0,
                    step=0.001,
                    label="Weight (0 = maximum effect, 1 = minimum effect)",
                    value=0.2,
                    elem_id="extras_codeformer_weight",
                )
            with gr.Accordion("Split oversized images", open=False, elem_id="extras_split_oversized"):
                split_enable = gr.Checkbox(label="Enable", value=False, elem_id="postprocess_split_enable")
                split_threshold = gr.Slider(
                    minimum=0.0,
                    maximum=1.0,
                    step=0.05,
                    label="Threshold",
                    value=0.5,
                    elem_id="postprocess_split_threshold",
                )
                overlap_ratio = gr.Slider(
                    minimum=0.0,
                    maximum=0.9,
                    step=0.05,
                    label="Overlap ratio",
                    value=0.2,
                    elem_id="postprocess_overlap_ratio",
                )
            with gr.Accordion("Auto focal point crop", open=False, elem_id="extras_focal_crop"):
                focal_enable = gr.Checkbox(label="Enable", value=False, elem_id="postprocess_focal_crop_enable")
                focal_sliders = [
                    gr.Slider(minimum=0.0, maximum=1.0, step=0.05, label=label, value=value, elem_id=elem_id)
                    for label, value, elem_id in (
                        ("Focal point face weight", 0.9, "postprocess_focal_crop_face_weight"),
                        ("Focal point entropy weight", 0.15, "postprocess_focal_crop_entropy_weight"),
                        ("Focal point edges weight", 0.5, "postprocess_focal_crop_edges_weight"),
                    )
                ]
                focal_debug = gr.Checkbox(
                    label="Create debug image", value=False, elem_id="train_process_focal_crop_debug"
                )
            with gr.Accordion("Create flipped copies", open=False, elem_id="extras_flipped_copies"):
                flip_enable = gr.Checkbox(label="Enable", value=False, elem_id="postprocess_flip_enable")
                flip_options = gr.CheckboxGroup(
                    choices=list(FLIP_CHOICES),
                    value=["Horizontal"],
                    show_label=False,
                    elem_id="postprocess_flip_options",
                )
            with gr.Accordion("Caption", open=False, elem_id="extras_caption"):
                caption_enable = gr.Checkbox(label="Enable", value=False, elem_id="postprocess_caption_enable")
                caption_options = gr.CheckboxGroup(
                    choices=list(CAPTION_CHOICES),
                    value=["Deepbooru"],
                    show_label=False,
                    elem_id="postprocess_caption_options",
                )
            extensions = backend.extensions  # A1111 Extras scripts of extensions, below ours
            script_controls = extensions.build_postprocessing_ui() if extensions is not None else {}
        with gr.Column(scale=1, elem_id="extras_results_column"):
            panel = output_panel.build(ctx, TAB)

    buttons = runner.RunButtons(generate, interrupt, skip)
    runner.wire_interrupt(backend, buttons, panel.job_id)

    def work(values: dict[Any, Any], pairs: list[tuple[Image.Image, str]]):
        from modules.images.save import save_image
        from modules.interrogate import job_reporter
        from modules.interrogate.caption import describers_of, make_caption, write_caption
        from modules.postprocessing import run_extras_all

        registry = backend.upscalers
        restorers = backend.face_restorers
        gfpgan, codeformer = restorer_amounts(values)
        custom_dir = (values[output_dir] or "").strip() if values[source] == "directory" else ""
        folder = check_folder(custom_dir, backend.paths, backend.flags, "Output directory") if custom_dir else None
        folder = folder or output_folder(backend, TAB)

        keep_results = values[source] != "directory" or bool(values[show_results])
        chosen_captions = tuple(values[caption_options] or ()) if values[caption_enable] else ()
        script_values = {
            name: {arg: values[c] for arg, c in controls.items()} for name, controls in script_controls.items()
        }

        def task(job):
            shown, texts, done = [], [], 0
            for number, (load, stem) in enumerate(pairs):
                if job.interrupted:
                    break
                picture = load()
                job.update(job_no=number, job_count=len(pairs), sampling_step=0, sampling_steps=0, textinfo="Upscaling")

                def progress(done: int, total: int) -> None:
                    job.update(sampling_step=done, sampling_steps=total)

                results, _info_html = run_extras_all(
                    picture,
                    registry=registry,
                    resize_mode=1 if values[resize_tab] == "to" else 0,
                    upscaling_resize=float(values[scale_by]),
                    upscaling_resize_w=int(values[to_width]),
                    upscaling_resize_h=int(values[to_height]),
                    upscaling_crop=bool(values[crop]),
                    upscaler_1=values[upscaler_1] or "None",
                    upscaler_2=values[upscaler_2] or "None",
                    extras_upscaler_2_visibility=float(values[visibility]),
                    gfpgan_visibility=gfpgan,
                    codeformer_visibility=codeformer,
                    codeformer_weight=float(values[codeformer_weight]),
                    face_restorers=restorers,
                    split_oversized=bool(values[split_enable]),
                    split_threshold=float(values[split_threshold]),
                    overlap_ratio=float(values[overlap_ratio]),
                    flip_options=tuple(values[flip_options] or ()) if values[flip_enable] else (),
                    focal_crop=bool(values[focal_enable]),
                    focal_face_weight=float(values[focal_sliders[0]]),
                    focal_entropy_weight=float(values[focal_sliders[1]]),
                    focal_edges_weight=float(values[focal_sliders[2]]),
                    focal_debug=bool(values[focal_debug]),
                    progress=progress,
                )
                if script_controls:
                    results = [_extension_scripts(extensions, result, script_values) for result in results]
                caption = ""
                if chosen_captions and results:
                    job.update(textinfo="Captioning")
                    caption = make_caption(results[0], chosen_captions, describers_of(backend, job_reporter(job)))
                for piece_number, result in enumerate(results):
                    parameters = result.info.get("parameters")
                    extra = (
                        {"postprocessing": result.info["postprocessing"]} if "postprocessing" in result.info else None
                    )
                    name = stem if not piece_number else f"{stem}-{piece_number}"
                    saved = save_image(
                        result,
                        folder,
                        infotext=parameters,
                        extra_text=extra,
                        settings=backend.settings,
                        forced_filename=name if custom_dir and stem else None,
                        no_prompt=True,
                        short_filename=True,
                        save_to_dirs=False if custom_dir else None,
                    )
                    if caption:
                        write_caption(
                            saved, caption, str(backend.settings.get("postprocessing_existing_caption_action"))
                        )
                    done += 1
                    if keep_results:  # a folder run without "show results" keeps nothing in memory
                        shown.append(result)
                        texts.append(result.info.get("postprocessing", "") or "")
                del picture, results
            if not done:
                from modules.jobs.queue import JobInterrupted

                raise JobInterrupted("Interrupted before any image was finished")
            return shown, texts

        return backend.jobs.submit(task, label="extras")

    def finish_for(values):
        def finish(outcome, seconds: float):
            images, texts = outcome
            if values[source] == "directory" and not values[show_results]:
                images, texts = [], []
            shown = output_panel.ShownResult(images, texts)
            return output_panel.shown_updates(panel, shown, f"Time taken: {format_seconds(seconds)}")

        return finish

    def restorer_amounts(values: dict[Any, Any]) -> tuple[float, float]:
        gfpgan = float(values[gfpgan_visibility]) if values[gfpgan_enable] else 0.0
        codeformer = float(values[codeformer_visibility]) if values[codeformer_enable] else 0.0
        return gfpgan, codeformer

    def run(values: dict[Any, Any]):
        from modules.models.errors import ModelLoadError

        try:
            pairs = _inputs(backend, values[source], values[image], values[files], values[input_dir])
            for name, amount in zip(("GFPGAN", "CodeFormer"), restorer_amounts(values), strict=True):
                if amount > 0:
                    backend.face_restorers.require_files(name)  # a missing file is named before any work
            if values[caption_enable]:
                from modules.interrogate.caption import require_files as require_caption_files

                require_caption_files(backend, values[caption_options] or ())
        except (ValueError, OSError, ModelLoadError) as error:
            yield {panel.message: error_html(describe_error(error))}
            return
        yield from runner.run(
            backend,
            buttons,
            panel.job_id,
            panel.progress,
            panel.preview,
            panel.message,
            lambda: work(values, pairs),
            finish_for(values),
        )

    inputs = {
        source,
        image,
        files,
        input_dir,
        output_dir,
        show_results,
        resize_tab,
        scale_by,
        to_width,
        to_height,
        crop,
        upscaler_1,
        upscaler_2,
        visibility,
        gfpgan_enable,
        gfpgan_visibility,
        codeformer_enable,
        codeformer_visibility,
        codeformer_weight,
        split_enable,
        split_threshold,
        overlap_ratio,
        flip_enable,
        flip_options,
        focal_enable,
        *focal_sliders,
        focal_debug,
        caption_enable,
        caption_options,
        *(component for controls in script_controls.values() for component in controls.values()),
    }
    outputs = generation_outputs(buttons, panel)
    generate.click(run, inputs, outputs, show_progress="hidden", concurrency_limit=None)
    ctx.add_target(
        SendTarget(
            TAB,
            TAB,
            [],
            image=image,
            mode_tabs=mode_tabs,
            mode_id="extras_single_tab",
            mode_state=source,
            mode_value="single",
        )
    )

    def refresh_upscalers():
        names = upscaler_names(backend)
        return gr.update(choices=names), gr.update(choices=names)

    demo.load(refresh_upscalers, None, [upscaler_1, upscaler_2], show_progress="hidden", queue=False)


def _extension_scripts(extensions: Any, result: Image.Image, values: dict[str, dict[str, Any]]) -> Image.Image:
    """Extensions' Extras scripts on one result; their infotext entries join its postprocessing text."""
    from modules.postprocessing import postprocessing_infotext

    info = dict(result.info)
    image, added = extensions.run_postprocessing_scripts(result, values)
    image.info.update(info)
    if added:
        text = ", ".join(part for part in (info.get("postprocessing"), postprocessing_infotext(added)) if part)
        image.info["postprocessing"] = text
    return image
