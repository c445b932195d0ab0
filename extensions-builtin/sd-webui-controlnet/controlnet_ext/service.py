"""The ControlNet extension's long-lived part: settings, model files and cache, preprocessing, set-up per job.

One ``ControlNetService`` is made when the extension loads; the script, the UI and the HTTP routes share it.
``prepare(p, units)`` turns a generation's units into a ``ControlNetHook`` on the job's hook registry and
writes A1111's ``ControlNet N`` infotext entries.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from controlnet_ext import annotators, model_files
from controlnet_ext.imageops import pixel_perfect_resolution, to_rgb_array
from controlnet_ext.preprocessors import ALIASES, MODEL_FREE, Preprocessor
from controlnet_ext.runtime import ControlNetHook, PreparedUnit
from controlnet_ext.units import ControlNetUnit, infotext
from modules.extension_api import ModelLoadError

log = logging.getLogger(__name__)

EXTENSION_DIR = Path(__file__).resolve().parent.parent


class ControlNetError(ValueError):
    """A unit that cannot run as given (no image, unknown model or preprocessor, wrong base model)."""


class UnloadableModel(ControlNetError):
    """The unit's model file exists but cannot be loaded (corrupt, refused pickle, not a ControlNet)."""


class ControlNetService:
    def __init__(self, context: Any) -> None:
        self.context = context
        self._files: list[model_files.ControlNetFile] | None = None
        self._cache: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._lock = threading.RLock()
        self.annotator_cache = annotators.AnnotatorCache()

    # --- settings -----------------------------------------------------------------------------------------
    def on_ui_settings(self, opts: Any) -> None:
        from modules.extension_api import OptionInfo

        section = opts.section("control_net", "ControlNet")
        opts.add_option(
            OptionInfo(
                "control_net_unit_count",
                3,
                "Multi-ControlNet: ControlNet unit number",
                section,
                "slider",
                minimum=1,
                maximum=10,
                step=1,
                needs_reload_ui=True,
            )
        )
        opts.add_option(
            OptionInfo(
                "control_net_model_cache_size",
                2,
                "Model cache size",
                section,
                "slider",
                minimum=1,
                maximum=10,
                step=1,
                info="ControlNet models kept loaded",
            )
        )
        opts.add_option(
            OptionInfo(
                "control_net_skip_unloadable_models",
                False,
                "Skip a unit whose model file cannot be loaded (with a warning) instead of failing the generation",
                section,
                "checkbox",
            )
        )
        opts.add_option(
            OptionInfo(
                "control_net_models_path",
                "",
                "Extra path to scan for ControlNet models",
                section,
                "textbox",
                restrict_api=True,
                is_path=True,
            )
        )
        opts.add_option(
            OptionInfo(
                "control_net_modules_path",
                "",
                "Path to the annotator (preprocessor) weights",
                section,
                "textbox",
                restrict_api=True,
                is_path=True,
                info="default: the extension's annotator/downloads folder",
            )
        )

    def setting(self, key: str, default: Any) -> Any:
        value = self.context.settings.get(key, default)
        return default if value in (None, "") else value

    def unit_count(self) -> int:
        return max(1, min(10, int(self.setting("control_net_unit_count", 3))))

    # --- folders and models -------------------------------------------------------------------------------
    def model_folders(self) -> list[Path]:
        folders = [Path(self.context.paths.controlnet), EXTENSION_DIR / "models"]
        try:
            folders[0].mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.warning("Could not create %s: %s", folders[0], error)
        extra = self.setting("control_net_models_path", "")
        if extra:
            folders.append(Path(extra))
        flag = getattr(self.context.flags, "controlnet_dir", None)
        if flag:
            folders.append(Path(flag))
        return folders

    def annotator_folder(self) -> Path:
        flag = getattr(self.context.flags, "controlnet_annotator_models_path", None)
        return Path(flag or self.setting("control_net_modules_path", "") or EXTENSION_DIR / "annotator" / "downloads")

    def model_files(self, refresh: bool = False) -> list[model_files.ControlNetFile]:
        with self._lock:
            if self._files is None or refresh:
                self._files = model_files.scan(self.model_folders())
            return list(self._files)

    def model_titles(self, refresh: bool = False) -> list[str]:
        return ["None", *(item.title for item in self.model_files(refresh))]

    def find_model(self, name: str) -> model_files.ControlNetFile:
        found = model_files.find(self.model_files(), name) or model_files.find(self.model_files(True), name)
        if found is None:
            titles = ", ".join(self.model_titles()[1:]) or f"none; put models in {self.model_folders()[0]}"
            raise ControlNetError(f"ControlNet model {name!r} not found; available: {titles}")
        return found

    def load_model(self, item: model_files.ControlNetFile, sd_model: Any) -> Any:
        import torch

        from controlnet_ext.convert import load_controlnet

        no_half = bool(getattr(self.context.flags, "no_half_controlnet", False))
        dtype = torch.float32 if no_half else sd_model.dtype
        key = (str(item.path), str(sd_model.device), str(dtype), item.path.stat().st_mtime)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            model = load_controlnet(
                item.path,
                sd_model.device,
                dtype,
                dict(sd_model.unet.config),
                bool(getattr(self.context.flags, "disable_safe_unpickle", False)),
            )
            self._cache[key] = model
            while len(self._cache) > int(self.setting("control_net_model_cache_size", 2)):
                self._cache.popitem(last=False)
            return model

    # --- preprocessors ------------------------------------------------------------------------------------
    def preprocessors(self) -> dict[str, Preprocessor]:
        found = {p.name: p for p in MODEL_FREE}
        found.update({p.name: p for p in annotators.available(self.annotator_folder(), self.annotator_cache)})
        return found

    def annotator_device(self) -> Any:
        """Where preprocessor networks run: the checkpoints' device, the CPU before models exist."""
        try:
            return self.context.device()
        except RuntimeError:  # the model subsystem is still starting or failed to start: the CPU always works
            return "cpu"

    def module_names(self) -> list[str]:
        return list(self.preprocessors())

    def resolve_module(self, name: str | None) -> Preprocessor:
        text = (name or "none").strip()
        key = ALIASES.get(text.lower(), text.lower())
        known = self.preprocessors()
        if key in known:
            return known[key]
        if annotators.find(key) is not None:
            try:
                return annotators.require(key, self.annotator_folder(), self.annotator_cache)
            except annotators.AnnotatorUnavailable as error:
                raise ControlNetError(str(error)) from error
        closest = annotators.NOT_IN_THIS_BUILD.get(key)
        if closest is not None:
            raise ControlNetError(
                f"preprocessor {text!r} of A1111's ControlNet extension is not available in this build; "
                f"the closest one here is {closest!r}"
            )
        raise ControlNetError(f"unknown preprocessor {name!r}; available: {', '.join(known)}")

    def detect(
        self,
        module: str,
        image: Any,
        resolution: int = -1,
        threshold_a: float = -1,
        threshold_b: float = -1,
        mask: Any = None,
        seed: int = 0,
    ) -> tuple[np.ndarray, int, float, float]:
        """(detected map, resolution, threshold A, threshold B actually used) for ``image``."""
        pre = self.resolve_module(module)
        default_res, default_a, default_b = pre.defaults()
        res = int(resolution) if resolution is not None and resolution > 0 else default_res
        a = float(threshold_a) if threshold_a is not None and threshold_a >= 0 and pre.threshold_a else default_a
        b = float(threshold_b) if threshold_b is not None and threshold_b >= 0 and pre.threshold_b else default_b
        extra = {
            "mask": mask,
            "seed": seed,
            "device": self.annotator_device(),
            "allow_unsafe_pickle": bool(getattr(self.context.flags, "disable_safe_unpickle", False)),
            "offload": bool(
                getattr(self.context.flags, "medvram", False) or getattr(self.context.flags, "lowvram", False)
            ),
        }
        try:
            return pre.run(to_rgb_array(image), res, a, b, extra), res, a, b
        except annotators.AnnotatorUnavailable as error:  # a weight file that cannot be read or built
            raise ControlNetError(str(error)) from error

    def detect_on_queue(self, requests: list[dict[str, Any]]) -> list[np.ndarray]:
        """Detected maps for ``requests`` (``detect``'s keyword arguments each), run as one job on the queue:
        preprocessor networks use the models' device, which a running generation owns (the preview button and
        ``/controlnet/detect``; a generation's own units are preprocessed inside its job by ``prepare``)."""

        def task(job: Any) -> list[np.ndarray]:
            return [self.detect(**request)[0] for request in requests]

        return self.context.run_job(task, label="ControlNet preprocessor")

    # --- one generation -----------------------------------------------------------------------------------
    def prepare(self, p: Any, units: list[ControlNetUnit]) -> list[PreparedUnit]:
        prepared = []
        active = [(index, unit) for index, unit in enumerate(units) if unit.active]
        for number, (index, unit) in enumerate(active):
            try:
                prepared.append(self._prepare_unit(p, index, number, unit))
            except UnloadableModel as error:
                if not self.setting("control_net_skip_unloadable_models", False):
                    from modules.extension_api import InvalidParams

                    raise InvalidParams(f"ControlNet unit {index}: {error}") from error
                warning = f"ControlNet unit {index} skipped: {error}"
                log.warning(warning)
                p.comments.append(warning)
            except ControlNetError as error:
                from modules.extension_api import InvalidParams

                raise InvalidParams(f"ControlNet unit {index}: {error}") from error
        if prepared:

            def hires(h: int, w: int) -> bool:
                """True in the hires pass: the latents are not the first pass's size."""
                return bool(p.params.enable_hr) and (h * 8, w * 8) != (p.height, p.width)

            p.hooks.add("before_unet", ControlNetHook(prepared, hires), name="controlnet")
        return prepared

    def _prepare_unit(self, p: Any, index: int, number: int, unit: ControlNetUnit) -> PreparedUnit:
        image = unit.image
        if image is None and p.params.is_img2img and p.params.init_images:
            image = p.params.init_images[0]
        if image is None:
            raise ControlNetError("no input image (upload one, or use img2img where the init image is used)")
        item = self.find_model(unit.model)
        mask = unit.mask if unit.mask is not None else p.params.mask
        resolution = unit.processor_res
        if unit.pixel_perfect:
            width, height = image.size
            resolution = pixel_perfect_resolution(height, width, p.height, p.width, unit.resize_mode)
        detected, res, a, b = self.detect(
            unit.module, image, resolution, unit.threshold_a, unit.threshold_b, mask, seed=p.seed
        )
        try:
            model = self.load_model(item, p.model)
        except ModelLoadError as error:
            raise UnloadableModel(f"model {item.title} cannot be loaded: {error}") from error
        except (ValueError, RuntimeError, OSError, KeyError, TypeError) as error:  # convert/diffusers on bad weights
            reason = ModelLoadError(item.path, f"is not a usable ControlNet model ({error})")
            raise UnloadableModel(f"model {item.title} cannot be loaded: {reason}") from error
        base_dim = p.model.unet.config.cross_attention_dim
        if model.config.cross_attention_dim != base_dim:
            raise ControlNetError(
                f"model {item.title} expects text width {model.config.cross_attention_dim} but the "
                f"loaded checkpoint has {base_dim} (e.g. an SD 1.x ControlNet with SDXL)"
            )
        p.extra_generation_params[f"ControlNet {number}"] = infotext(unit, item.title, res, a, b)
        pre = self.resolve_module(unit.module)
        return PreparedUnit(
            index,
            model,
            detected,
            unit.weight,
            unit.guidance_start,
            unit.guidance_end,
            unit.control_mode,
            unit.resize_mode,
            pre.line_map,
            unit.hr_option,
        )
