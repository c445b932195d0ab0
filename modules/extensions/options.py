"""Settings the extension system declares: which extensions are switched off (A1111's keys in config.json)."""

from __future__ import annotations

from modules.settings import sections as s
from modules.settings.registry import OptionInfo

DISABLE_ALL_CHOICES = ("none", "extra", "all")

OPTIONS = [
    OptionInfo(
        "disabled_extensions",
        [],
        "Disabled extensions",
        s.EXTENSIONS,
        "multiselect",
        needs_restart=True,
        restrict_api=True,
        info="folder names of extensions that are not loaded; edit in the Extensions tab",
    ),
    OptionInfo(
        "disable_all_extensions",
        "none",
        "Disable all extensions (preserves the list of disabled extensions)",
        s.EXTENSIONS,
        "radio",
        choices=DISABLE_ALL_CHOICES,
        needs_restart=True,
        restrict_api=True,
        info="extra = only those shipped with the program are loaded; all = none are",
    ),
]
