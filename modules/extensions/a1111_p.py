"""A1111's attribute names on the job's ``ProcessingState`` (``p``), for the scripts that read them.

The core keeps what was asked in ``p.params`` (frozen) and only the values that change during a run on
``p``. A1111 scripts read everything from ``p`` (``p.init_images``, ``p.denoising_strength``,
``p.outpath_samples``, ``p.enable_hr``...) and change it before rendering again with
``processing.process_images(p)`` (which reads these attributes back, see ``modules/a1111/processing.py``).
``add_a1111_names`` copies them onto ``p`` once, before the first script hook, without replacing anything
``p`` already has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FROM_PARAMS = (
    "denoising_strength",
    "subseed_strength",
    "seed_resize_from_h",
    "seed_resize_from_w",
    "tiling",
    "do_not_save_samples",
    "do_not_save_grid",
    "enable_hr",
    "hr_scale",
    "hr_upscaler",
    "hr_second_pass_steps",
    "hr_resize_x",
    "hr_resize_y",
    "hr_sampler_name",
    "hr_scheduler",
    "hr_prompt",
    "hr_negative_prompt",
    "resize_mode",
    "image_cfg_scale",
    "mask_blur",
    "mask_blur_x",
    "mask_blur_y",
    "inpainting_fill",
    "inpaint_full_res",
    "inpaint_full_res_padding",
    "inpainting_mask_invert",
    "initial_noise_multiplier",
    "eta",
    "s_churn",
    "s_tmax",
    "s_tmin",
    "s_noise",
)


def add_a1111_names(p: Any, data_dir: Path) -> None:
    """Give ``p`` A1111's attribute names (values from ``p.params`` and the output folders)."""
    from modules.processing.outputs import output_dir

    params = p.params
    values: dict[str, Any] = {name: getattr(params, name) for name in FROM_PARAMS}
    values.update(
        init_images=list(params.init_images),
        image_mask=params.mask,
        styles=list(params.styles),
        override_settings=dict(params.override_settings),
        restore_faces=False,
        outpath_samples=str(output_dir(p, data_dir, grid=False)),
        outpath_grids=str(output_dir(p, data_dir, grid=True)),
        sd_model_name=getattr(p.model.checkpoint, "model_name", None) if p.model is not None else None,
        sd_model_hash=getattr(p.model.checkpoint, "short_hash", None) if p.model is not None else None,
        prompt_for_display=None,
        extra_network_data={},
        overlay_images=None,
        color_corrections=None,
        paste_to=None,
        is_api=False,
        disable_extra_networks=False,
    )
    if params.enable_hr:
        values.update(all_hr_prompts=list(p.all_prompts), all_hr_negative_prompts=list(p.all_negative_prompts))
    for name, value in values.items():
        if not hasattr(p, name):
            setattr(p, name, value)
