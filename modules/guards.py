"""The server's protections that depend on the whole Backend, installed once by the composition root.

- settings that must not change from the page or the API under these flags (``settings/locks.py``);
- stored values of extensions' options checked now that those options are declared (``Settings.validate_stored``);
- Pillow's own decoded-size limit set from ``max_image_pixels``, so Gradio's upload decoding is bounded too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def install_guards(backend: Backend) -> None:
    from modules.images.limits import apply_to_pillow, max_pixels
    from modules.settings.locks import locked_settings

    settings = backend.settings
    settings.locked = locked_settings(settings.registry, backend.flags)
    if settings.locked:
        log.info("Read-only from the page and the API: %s", ", ".join(sorted(settings.locked)))
    before = settings.load_warning
    if settings.validate_stored():
        backend.warnings = [w for w in backend.warnings if w != before] + [settings.load_warning or ""]
    apply_to_pillow(max_pixels(settings))

    def on_change(key: str, _old: Any, _new: Any) -> None:
        if key == "max_image_pixels":
            apply_to_pillow(max_pixels(settings))

    settings.on_change(on_change)
