"""Settings of the Interrogate section (A1111 1.10 shared_options names, labels and defaults)."""

from __future__ import annotations

from modules.interrogate.categories import SHIPPED, category_names
from modules.settings.registry import OptionInfo
from modules.settings.sections import INTERROGATE, UPSCALING


def _slider(key: str, default: float, label: str, low: float, high: float, step: float) -> OptionInfo:
    return OptionInfo(key, default, label, INTERROGATE, "slider", minimum=low, maximum=high, step=step)


OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo("interrogate_keep_models_in_memory", False, "Keep models in VRAM", INTERROGATE, "checkbox"),
    OptionInfo(
        "interrogate_return_ranks", False, "Include ranks of model tags matches in results.", INTERROGATE, "checkbox"
    ),
    _slider("interrogate_clip_num_beams", 1, "BLIP: num_beams", 1, 16, 1),
    _slider("interrogate_clip_min_length", 24, "BLIP: minimum description length", 1, 128, 1),
    _slider("interrogate_clip_max_length", 48, "BLIP: maximum description length", 1, 256, 1),
    OptionInfo(
        "interrogate_clip_dict_limit",
        1500,
        "CLIP: maximum number of lines in text file",
        INTERROGATE,
        "number",
        info="0 = No limit",
    ),
    OptionInfo(
        "interrogate_clip_skip_categories",
        [],
        "CLIP: skip inquire categories",
        INTERROGATE,
        "multiselect",
        choices=lambda: category_names(SHIPPED),
    ),
    _slider("interrogate_deepbooru_score_threshold", 0.5, "deepbooru: score threshold", 0, 1, 0.01),
    OptionInfo("deepbooru_sort_alpha", True, "deepbooru: sort tags alphabetically", INTERROGATE, "checkbox"),
    OptionInfo("deepbooru_use_spaces", True, "deepbooru: use spaces in tags", INTERROGATE, "checkbox"),
    OptionInfo("deepbooru_escape", True, "deepbooru: escape (\\) brackets", INTERROGATE, "checkbox"),
    OptionInfo(
        "deepbooru_filter_tags",
        "",
        "deepbooru: filter out those tags",
        INTERROGATE,
        "textbox",
        info="separate by comma",
    ),
    OptionInfo(
        "postprocessing_existing_caption_action",
        "Ignore",
        "Action for existing captions",
        UPSCALING,
        "radio",
        choices=("Ignore", "Keep", "Prepend", "Append"),
        info="when generating new captions, what to do with the ones already beside the image",
    ),
)
