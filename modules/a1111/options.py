"""A1111's ``shared.opts`` / ``shared.OptionInfo`` / ``shared.options_section`` over the Backend's settings.

A1111 declares an option as ``OptionInfo(default, label, gr.Slider, {"minimum": 0, ...}, section=(id, label))``
without its key; the key comes with ``opts.add_option(key, info)`` or ``options_section``. ``to_option`` turns
that into the program's typed ``modules.settings.registry.OptionInfo``. ``Options`` reads and writes the
settings of the resolved Backend at each access, so a value changed in Settings is seen at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modules.a1111 import _resolve
from modules.settings import registry

EXTENSION_CATEGORY = "Uncategorized"
DEFAULT_SECTION = ("extensions_options", "Extensions")
COMPONENTS = {  # Gradio class name -> the settings registry's component kind
    "slider": "slider",
    "checkbox": "checkbox",
    "dropdown": "dropdown",
    "radio": "radio",
    "checkboxgroup": "multiselect",
    "number": "number",
    "textbox": "textbox",
    "colorpicker": "textbox",
    "code": "textbox",
    "textarea": "textbox",
}


# A1111 1.10 settings this program does not declare, at A1111's defaults: extensions read them unguarded.
A1111_DEFAULTS: dict[str, Any] = {
    "temp_dir": "",
    "clean_temp_dir_at_start": False,
    "save": True,
    "samples_save": True,
    "grid_save": True,
    "return_grid": True,
    "img2img_background_color": "#ffffff",
    "export_for_4chan": True,
    "img_downscale_threshold": 4.0,
    "target_side_length": 4000,
    "use_original_name_batch": True,
    "use_upscaler_name_as_suffix": False,
    "save_selected_only": True,
    "save_init_img": False,
    "hide_ui_dir_config": False,
    "do_not_show_images": False,
    "js_modal_lightbox": True,
    "show_progressbar": True,
    "live_previews_enable": True,
    "show_progress_every_n_steps": 10,
    "enable_emphasis": True,
    "use_old_emphasis_implementation": False,
    "add_model_hash_to_info": True,
    "add_model_name_to_info": True,
    "add_version_to_infotext": True,
    "face_restoration": False,
    "face_restoration_model": "CodeFormer",
    "code_former_weight": 0.5,
    "sd_vae_as_default": True,
    "sd_hypernetwork": "None",
    "localization": "None",
    "gradio_theme": "Default",
    "keyedit_precision_attention": 0.1,
    "keyedit_precision_extra": 0.05,
    "keyedit_delimiters": r".,\/!?%^*;:{}=`~() ",
    "extra_networks_default_multiplier": 1.0,
    "lora_preferred_name": "Alias from file",
    "list_hidden_files": True,
    "disable_mmap_load_safetensors": False,
}


class OptionInfo:
    """A1111's option declaration (key-less); chainable ``info()``, ``needs_reload_ui()``, ``needs_restart()``."""

    def __init__(
        self,
        default: Any = None,
        label: str = "",
        component: Any = None,
        component_args: Any = None,
        onchange: Callable[[], Any] | None = None,
        section: tuple[str, str] | None = None,
        refresh: Callable[[], Any] | None = None,
        comment_before: str = "",
        comment_after: str = "",
        infotext: str | None = None,
        restrict_api: bool = False,
        category_id: str | None = None,
    ) -> None:
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api
        self.do_not_save = False
        self.reload_ui = False
        self.restart = False

    def link(self, label: str, url: str) -> OptionInfo:
        self.comment_before += f"[{label}]({url})"
        return self

    def js(self, label: str, js_func: str) -> OptionInfo:
        return self

    def info(self, info: str) -> OptionInfo:
        self.comment_after += info
        return self

    def html(self, html: str) -> OptionInfo:
        self.comment_after += html
        return self

    def needs_restart(self) -> OptionInfo:
        self.restart = True
        return self

    def needs_reload_ui(self) -> OptionInfo:
        self.reload_ui = True
        return self


class OptionHTML(OptionInfo):
    """A1111's text-only settings entry; kept as a read-only note (never saved)."""

    def __init__(self, text: str) -> None:
        super().__init__(str(text).strip(), label="")
        self.do_not_save = True


def options_section(section_identifier: tuple, options_dict: dict[str, OptionInfo]) -> dict[str, OptionInfo]:
    """A1111: stamp ``section`` (and the category, when given as a 3-tuple) on each option of the dict."""
    for value in options_dict.values():
        if len(section_identifier) == 2:
            value.section = section_identifier
        elif len(section_identifier) == 3:
            value.section, value.category_id = section_identifier[1:], section_identifier[0]
    return options_dict


def _component_kind(info: OptionInfo, args: dict[str, Any]) -> str:
    name = getattr(info.component, "__name__", "") or type(info.component).__name__
    kind = COMPONENTS.get(name.lower())
    if kind is not None:
        return kind
    if isinstance(info.default, bool):
        return "checkbox"
    if isinstance(info.default, (int, float)):
        return "slider" if "minimum" in args and "maximum" in args else "number"
    if isinstance(info.default, list):
        return "multiselect"
    return "textbox"


def to_option(key: str, info: OptionInfo) -> registry.OptionInfo:
    """The program's typed option for A1111's ``(key, OptionInfo)``."""
    args = info.component_args() if callable(info.component_args) else dict(info.component_args or {})
    section_id, section_label = (tuple(info.section) + ("", ""))[:2] if info.section else DEFAULT_SECTION
    section = registry.Section(str(section_id), str(section_label or section_id), EXTENSION_CATEGORY)
    choices = args.get("choices")
    return registry.OptionInfo(
        key,
        info.default,
        str(info.label or key),
        section,
        _component_kind(info, args),
        choices=list(choices) if isinstance(choices, (list, tuple)) else choices,
        minimum=args.get("minimum"),
        maximum=args.get("maximum"),
        step=args.get("step"),
        info=str(info.comment_after or ""),
        needs_reload_ui=info.reload_ui,
        needs_restart=info.restart,
        infotext=info.infotext,
        restrict_api=bool(info.restrict_api),
    )


class Options:
    """``shared.opts``: attribute read/write of settings, ``data``, ``add_option``, ``onchange``, ``save``."""

    def _settings(self) -> Any:
        return _resolve.backend().settings

    def _read_view(self) -> Any:
        """What reads see: while a job runs, the shared settings with its ``override_settings`` on top (A1111
        writes them into ``opts`` for the job's duration); otherwise the shared settings."""
        runner = _resolve.script_runner()
        job = _resolve.current_job()
        view = runner.job_settings(job) if runner is not None and job is not None else None
        return view if view is not None else self._settings()

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        settings = self._read_view()
        missing = object()
        value = settings.get(key, missing)
        if value is missing:
            value = A1111_DEFAULTS.get(key, missing)
        if value is missing:
            raise AttributeError(f"shared.opts has no setting {key!r}")
        return self._as_a1111(key, value)

    def _as_a1111(self, key: str, value: Any) -> Any:
        """Folder settings as A1111 holds them: relative ones anchored at the data folder (A1111's defaults are
        built from ``data_path``), so an extension that opens them from its own working folder finds our files."""
        option = self._settings().registry.get(key)
        if option is not None and option.is_path and isinstance(value, str) and value.strip():
            from pathlib import Path

            path = Path(value)
            if not path.is_absolute():
                return str(Path(_resolve.backend().paths.data) / path)
        return value

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
            return
        self._settings().set(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        return self._as_a1111(key, self._read_view().get(key, A1111_DEFAULTS.get(key, default)))

    def get_default(self, key: str) -> Any:
        option = self._settings().registry.get(key)
        return option.default if option is not None else A1111_DEFAULTS.get(key)

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        return self._settings().set(key, value)

    @property
    def data(self) -> dict[str, Any]:
        """A snapshot of every value (A1111 extensions read it; write with ``opts.set`` or attributes)."""
        overrides = getattr(self._read_view(), "overrides", {})
        return {**A1111_DEFAULTS, **self._settings().data(), **overrides}

    @property
    def data_labels(self) -> dict[str, registry.OptionInfo]:
        return {option.key: option for option in self._settings().registry}

    def add_option(self, key: str, info: OptionInfo) -> None:
        """Declare an extension option; re-declaring a key the registry knows keeps the first declaration."""
        settings = self._settings()
        option = info if isinstance(info, registry.OptionInfo) else to_option(key, info)
        if option.key not in settings.registry:
            settings.registry.add(option)
        if getattr(info, "onchange", None) is not None:
            self.onchange(key, info.onchange, call=False)

    def onchange(self, key: str, func: Callable[[], Any], call: bool = True) -> None:
        """Call ``func()`` after ``key`` changes (and now, when ``call``), as A1111 does."""

        def listener(changed: str, old: Any, new: Any) -> None:
            if changed == key:
                func()

        self._settings().on_change(listener)
        if call:
            func()

    def save(self, filename: str | None = None) -> None:
        self._settings().save()

    def same_type(self, x: Any, y: Any) -> bool:
        return x is None or y is None or type(x) is type(y)

    def __contains__(self, key: str) -> bool:
        return key in self._settings().registry or key in self._settings().data()


opts = Options()
