"""The Backend: the handful of long-lived objects every front end (UI, API, extensions) works through.

It is built once by ``webui.py`` and passed in; nothing reaches it through module globals. Heavy parts (torch,
diffusers, the model manager) are created by ``start_background_init`` after the page is already served, and
their progress is readable as ``status`` meanwhile.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from typing import Any

from modules.jobs.queue import JobQueue
from modules.paths import Paths
from modules.processing.service import GenerationService
from modules.settings.registry import Settings

log = logging.getLogger(__name__)


class BackendNotReady(RuntimeError):
    """Raised when a request needs the model subsystem before it finished starting."""


class Backend:
    def __init__(self, flags: argparse.Namespace, paths: Paths, settings: Settings) -> None:
        self.flags = flags
        self.paths = paths
        self.settings = settings
        self.jobs = JobQueue()
        self.generation = GenerationService(self)
        self.models: Any = None  # modules.models.manager.ModelManager, once the libraries are imported
        self.workers: Any = None  # modules.workers.ray_runner.RayWorkers with --workers ray, else None
        self.services: dict[str, Any] = {}  # extension-provided or lazily built services, by name
        self._status = "Starting: loading libraries (torch, diffusers)…"
        self._ready = threading.Event()
        self._init_error: str | None = None
        self._ready_callbacks: list[Callable[[Backend], None]] = []
        self.warnings: list[str] = []
        if settings.load_warning:
            self.warnings.append(settings.load_warning)

    # --- start-up -------------------------------------------------------------------------------------
    def start_background_init(self, load_model: bool = True) -> threading.Thread:
        """Import the heavy libraries, build the model manager and load the start-up checkpoint."""
        thread = threading.Thread(target=self._background_init, args=(load_model,), name="backend-init", daemon=True)
        thread.start()
        return thread

    def _remove_crash_leftovers(self) -> None:
        """Temporaries of ``config.json``, the other JSON files and of images that a killed process left."""
        from modules.images.save import remove_orphaned_temporaries
        from modules.settings.store import remove_temporaries_of

        try:
            for path in {self.paths.settings_file, self.paths.cache_file, self.paths.ui_config_file}:
                remove_temporaries_of(path)
            folders = {self.paths.outputs}
            for key, value in self.settings.data().items():
                if key.startswith("outdir_") and isinstance(value, str) and value.strip():
                    folders.add(self.paths.data / value)  # an absolute value replaces the base
            remove_orphaned_temporaries(sorted(folders))
        except OSError as error:  # never a reason not to start
            log.warning("Could not clean up files left by a crash: %s", error)

    def _background_init(self, load_model: bool) -> None:
        try:
            self._remove_crash_leftovers()
            from modules.models.manager import ModelManager  # heavy: imports torch and diffusers

            self.models = ModelManager(self.paths, self.settings, self.flags)
            self._status = ""
            self._ready.set()
            for callback in list(self._ready_callbacks):
                callback(self)
            if self.workers is not None:  # replicas load the checkpoints; this process only lists them
                self._status = "Starting the Ray workers…"
                self.workers.start()
                self._status = ""
            elif load_model:  # a checkpoint that fails is skipped with a warning on the page; the next one loads
                self.jobs.run(lambda job: self.models.load_startup(), label="load checkpoint")
        except Exception as error:  # shown on the page; the server keeps running
            log.exception("Start-up failed")
            self._init_error = f"Start-up failed: {error}"
            self._ready.set()

    def on_ready(self, callback: Callable[[Backend], None]) -> None:
        """Run ``callback(backend)`` once the model manager exists (now, if it already does)."""
        if self.models is not None:
            callback(self)
        else:
            self._ready_callbacks.append(callback)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def require_models(self) -> Any:
        """The model manager, or a clear error when start-up has not finished or failed."""
        if self.models is None:
            raise BackendNotReady(self._init_error or "The server is still starting; try again in a few seconds.")
        return self.models

    def upscalers(self) -> Any:
        """The upscaler registry (spandrel model files in A1111's upscaler folders, plus Lanczos and Nearest).

        It runs models on the device the checkpoints use; before the model subsystem exists (the page is
        built first) a throw-away CPU registry answers for the names.
        """
        from modules.upscaling.upscalers import UpscalerRegistry, extra_upscaler_dirs

        registry = self.services.get("upscalers")
        extra = extra_upscaler_dirs(self.paths.models)
        if registry is None:
            if self.models is None:
                return UpscalerRegistry(self.paths.esrgan, extra_dirs=extra, settings=self.settings)
            device = self.models.device_info.device
            registry = UpscalerRegistry(self.paths.esrgan, extra_dirs=extra, settings=self.settings, device=device)
            self.services["upscalers"] = registry
        return registry

    def face_restorers(self) -> Any:
        """GFPGAN and CodeFormer from models/GFPGAN and models/Codeformer, run on the checkpoints' device."""
        from modules.upscaling.face_restoration import FaceRestorers

        restorers = self.services.get("face_restorers")
        if restorers is None:
            device = self.models.device_info.device if self.models is not None else "cpu"
            restorers = FaceRestorers(self.paths.models, settings=self.settings, device=device)
            if self.models is not None:
                self.services["face_restorers"] = restorers
        return restorers

    def localization_js(self) -> str:
        """``window.localization = {...}`` for the language chosen in Settings (empty for "None")."""
        import json

        catalog = self.services.get("localization")
        strings = catalog.strings(self.settings.get("localization")) if catalog is not None else {}
        return "window.localization = " + json.dumps(strings, ensure_ascii=False) + ";\n"

    @property
    def status(self) -> str:
        """One line for the page: start-up progress, model loading, or what the user must do."""
        if self._init_error:
            return self._init_error
        if self.models is None:
            return self._status
        warnings = getattr(self.models, "warnings", [])  # skipped start-up checkpoints, refused VAE files
        status = self.workers.status if self.workers is not None else self.models.status
        return "\n\n".join([status, *(f"⚠️ {warning}" for warning in warnings)])
