"""Puts the language catalog into the Backend: ``backend.localization`` and the choices of the
``localization`` setting.

The catalog reads the extensions' ``localizations/`` folders of the extensions active in this run, in load
order, as the extension subsystem reports them; the choice list is a callable, so languages added while the
server runs appear on the next page load (the Settings tab re-reads choices then).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.localization.catalog import LocalizationCatalog

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

SETTING_KEY = "localization"


def install_localization(backend: Backend) -> LocalizationCatalog:
    """Build the catalog for ``backend``, register it as a service and give the setting its choices."""
    catalog = LocalizationCatalog(backend.paths.localizations, lambda: active_extension_dirs(backend))
    backend.localization = catalog
    registry = backend.settings.registry
    if SETTING_KEY in registry:
        registry.set_choices(SETTING_KEY, catalog.choices)
    chosen = backend.settings.get(SETTING_KEY)
    if chosen and chosen not in catalog.choices():
        log.warning("Localization %r is chosen in Settings but no such language file exists; showing English", chosen)
    return catalog


def active_extension_dirs(backend: Backend) -> list[Path]:
    """The active extensions' folders in load order (from the extension subsystem when it is present)."""
    try:
        from modules.extensions.discovery import active_extension_dirs as from_extensions
    except ImportError:
        return enabled_extension_dirs(backend.paths.builtin_extensions, backend.paths.extensions, backend.settings)
    return list(from_extensions(backend))


def enabled_extension_dirs(builtin: Path, user: Path, settings: Any = None) -> list[Path]:
    """Built-in extensions, then user extensions, each sorted by folder name, minus A1111's disabled ones
    (``disabled_extensions`` folder names; ``disable_all_extensions`` "none" / "extra" / "all")."""
    disabled = set(settings.get("disabled_extensions") or []) if settings is not None else set()
    mode = str(settings.get("disable_all_extensions") or "none") if settings is not None else "none"
    groups: Iterable[Path] = [] if mode == "all" else [builtin] if mode == "extra" else [builtin, user]
    found: list[Path] = []
    for folder in groups:
        try:
            children = sorted((child for child in Path(folder).iterdir() if child.is_dir()), key=lambda c: c.name)
        except OSError:
            continue
        found += [child for child in children if child.name not in disabled and not child.name.startswith(".")]
    return found
