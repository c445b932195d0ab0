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
    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set(), "none"
    if not isinstance(data, dict):
        return set(), "none"
    return set(data.get("disabled_extensions") or []), str(data.get("disable_all_extensions") or "none")


def builtin_names() -> set[str]:
    """Folder and metadata names of the shipped extensions (a user copy of one of them is not loaded)."""
    from modules.extensions.metadata import read_metadata

    root = PROGRAM_DIR / "extensions-builtin"
    names: set[str] = set()
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        if directory.is_dir() and not directory.name.startswith("."):
            names |= {directory.name.lower(), read_metadata(directory).canonical_name}
    return names


def collides_with_builtin(directory: Path, builtin: set[str]) -> bool:
    from modules.extensions.metadata import read_metadata

    if directory.parent.name == "extensions-builtin":
        return False
    return directory.name.lower() in builtin or read_metadata(directory).canonical_name in builtin


def load_preload(directory: Path) -> Callable[[argparse.ArgumentParser], None] | None:
    """The ``preload(parser)`` function of an extension folder (None when it has none); raises what it raises."""
    script = directory / "preload.py"
    if not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"preload_{directory.name}", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hook = getattr(module, "preload", None)
    return hook if callable(hook) else None


def _guarded(name: str, hook: Callable[[argparse.ArgumentParser], None]) -> Callable[[argparse.ArgumentParser], None]:
    """A preload that fails (e.g. a flag another extension already adds) must not stop the server."""

    def run(parser: argparse.ArgumentParser) -> None:
        try:
            hook(parser)
        except BaseException as error:  # argparse raises ArgumentError; SystemExit must not end start-up either
            if isinstance(error, KeyboardInterrupt):
                raise
            log.error("Extension %s: preload.py failed (%s: %s); its flags are not available", name,
                      type(error).__name__, error)  # fmt: skip

    return run


def check_preload(directory: Path, others: Sequence[Path] = ()) -> str | None:
    """Why ``directory``'s preload.py fails next to the built-in flags and ``others``' (None when it works)."""
    from modules.settings.cli import build_parser

    parser = build_parser()
    for other in others:
        try:
            hook = load_preload(other)
            if hook is not None:
                hook(parser)
        except BaseException:  # noqa: S110 (another extension's failure is reported for that one)
            pass
    try:
        hook = load_preload(directory)
        if hook is not None:
            hook(parser)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        return f"preload.py failed: {type(error).__name__}: {error}"
    return None


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
    builtin = builtin_names()
    hooks = []
    for directory in extension_dirs(data_dir):
        is_builtin = directory.parent.name == "extensions-builtin"
        if directory.name in disabled or (
            (known.disable_extra_extensions or disable_all == "extra") and not is_builtin
        ):
            continue
        if collides_with_builtin(directory, builtin):
            log.warning("Extension %s has the name of a built-in extension; its preload.py is not run", directory.name)
            continue
        try:
            hook = load_preload(directory)
        except Exception:
            log.exception("Extension %s: preload.py failed; its flags are not available", directory.name)
            continue
        if hook is not None:
            hooks.append(_guarded(directory.name, hook))
    return hooks
