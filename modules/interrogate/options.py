"""Settings of the Interrogate section that DeepBooru tagging reads (A1111 shared_options names)."""

from __future__ import annotations

from modules.settings.registry import OptionInfo
from modules.settings.sections import INTERROGATE

OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        "interrogate_return_ranks", False, "Include ranks of model tags matches in results.", INTERROGATE, "checkbox"
    ),
    OptionInfo(
        "interrogate_deepbooru_score_threshold",
        0.5,
        "deepbooru: score threshold",
        INTERROGATE,
        "slider",
        minimum=0,
        maximum=1,
        step=0.01,
    ),
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
)
