"""Settings read by image saving, grids, infotext and noise, declared with A1111 1.10's keys, labels and defaults.

One deliberate difference: ``randn_source`` defaults to "CPU" (A1111: "GPU") so that a seed gives the same
picture on every machine, GPU or not. Keys are A1111's so ``config.json`` files and API clients carry over.
"""

from __future__ import annotations

from modules.settings import sections
from modules.settings.registry import OptionInfo

_S = sections.SAVING_IMAGES
_P = sections.SAVING_PATHS
_D = sections.SAVING_TO_DIRS
_I = sections.INFOTEXT

FILENAME_HELP = "see the wiki page 'Custom Images Filename Name and Subdirectory' for the [tags]"
IMAGE_FORMATS = ("png", "jpg", "jpeg", "webp", "avif", "gif")


def check_format(value: str) -> str | None:
    """A file format setting must name a format images can be saved in (a typo would fail every save)."""
    if str(value).lower().lstrip(".") in IMAGE_FORMATS:
        return None
    return f"{value!r} is not an image format; use one of {', '.join(IMAGE_FORMATS)}"


OPTIONS: list[OptionInfo] = [
    # Saving images/grids
    OptionInfo("samples_save", True, "Always save all generated images", _S, "checkbox"),
    OptionInfo("samples_format", "png", "File format for images", _S, check=check_format),
    OptionInfo("samples_filename_pattern", "", "Images filename pattern", _S, info=FILENAME_HELP, restrict_api=True),
    OptionInfo("save_images_add_number", True, "Add number to filename when saving", _S, "checkbox"),
    OptionInfo("save_images_replace_action", "Replace", "Saving the image to an existing file", _S, "radio",
               choices=("Replace", "Add number suffix")),
    OptionInfo("grid_save", True, "Always save all generated image grids", _S, "checkbox"),
    OptionInfo("grid_format", "png", "File format for grids", _S, check=check_format),
    OptionInfo("grid_extended_filename", False, "Add extended info (seed, prompt) to filename when saving grid", _S,
               "checkbox"),
    OptionInfo("grid_only_if_multiple", True, "Do not save grids consisting of one picture", _S, "checkbox"),
    OptionInfo("grid_prevent_empty_spots", False, "Prevent empty spots in grid (when set to autodetect)", _S,
               "checkbox"),
    OptionInfo("n_rows", -1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size", _S,
               "slider", minimum=-1, maximum=16, step=1),
    OptionInfo("font", "", "Font for image grids that have text", _S),
    OptionInfo("grid_text_active_color", "#000000", "Text color for image grids", _S),
    OptionInfo("grid_text_inactive_color", "#999999", "Inactive text color for image grids", _S),
    OptionInfo("grid_background_color", "#ffffff", "Background color for image grids", _S),
    OptionInfo("jpeg_quality", 80, "Quality for saved jpeg and avif images", _S, "slider", minimum=1, maximum=100,
               step=1),
    OptionInfo("webp_lossless", False, "Use lossless compression for webp images", _S, "checkbox"),
    # Paths for saving
    OptionInfo("outdir_samples", "", "Output directory for images; if empty, defaults to three directories below",
               _P, restrict_api=True, is_path=True),
    OptionInfo("outdir_txt2img_samples", "outputs/txt2img-images", "Output directory for txt2img images", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_img2img_samples", "outputs/img2img-images", "Output directory for img2img images", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_extras_samples", "outputs/extras-images", "Output directory for images from extras tab", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_grids", "", "Output directory for grids; if empty, defaults to two directories below", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_txt2img_grids", "outputs/txt2img-grids", "Output directory for txt2img grids", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_img2img_grids", "outputs/img2img-grids", "Output directory for img2img grids", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_save", "log/images", "Directory for saving images using the Save button", _P,
               restrict_api=True, is_path=True),
    OptionInfo("outdir_init_images", "outputs/init-images", "Directory for saving init images when using img2img",
               _P, restrict_api=True, is_path=True),
    # Saving to a directory
    OptionInfo("save_to_dirs", True, "Save images to a subdirectory", _D, "checkbox"),
    OptionInfo("grid_save_to_dirs", True, "Save grids to a subdirectory", _D, "checkbox"),
    OptionInfo("use_save_to_dirs_for_ui", False, 'When using "Save" button, save images to a subdirectory', _D,
               "checkbox"),
    OptionInfo("directories_filename_pattern", "[date]", "Directory name pattern", _D, info=FILENAME_HELP,
               restrict_api=True),
    OptionInfo("directories_max_prompt_words", 8, "Max prompt words for [prompt_words] pattern", _D, "slider",
               minimum=1, maximum=20, step=1),
    # Infotext
    OptionInfo("enable_pnginfo", True, "Write infotext to metadata of the generated image", _I, "checkbox"),
    OptionInfo("save_txt", False, "Create a text file with infotext next to every generated image", _I, "checkbox"),
    OptionInfo("add_model_name_to_info", True, "Add model name to infotext", _I, "checkbox"),
    OptionInfo("add_model_hash_to_info", True, "Add model hash to infotext", _I, "checkbox"),
    OptionInfo("add_vae_name_to_info", True, "Add VAE name to infotext", _I, "checkbox"),
    OptionInfo("add_vae_hash_to_info", True, "Add VAE hash to infotext", _I, "checkbox"),
    OptionInfo("add_user_name_to_info", False, "Add user name to infotext when authenticated", _I, "checkbox"),
    OptionInfo("add_version_to_infotext", True, "Add program version to infotext", _I, "checkbox"),
    OptionInfo("infotext_skip_pasting", [], "Disregard fields from pasted infotext", _I, "multiselect"),
    OptionInfo("infotext_styles", "Apply if any", "Infer styles from prompts of pasted infotext", _I, "radio",
               choices=("Ignore", "Apply", "Discard", "Apply if any"),
               info="when reading generation parameters from text into UI"),
    # Noise and prompt-editing compatibility
    OptionInfo("randn_source", "CPU", "Random number generator source.", sections.STABLE_DIFFUSION, "radio",
               choices=("GPU", "CPU", "NV"), infotext="RNG",
               info="changes seeds drastically; use CPU to produce the same picture across different videocard "
               "vendors; use NV to produce same picture as on NVidia videocards"),
    OptionInfo("eta_noise_seed_delta", 0, "Eta noise seed delta", sections.SAMPLER_PARAMS, "number", infotext="ENSD",
               info="ENSD; does not improve anything, just produces different results for ancestral samplers - "
               "only useful for reproducing images"),
    OptionInfo("auto_backcompat", True, "Automatic backward compatibility", sections.COMPATIBILITY, "checkbox",
               info="automatically enable options for backwards compatibility when importing generation "
               "parameters from infotext that has program version."),
    OptionInfo("use_old_hires_fix_width_height", False, "For hires fix, use width/height sliders to set final "
               "resolution rather than first pass (disables Upscale by, Resize width/height to).",
               sections.COMPATIBILITY, "checkbox"),
    OptionInfo("use_old_scheduling", False, "Use old prompt editing timelines.", sections.COMPATIBILITY, "checkbox",
               infotext="Old prompt editing timelines",
               info="For [red:green:N]; old: If N < 1, it's a fraction of steps (and hires fix uses range from 0 "
               "to 1), if N >= 1, it's an absolute number of steps; new: If N has a decimal point in it, it's a "
               "fraction of steps (and hires fix uses range from 1 to 2), othewrwise it's an absolute number of "
               "steps"),
]  # fmt: skip

DEFAULTS = {option.key: option.default for option in OPTIONS}
