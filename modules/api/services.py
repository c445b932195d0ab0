"""The shared services the API reads, found in ``backend.services`` or built there once on first use.

Other front ends (the UI tabs) use the same entries, so a style saved in the UI or an upscaler dropped into
the folder and refreshed is what the API lists too.
"""

from __future__ import annotations

import threading
from typing import Any

_BUILD_LOCK = threading.Lock()


def _service(backend: Any, name: str, build: Any) -> Any:
    service = backend.services.get(name)
    if service is None:
        with _BUILD_LOCK:
            service = backend.services.get(name)
            if service is None:
                service = backend.services[name] = build()
    return service


def styles(backend: Any) -> Any:
    """The ``StyleDatabase`` of ``styles.csv``, re-read so edits made elsewhere show (the file is small)."""
    from modules.processing.styles import StyleDatabase

    database = _service(backend, "styles", lambda: StyleDatabase(backend.paths.styles_file))
    database.reload()
    return database


def upscalers(backend: Any) -> Any:
    """The ``UpscalerRegistry`` (None, Lanczos, Nearest and the model files in the upscaler folders)."""
    from modules.upscaling.upscalers import UpscalerRegistry, extra_upscaler_dirs

    if callable(getattr(backend, "upscalers", None)):
        return backend.upscalers()

    return _service(
        backend,
        "upscalers",
        lambda: UpscalerRegistry(
            backend.paths.esrgan, extra_dirs=extra_upscaler_dirs(backend.paths.models), settings=backend.settings
        ),
    )


def face_restorers(backend: Any) -> Any:
    """The ``FaceRestorers`` (GFPGAN and CodeFormer files in models/GFPGAN and models/Codeformer)."""
    from modules.upscaling.face_restoration import face_restorers_of

    return face_restorers_of(backend)
