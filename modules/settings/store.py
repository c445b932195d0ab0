"""Atomic persistence of settings in ``config.json``.

A1111 writes ``config.json`` in place, so a crash mid-write loses every setting. Here a save goes to a
temporary file in the same folder, is flushed to disk and then renamed over the old file, which is atomic on
POSIX and Windows. A file that cannot be parsed is moved aside (never deleted) and defaults are used.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_SETTINGS_BYTES = 16 * 1024 * 1024  # a real config.json is a few KB


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see either the old or the new file, never half."""
    write_text_atomic(path, json.dumps(data, indent=4, ensure_ascii=False))


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


class JsonSettingsStore:
    """Loads and saves the flat ``{key: value}`` map of ``config.json``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> tuple[dict[str, Any], str | None]:
        """Return (values, warning). A corrupt file is moved to ``<name>.bak-<timestamp>``."""
        if not self.path.exists():
            return {}, None
        try:
            size = self.path.stat().st_size
            if size > MAX_SETTINGS_BYTES:
                raise ValueError(f"it is {size} bytes, more than the {MAX_SETTINGS_BYTES} a settings file may have")
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, found {type(data).__name__}")
            return data, None
        except RecursionError:
            return self._set_aside("it is nested too deeply")
        except (OSError, ValueError) as error:
            return self._set_aside(str(error))

    def backup(self) -> Path:
        """Copy the file as it is now to ``<name>.bak-<timestamp>`` (before invalid values are dropped)."""
        backup = self.path.with_name(f"{self.path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(self.path, backup)
        return backup

    def _set_aside(self, error: str) -> tuple[dict[str, Any], str]:
        """Move an unreadable file to ``<name>.bak-<timestamp>`` (never delete it) and start from defaults."""
        backup = self.path.with_name(f"{self.path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, backup)
            where = f"it was moved to {backup}"
        except OSError as move_error:
            where = f"it could not be moved aside ({move_error})"
        warning = f"Settings file {self.path} could not be read ({error}); {where} and defaults are used."
        log.warning(warning)
        return {}, warning

    def save(self, values: dict[str, Any]) -> None:
        write_json_atomic(self.path, values)


def remove_temporaries_of(path: Path) -> list[Path]:
    """Delete the temporaries ``write_text_atomic`` makes for ``path`` (``.<name>.<random>.tmp`` beside it)."""
    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for leftover in candidates:
        try:
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()
                removed.append(leftover)
        except OSError as error:
            log.warning("Could not remove the leftover %s: %s", leftover, error)
    if removed:
        log.info("Removed %d temporary file(s) a crash left beside %s", len(removed), path)
    return removed
