"""The settings the app itself declares, and assembly of every subsystem's declarations into one registry.

Each subsystem keeps its options beside its code (``modules/<subsystem>/options.py`` exposing ``OPTIONS``);
this module only lists those modules, so the registry is built from one place. Importing it is cheap: option
modules import nothing heavy.
"""

from __future__ import annotations

import importlib

from modules.settings import sections as s
from modules.settings.registry import OptionInfo, OptionRegistry

OPTION_MODULES = (
    "modules.models.options",
    "modules.processing.options",
    "modules.processing.sampler_options",
    "modules.images.options",
    "modules.upscaling.options",
    "modules.interrogate.options",
    "modules.extensions.options",
    "modules.api.options",
    "modules.settings.limit_options",
)

CORE_OPTIONS = [
    OptionInfo(
        "localization",
        "None",
        "Localization",
        s.USER_INTERFACE,
        "dropdown",
        needs_reload_ui=True,
        info="language of the interface; press Apply settings, then Reload UI",
    ),
    OptionInfo(
        "quicksettings_list",
        ["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
        "Quicksettings list",
        s.USER_INTERFACE,
        "multiselect",
        needs_reload_ui=True,
        info="settings shown in the top bar of every page",
    ),
    OptionInfo("return_grid", True, "Show grid in gallery", s.USER_INTERFACE, "checkbox"),
    OptionInfo(
        "send_seed", True, "Send seed when sending prompt or image to other interface", s.USER_INTERFACE, "checkbox"
    ),
    OptionInfo(
        "send_size", True, "Send size when sending prompt or image to another interface", s.USER_INTERFACE, "checkbox"
    ),
    OptionInfo("show_progressbar", True, "Show progressbar", s.LIVE_PREVIEWS, "checkbox"),
    OptionInfo("live_previews_enable", True, "Show live previews of the created image", s.LIVE_PREVIEWS, "checkbox"),
    OptionInfo(
        "show_progress_every_n_steps",
        10,
        "Live preview display period",
        s.LIVE_PREVIEWS,
        "slider",
        minimum=-1,
        maximum=32,
        step=1,
        info="in sampling steps; -1 = only at the end",
    ),
    OptionInfo(
        "show_progress_type",
        "Approx cheap",
        "Live preview method",
        s.LIVE_PREVIEWS,
        "radio",
        choices=("Full", "Approx cheap"),
        info="Full = decode with the VAE; Approx cheap = linear latent-to-RGB",
    ),
    OptionInfo(
        "live_preview_refresh_period",
        1000,
        "Progressbar and preview update period",
        s.LIVE_PREVIEWS,
        "number",
        minimum=100,
        maximum=10000,
        info="in milliseconds",
    ),
    OptionInfo(
        "api_enable_requests",
        True,
        "Allow http:// and https:// URLs for input images in API",
        s.API,
        "checkbox",
        restrict_api=True,
    ),
]


def build_registry() -> OptionRegistry:
    registry = OptionRegistry(CORE_OPTIONS)
    for name in OPTION_MODULES:
        module = importlib.import_module(name)
        for option in module.OPTIONS:
            registry.add(option)
    registry.set_choices("quicksettings_list", lambda: [option.key for option in registry])
    return registry
