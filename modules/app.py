"""The Backend: the handful of long-lived objects every front end (UI, API, extensions) works through.

It is built once by ``webui.py`` (the composition root) and passed in; nothing reaches it through module
globals. Each member is named and typed: the cheap ones (styles, upscaler and face-restorer registries,
job queue, generation service) are built here, the extension system and the language catalog are installed
by ``webui.build_backend`` right after, and the heavy model manager is created by ``start_background_init``
after the page is already served (its progress is readable as ``status`` meanwhile).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from modules.extensions.offers import ExtensionOffers
from modules.jobs.queue import JobQueue
from modules.paths import Paths
from modules.processing.service import GenerationService
from modules.processing.styles import StyleDatabase
from modules.settings.registry import Settings
from modules.upscaling.face_restoration import FaceRestorers
from modules.upscaling.upscalers import UpscalerRegistry, extra_upscaler_dirs

if TYPE_CHECKING:
    from modules.extensions.manager import ExtensionManager
    from modules.extensions.runner import ScriptRunner
    from modules.interrogate.clip_interrogator import ClipInterrogator
    from modules.interrogate.deepbooru import DeepBooru
    from modules.localization.catalog import LocalizationCatalog
    from modules.models.manager import ModelManager
    from modules.workers.ray_runner import RayWorkers

log = logging.getLogger(__name__)


class BackendNotReady(RuntimeError):
    """Raised when a request needs the model subsystem before it finished starting."""


class Backend:
    def __init__(self, flags: argparse.Namespace, paths: Paths, settings: Settings) -> None:
        self.flags = flags
        self.paths = paths
        self.settings = settings
        self.jobs = JobQueue()
        self.models: ModelManager | None = None  # once the libraries are imported (start_background_init)
        self.workers: RayWorkers | None = None  # with --workers ray, else None
        self.styles = StyleDatabase(paths.styles_file)  # one database: a style saved anywhere shows everywhere
        # Upscalers and face restorers run on the checkpoints' device; it is known once the models are up.
        self.upscalers = UpscalerRegistry(paths.esrgan, extra_dirs=extra_upscaler_dirs(paths.models), settings=settings)
        self.face_restorers = FaceRestorers(paths.models, settings=settings)
        self.extensions: ExtensionManager | None = None  # modules.extensions.manager.install_extensions
        self.scripts: ScriptRunner | None = None  # the loaded scripts' hooks, installed with the extensions
        self.localization: LocalizationCatalog | None = None  # modules.localization.service.install_localization
        self.offers = ExtensionOffers()  # what extensions offer by name (ControlNet's service, ...)
        self.restart: Callable[[], None] | None = None  # re-executes the server (set by webui.main)
        self._deepbooru: DeepBooru | None = None
        self._clip_interrogator: ClipInterrogator | None = None
        self._deepbooru_lock = threading.Lock()  # guards both interrogators' first build
        self._status = "Starting: loading libraries (torch, diffusers)…"
        self._ready = threading.Event()
        self._init_error: str | None = None
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

            self.attach_models(ModelManager(self.paths, self.settings, self.flags))
            self._status = ""
            self._ready.set()
            if self.workers is not None:  # replicas load the checkpoints; this process only lists them
                self._status = "Starting the Ray workers…"
                self.workers.start()
                self._status = ""
            elif load_model:  # a checkpoint that fails is skipped with a warning on the page; the next one loads
                self.jobs.run(lambda job: self.require_models().load_startup(), label="load checkpoint")
        except Exception as error:  # shown on the page; the server keeps running
            log.exception("Start-up failed")
            self._init_error = f"Start-up failed: {error}"
            self._ready.set()

    def attach_models(self, models: ModelManager) -> None:
        """Use ``models``; the upscalers and face restorers move to the device its checkpoints run on."""
        device = models.device_info.device
        self.upscalers.device = device
        self.face_restorers.device = device
        self.models = models

    @property
    def generation(self) -> GenerationService:
        """The entry point for generations: the job queue plus this Backend seen as a ``ProcessingHost``.

        It keeps no state of its own, so the Backend does not hold one (the two would hold each other)."""
        return GenerationService(self.jobs, self)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def require_models(self) -> ModelManager:
        """The model manager, or a clear error when start-up has not finished or failed."""
        if self.models is None:
            raise BackendNotReady(self._init_error or "The server is still starting; try again in a few seconds.")
        return self.models

    def deepbooru(self) -> DeepBooru:
        """The DeepBooru tagger (built on first use: its module imports torch when it runs)."""
        with self._deepbooru_lock:
            if self._deepbooru is None:
                from modules.interrogate.deepbooru import DeepBooru

                self._deepbooru = DeepBooru(self.paths.models, settings=self.settings)
            return self._deepbooru

    def clip_interrogator(self) -> ClipInterrogator:
        """The BLIP + CLIP interrogator (built on first use), on the generation device once models are up."""
        with self._deepbooru_lock:
            if self._clip_interrogator is None:
                from modules.interrogate.clip_interrogator import ClipInterrogator

                self._clip_interrogator = ClipInterrogator(
                    self.paths.models,
                    clip_dir=getattr(self.flags, "clip_models_path", None),
                    data_dir=self.paths.data,
                    settings=self.settings,
                    device=lambda: self.models.device_info.device if self.models is not None else "cpu",
                )
            return self._clip_interrogator

    def localization_js(self) -> str:
        """``window.localization = {...}`` for the language chosen in Settings (empty for "None")."""
        catalog = self.localization
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
