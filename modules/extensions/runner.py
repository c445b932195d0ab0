"""``ScriptRunner``: runs the loaded scripts' hooks for one generation (``backend.scripts``).

The pipeline calls ``before_process``, ``run_selected``, ``process``, ``process_batch``, ``post_sample``,
``postprocess_maskoverlay``, ``postprocess_image``, ``postprocess_batch`` and ``postprocess`` with the job's
``ProcessingState``. Each always-on script receives its own values from ``p.params.alwayson_scripts``
(matched by title, any case), padded with its UI defaults; the selected script receives
``p.params.script_args``. A hook that raises ``InvalidParams`` stops the generation with that message (a
user error, e.g. a ControlNet unit without an image); any other exception is logged with the extension's
name and the generation goes on without it.

It also offers the UI (``selectable_titles``, ``build_selectable_ui``, ``build_alwayson_ui``) and the API
(``scripts``, ``validate_alwayson``) what they need, and adapts A1111's ``on_cfg_denoiser`` family of
callbacks onto each job's hook registry.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from modules.extensions import bridge
from modules.extensions.callbacks import ImageSaveParams
from modules.extensions.script_api import (
    AlwaysVisible,
    PostprocessImageArgs,
    PostProcessMaskOverlayArgs,
    PostSampleArgs,
    Script,
)
from modules.processing.hooks import HookPoint
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)

# A selectable script that renders again with A1111's ``process_images(p)`` has set infotext extras on its ``p``
# (``p.extra_generation_params["Ultimate SD upscale upscaler"]``); A1111 renders that same ``p``, here a new
# job state is made, so the extras are handed over for the nested render (see ``inheriting``).
_inherited_extras: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "inherited_extra_generation_params", default=None
)


@contextlib.contextmanager
def inheriting(extra_generation_params: dict[str, Any]) -> Iterator[None]:
    """Renders started inside the block start with these infotext extras (A1111's reuse of ``p``)."""
    token = _inherited_extras.set(dict(extra_generation_params))
    try:
        yield
    finally:
        _inherited_extras.reset(token)


# Script sections the img2img tab builds in their own place (A1111's ``Script.section``): "inpaint" panels sit
# in the inpainting controls, shown only in the inpaint modes.
PLACED_SECTIONS = ("inpaint",)

CFG_HOOKS = {
    "cfg_denoiser": HookPoint.CFG_DENOISER,
    "cfg_denoised": HookPoint.CFG_DENOISED,
    "cfg_after_cfg": HookPoint.AFTER_CFG,
}


def title_of(script: Script) -> str:
    return str(script.title())


def _placed_section(script: Script, is_img2img: bool) -> str | None:
    section = getattr(script, "section", None)
    return section if is_img2img and section in PLACED_SECTIONS else None


class ScriptRunner:
    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self._instances: dict[bool, list[Script]] = {}
        self._components: dict[int, list[Any]] = {}  # script id -> its UI components (built once)
        self._last_model: Any = None
        self._lock = threading.Lock()
        # job -> its SettingsView, for ``shared.opts`` reads while the job runs (A1111's override_settings)
        self._job_settings: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    # --- instances ----------------------------------------------------------------------------------------
    def scripts(self, is_img2img: bool) -> list[Script]:
        """Every script shown on that tab (always-on and selectable), in load order."""
        with self._lock:
            if is_img2img not in self._instances:
                self._instances[is_img2img] = self._create(is_img2img)
            return list(self._instances[is_img2img])

    def _create(self, is_img2img: bool) -> list[Script]:
        created = []
        for loaded in self.manager.loaded_scripts:
            try:
                with bridge.activated(loaded.context):  # __init__ may register callbacks (A1111 allows it)
                    script = loaded.cls()
                    script.filename = str(loaded.path)
                    script.extension = loaded.context
                    script.is_img2img, script.is_txt2img = is_img2img, not is_img2img
                    script.tabname = "img2img" if is_img2img else "txt2img"
                    visibility = script.show(is_img2img)
                    title_of(script)
            except Exception:
                log.exception(
                    "Extension %s: script %s could not be created",
                    loaded.context.name or "(built-in)",
                    loaded.path.name,
                )
                continue
            if visibility is AlwaysVisible:
                script.alwayson = True
            elif not visibility:
                continue
            created.append(script)
        return created

    def job_settings(self, job: Any) -> Any:
        """The settings ``job`` renders with (its overrides on top), once its scripts started; else None."""
        return self._job_settings.get(job)

    def alwayson(self, is_img2img: bool) -> list[Script]:
        return [s for s in self.scripts(is_img2img) if s.alwayson]

    def selectable(self, is_img2img: bool) -> list[Script]:
        return [s for s in self.scripts(is_img2img) if not s.alwayson]

    def find(self, title: str, is_img2img: bool) -> Script | None:
        wanted = str(title).strip().lower()
        return next((s for s in self.scripts(is_img2img) if title_of(s).strip().lower() == wanted), None)

    # --- UI -----------------------------------------------------------------------------------------------
    def selectable_titles(self, is_img2img: bool) -> list[str]:
        return [title_of(s) for s in self.selectable(is_img2img)]

    def build_selectable_ui(self, title: str, is_img2img: bool) -> list[Any]:
        script = self.find(title, is_img2img)
        return self._build_ui(script, is_img2img) if script is not None else []

    def build_alwayson_ui(self, is_img2img: bool, section: str | None = None) -> list[tuple[str, list[Any]]]:
        """The panels of the always-on scripts of ``section`` (None: those without a placed section)."""
        return [
            (title_of(s), self._build_ui(s, is_img2img))
            for s in self.alwayson(is_img2img)
            if _placed_section(s, is_img2img) == section
        ]

    def infotext_fields(self, is_img2img: bool) -> list[tuple[Any, Any]]:
        """(component, infotext key or ``fn(params)``) pairs the page's script panels declared (A1111's
        ``Script.infotext_fields``), for the paste button and send-to."""
        return [pair for s in self.scripts(is_img2img) for pair in (getattr(s, "infotext_fields", None) or [])]

    def _build_ui(self, script: Script, is_img2img: bool) -> list[Any]:
        from gradio.context import Context

        from modules.extensions.gradio3 import gradio3_shims  # imports gradio: only when a UI is built
        from modules.extensions.gradio3_layout import hoist_stray_tab_children

        try:
            with bridge.activated(script.extension), gradio3_shims():
                components = list(script.ui(is_img2img) or [])
            if Context.block is not None:
                hoist_stray_tab_children(Context.block)
            return components
        except Exception:
            log.exception("Extension %s: %s ui() failed", script.extension.name or "(built-in)", title_of(script))
            return []

    def _ui_components(self, script: Script) -> list[Any]:
        """The script's UI components, built once in a throw-away Blocks (for defaults and the API)."""
        key = id(script)
        if key not in self._components:
            import gradio as gr

            with gr.Blocks(analytics_enabled=False):  # a copy: ui() may keep its components on self
                self._components[key] = self._build_ui(copy.copy(script), script.is_img2img)
        return self._components[key]

    def default_args(self, script: Script) -> tuple[Any, ...]:
        """The values of the script's UI components as created (what a request that omits them gets)."""
        return tuple(getattr(component, "value", None) for component in self._ui_components(script))

    def args_info(self, script: Script) -> list[dict[str, Any]]:
        """A1111's ``/sdapi/v1/script-info`` ``args``: label, value, minimum, maximum, step, choices."""
        info = []
        for component in self._ui_components(script):
            choices = getattr(component, "choices", None)
            info.append(
                {
                    "label": getattr(component, "label", None),
                    "value": getattr(component, "value", None),
                    "minimum": getattr(component, "minimum", None),
                    "maximum": getattr(component, "maximum", None),
                    "step": getattr(component, "step", None),
                    "choices": [str(c[0] if isinstance(c, (tuple, list)) else c) for c in choices] if choices else None,
                }
            )
        return info

    # --- arguments ----------------------------------------------------------------------------------------
    def _args(self, script: Script, given: tuple[Any, ...] | None) -> tuple[Any, ...]:
        given = tuple(given or ())
        if not script.pad_args_with_defaults:
            return given
        defaults = self.default_args(script) if type(script).ui is not Script.ui else ()
        return given + defaults[len(given) :]

    def _alwayson_args(self, p: Any) -> list[tuple[Script, tuple[Any, ...]]]:
        requested = {str(item.title).strip().lower(): item.args for item in p.params.alwayson_scripts}
        pairs = []
        for script in self.alwayson(p.is_img2img):
            args = self._args(script, requested.get(title_of(script).strip().lower()))
            p.script_args[title_of(script)] = args
            pairs.append((script, args))
        return pairs

    def validate_alwayson(self, title: str, args: tuple[Any, ...], is_img2img: bool) -> None:
        """For the API: ValueError when ``args`` cannot work for the always-on script ``title``."""
        script = self.find(title, is_img2img)
        if script is not None:
            with bridge.activated(script.extension):
                script.validate_args(tuple(args))

    # --- pipeline hooks -----------------------------------------------------------------------------------
    def _each(self, p: Any, hook: str, call: Callable[[Script, tuple[Any, ...]], Any]) -> None:
        for script, args in self._pairs(p):
            self._guarded(script, hook, call, script, args)

    def _pairs(self, p: Any) -> list[tuple[Script, tuple[Any, ...]]]:
        cached = getattr(p, "_alwayson_pairs", None)
        if cached is None:
            cached = self._alwayson_args(p)
            p._alwayson_pairs = cached
        return cached

    @staticmethod
    def _guarded(script: Script, hook: str, call: Callable[..., Any], *args: Any) -> Any:
        try:
            with bridge.activated(script.extension):
                return call(*args)
        except InvalidParams:
            raise
        except Exception:
            log.exception(
                "Extension %s: %s.%s failed; going on without it",
                script.extension.name or "(built-in)",
                title_of(script),
                hook,
            )
            return None

    def before_process(self, p: Any) -> None:
        from pathlib import Path

        from modules.extensions.a1111_p import add_a1111_names

        add_a1111_names(p, Path(self.manager.backend.paths.data), self)
        if getattr(p, "job", None) is not None:
            self._job_settings.setdefault(p.job, p.settings)  # a nested render keeps its job's view
        for key, value in (_inherited_extras.get() or {}).items():
            p.extra_generation_params.setdefault(key, value)
        self._notice_model(p.model)
        self._attach_cfg_callbacks(p)
        self._each(p, "setup", lambda s, a: s.setup(p, *a))
        self._each(p, "before_process", lambda s, a: s.before_process(p, *a))

    def run_selected(self, p: Any) -> Any:
        name = p.params.script_name
        if not name:
            return None
        script = self.find(name, p.is_img2img)
        if script is None or script.alwayson:
            raise InvalidParams(
                f"Script {name!r} not found; available: {', '.join(self.selectable_titles(p.is_img2img))}"
            )
        args = self._args(script, p.params.script_args)
        p.script_args[title_of(script)] = args
        with bridge.activated(script.extension):
            return script.run(p, *args)

    def process(self, p: Any) -> None:
        self._each(p, "process", lambda s, a: s.process(p, *a))

    def process_batch(self, p: Any) -> None:
        self._each(
            p,
            "process_batch",
            lambda s, a: s.process_batch(
                p, *a, batch_number=p.iteration, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds
            ),
        )

    def post_sample(self, p: Any, samples: Any) -> Any:
        """The batch's latents after the scripts' ``post_sample`` hooks (before decoding)."""
        ps = PostSampleArgs(samples)
        self._each(p, "post_sample", lambda s, a: s.post_sample(p, ps, *a))
        return ps.samples

    def postprocess_maskoverlay(self, p: Any, index: int, overlay: Any) -> Any:
        """The overlay pasted back over inpainted image ``index`` of the batch, after the scripts' hooks."""
        ppmo = PostProcessMaskOverlayArgs(index, None, overlay)
        self._each(p, "postprocess_maskoverlay", lambda s, a: s.postprocess_maskoverlay(p, ppmo, *a))
        return ppmo.overlay_image

    def postprocess_image(self, p: Any, image: Any) -> Any:
        pp = PostprocessImageArgs(image)
        self._each(p, "postprocess_image", lambda s, a: s.postprocess_image(p, pp, *a))
        return pp.image

    def postprocess_batch(self, p: Any, images: list[Any]) -> None:
        self._each(
            p, "postprocess_batch", lambda s, a: s.postprocess_batch(p, *a, images=images, batch_number=p.iteration)
        )

    def postprocess(self, p: Any, processed: Any) -> None:
        self._each(p, "postprocess", lambda s, a: s.postprocess(p, processed, *a))

    # --- callbacks around saving and models ---------------------------------------------------------------
    def before_image_saved(self, p: Any, image: Any, infotext: str, filename: str = "") -> tuple[Any, str]:
        """``on_before_image_saved``: callbacks may replace the image or edit ``pnginfo["parameters"]``."""
        params = ImageSaveParams(image, p, filename, {"parameters": infotext})
        self.manager.callbacks.fire("before_image_saved", params)
        return params.image, str(params.pnginfo.get("parameters", infotext))

    def image_saved(self, p: Any, image: Any, path: str, infotext: str) -> None:
        self.manager.callbacks.fire("image_saved", ImageSaveParams(image, p, str(path), {"parameters": infotext}))

    def image_grid(self, images: list[Any], batch_size: int, n_rows: int) -> tuple[list[Any], int]:
        """``on_image_grid(ImageGridLoopParams)``: callbacks may change the images, columns and rows."""
        import math

        from modules.images.grid import grid_rows
        from modules.script_callbacks import ImageGridLoopParams

        rows = grid_rows(len(images), batch_size, n_rows)
        params = ImageGridLoopParams(list(images), math.ceil(len(images) / rows), rows)
        self.manager.fire("image_grid", params)
        return params.imgs, max(1, int(params.rows))

    def _notice_model(self, model: Any) -> None:
        """Fire ``on_model_loaded`` the first time a job uses a model (in case the loader did not)."""
        last = self._last_model() if self._last_model is not None else None
        if model is not None and model is not last:
            self._last_model = weakref.ref(model)
            self.manager.model_loaded(model)

    def model_loaded(self, model: Any) -> None:
        """For the model manager: a new model is ready."""
        self._notice_model(model)

    def _attach_cfg_callbacks(self, p: Any) -> None:
        for kind, point in CFG_HOOKS.items():
            for callback in self.manager.callbacks.get(kind):
                p.hooks.add(point, callback.fn, name=f"{callback.extension or 'builtin'}:{callback.name}")
