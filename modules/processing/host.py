"""``ProcessingHost``: the narrow view of the program that processing works through.

Processing (``pipeline.generate`` and its helpers) needs settings, folders, the model manager, the upscaler
and face-restorer registries, the styles database and the extension system's script hooks; it does not need
the Backend, and typing it against this Protocol keeps it from reaching for more. The Backend satisfies it,
and so can any test double or worker process that holds these members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modules.extensions.runner import ScriptRunner
    from modules.jobs.queue import JobQueue
    from modules.models.manager import ModelManager
    from modules.paths import Paths
    from modules.processing.styles import StyleDatabase
    from modules.settings.registry import Settings
    from modules.upscaling.face_restoration import FaceRestorers
    from modules.upscaling.upscalers import UpscalerRegistry


class ProcessingHost(Protocol):
    settings: Settings
    paths: Paths
    jobs: JobQueue
    models: ModelManager | None
    scripts: ScriptRunner | None  # None until the extensions are loaded
    styles: StyleDatabase
    upscalers: UpscalerRegistry
    face_restorers: FaceRestorers

    def require_models(self) -> ModelManager: ...
