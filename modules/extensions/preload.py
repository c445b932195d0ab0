"""Extension ``preload.py`` files: they add command-line flags, so they run before the flags are parsed.

Only the data folder and the disabled-extension settings are needed to find them, so they are read here with
a tiny pre-parser instead of the full start-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PROGRAM_DIR = Path(__file__).resolve().parent.parent.parent


def extension_dirs(data_dir: Path) -> list[Path]:
    """Built-in extensions first, then the user's, each sorted by name (A1111's order)."""
    found: list[Path] = []
    for root in (PROGRAM_DIR / "extensions-builtin", data_dir / "extensions"):
        if root.is_dir():
            found.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    return found


def disabled_names(settings_file: Path) -> tuple[set[str], str]:
    """The user's disabled extensions from ``config.json``; a file or value of the wrong shape counts as none
    (the settings store reports it on the page once the app is built)."""
    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return set(), "none"
    if not isinstance(data, dict):
        return set(), "none"
    names = data.get("disabled_extensions") or []
    if not isinstance(names, list):
        names = []
    disable_all = data.get("disable_all_extensions")
    return {str(name) for name in names if isinstance(name, str)}, disable_all if isinstance(
        disable_all, str
    ) else "none"


def collect_preload_hooks(argv: Sequence[str] | None) -> list[Callable[[argparse.ArgumentParser], None]]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--data-dir", default=None)
    pre.add_argument("--ui-settings-file", default=None)
    pre.add_argument("--disable-all-extensions", action="store_true")
    pre.add_argument("--disable-extra-extensions", action="store_true")
    known, _ = pre.parse_known_args(argv)
    if known.disable_all_extensions:
        return []
    data_dir = Path(known.data_dir).resolve() if known.data_dir else PROGRAM_DIR
    settings_file = Path(known.ui_settings_file) if known.ui_settings_file else data_dir / "config.json"
    disabled, disable_all = disabled_names(settings_file)
    if disable_all == "all":
        return []
    hooks = []
    for directory in extension_dirs(data_dir):
        builtin = directory.parent.name == "extensions-builtin"
        if directory.name in disabled or ((known.disable_extra_extensions or disable_all == "extra") and not builtin):
            continue
        script = directory / "preload.py"
        if not script.is_file():
            continue
        try:
            spec = importlib.util.spec_from_file_location(f"preload_{directory.name}", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if callable(getattr(module, "preload", None)):
                hooks.append(module.preload)
        except Exception:
            log.exception("Extension %s: preload.py failed; its flags are not available", directory.name)
    return hooks
