"""``ExtensionContext``: the narrow view of the program an extension works through.

It is what the loader makes current while an extension loads (see ``bridge``) and what each of its Script
instances holds as ``self.extension``: its own name and folder, the flags and folders, settings (read, and
declare new ones), callback registration, the loaded model, named services, and generation. Extensions do
not receive the Backend itself, so the program can change behind this surface without breaking them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.settings.registry import OptionInfo, Section

if TYPE_CHECKING:
    from modules.app import Backend
    from modules.jobs.queue import Job

log = logging.getLogger(__name__)

EXTENSION_CATEGORY = "Uncategorized"  # A1111 files extension sections there in the Settings sidebar


class ExtensionSettings:
    """Read settings and declare new ones (what ``on_ui_settings`` callbacks receive)."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings

    def get(self, key: str, default: Any = None) -> Any:
        return self._settings.get(key, default)

    def __getattr__(self, key: str) -> Any:  # ``opts.some_key`` as A1111 extensions read it
        if key.startswith("_"):
            raise AttributeError(key)
        return self._settings.get(key)

    @staticmethod
    def section(section_id: str, label: str) -> Section:
        return Section(section_id, label, EXTENSION_CATEGORY)

    def add_option(self, key_or_option: str | OptionInfo, option: OptionInfo | None = None) -> None:
        """``add_option(OptionInfo(...))``, or A1111's ``add_option(key, OptionInfo(...))``."""
        info = key_or_option if isinstance(key_or_option, OptionInfo) else option
        if info is None:
            raise TypeError("add_option needs an OptionInfo")
        if isinstance(key_or_option, str) and key_or_option != info.key:
            raise ValueError(f"add_option key {key_or_option!r} differs from the option's key {info.key!r}")
        self._settings.registry.add(info)


class ExtensionContext:
    def __init__(
        self, backend: Backend, callbacks: Any, name: str = "", path: Path | None = None, script: str = ""
    ) -> None:
        self._backend = backend
        self.callbacks = callbacks
        self.name = name  # extension folder name; "" for the program's built-in scripts
        self.path = Path(path) if path is not None else None
        self.script = script  # the script file being loaded, when there is one
        self.settings = ExtensionSettings(backend.settings)
        self.log = logging.getLogger(f"extensions.{name or 'builtin'}")

    def for_script(self, script: str) -> ExtensionContext:
        return ExtensionContext(self._backend, self.callbacks, self.name, self.path, script)

    # --- program facts ------------------------------------------------------------------------------------
    @property
    def flags(self) -> Any:
        return self._backend.flags

    @property
    def paths(self) -> Any:
        return self._backend.paths

    @property
    def is_non_local(self) -> bool:
        from modules.settings.cli import is_non_local

        return is_non_local(self._backend.flags)

    # --- callbacks ----------------------------------------------------------------------------------------
    def on(self, kind: str, fn: Callable[..., Any], name: str | None = None) -> Any:
        """Register a callback (``"ui_tabs"``, ``"app_started"``...) in this extension's name."""
        return self.callbacks.add(kind, fn, extension=self.name, script=self.script, name=name)

    # --- models and services ------------------------------------------------------------------------------
    def current_model(self) -> Any:
        """The loaded ``SDModel`` or None (also None while the program is still starting)."""
        models = self._backend.models
        return models.current if models is not None else None

    def device(self) -> Any:
        """The torch device models run on (imports torch)."""
        models = self._backend.require_models()
        return models.device_info.device

    def service(self, name: str) -> Any:
        """The object an extension offered as ``name`` (``add_service``), or None."""
        return self._backend.offers.find(name)

    def add_service(self, name: str, service: Any) -> None:
        """Offer an object to other extensions and front ends under ``name`` (e.g. ``"controlnet"``)."""
        self._backend.offers.offer(name, service, offered_by=self.name)

    # --- the job queue ------------------------------------------------------------------------------------
    def submit_job(self, task: Callable[[Job], Any], label: str = "") -> Job:
        """Queue ``task(job)`` behind the generations: work that runs networks on the models' device
        (a preprocessor preview, a detection) must not run beside a generation. Returns the job handle."""
        return self._backend.jobs.submit(task, label=label or f"{self.name or 'builtin'} job")

    def run_job(self, task: Callable[[Job], Any], label: str = "") -> Any:
        """``submit_job`` and wait: the task's result, or its error raised here. Never call it from inside a
        job (a generation hook): the queue runs one job at a time, so it would wait for itself."""
        job = self.submit_job(task, label)
        try:
            return job.wait()
        finally:
            job.release()

    def generation_service(self) -> Any:
        return self._backend.generation

    @property
    def backend_for_processing(self) -> Backend:
        """Used by ``modules.extensions.processing``; extensions should not need it."""
        return self._backend
