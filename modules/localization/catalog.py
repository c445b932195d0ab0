"""The catalog of language files: which languages exist, and the merged strings of one of them.

Language files are A1111's: one flat JSON object per file, mapping the exact English text of the interface to
its translation (``localizations/zh_CN.json``). A language is named by the file's stem. Extensions may ship
``<extension>/localizations/<stem>.json``; a file with the same stem merges into the main one, root first and
then the extensions in load order, so later files win. Nothing is cached across file changes: the folders
are listed and the chosen language read again (or taken from an mtime-keyed cache) at every page load, so a
new choice or an edited file takes effect on Reload UI without a restart.

Bad files never stop the page: a file that is not valid JSON, or whose top level is not an object, is
logged once with its path and skipped; the other files of the language still load.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NONE_CHOICE = "None"
RTL_KEY = "rtl"  # A1111: ``"rtl": true`` switches the page to right-to-left styles

ExtensionDirs = Callable[[], Iterable[Path]]


MAX_LANGUAGE_FILE_BYTES = 16 * 1024 * 1024  # A1111's largest language files are below 1 MB


class LanguageFileError(ValueError):
    """A language file that cannot be used (bad JSON, or not a JSON object)."""


def read_language_file(path: Path) -> dict[str, Any]:
    """The usable entries of one language file; raise LanguageFileError naming the file when it is unusable.

    String values are kept; so is the boolean ``rtl`` flag. Other values (numbers, lists, null) are dropped
    with a warning, because the page could not show them.
    """
    try:
        size = path.stat().st_size
        if size > MAX_LANGUAGE_FILE_BYTES:
            raise LanguageFileError(
                f"{path}: {size} bytes, more than the {MAX_LANGUAGE_FILE_BYTES} a language file may have"
            )
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise LanguageFileError(f"{path}: cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise LanguageFileError(f"{path}: not valid JSON: {error}") from None
    except RecursionError:
        raise LanguageFileError(f"{path}: not a language file (JSON nested too deeply)") from None
    if not isinstance(data, dict):
        raise LanguageFileError(
            f"{path}: expected a JSON object of English text -> translation, found {type(data).__name__}"
        )
    entries: dict[str, Any] = {}
    dropped = 0
    for key, value in data.items():
        if isinstance(value, str) or (key == RTL_KEY and isinstance(value, bool)):
            entries[key] = value
        else:
            dropped += 1
    if dropped:
        log.warning(
            "%s: %d entr%s with a value that is not text ignored", path, dropped, "y" if dropped == 1 else "ies"
        )
    return entries


def json_files(folder: Path) -> list[Path]:
    """The ``*.json`` files directly in ``folder`` (case-insensitive suffix), sorted by name; [] if absent."""
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        (path for path in children if path.suffix.lower() == ".json" and path.is_file()),
        key=lambda path: path.name.lower(),
    )


class LocalizationCatalog:
    """Language files of the root folder and of the extensions, by language name.

    ``extension_dirs`` is called at every scan and returns the active extensions' folders in load order
    (the extension loader knows which are enabled); each may hold a ``localizations/`` folder.
    """

    def __init__(self, root: Path, extension_dirs: ExtensionDirs | None = None) -> None:
        self.root = Path(root)
        self._extension_dirs = extension_dirs or (lambda: ())
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], dict[str, Any] | None]] = {}

    # --- discovery ------------------------------------------------------------------------------------
    def files(self) -> dict[str, list[Path]]:
        """Every language file, by language name, in merge order (root first, then extensions)."""
        found: dict[str, list[Path]] = {}
        folders = [self.root]
        try:
            folders += [Path(folder) / "localizations" for folder in self._extension_dirs()]
        except Exception:  # a broken extension list must not take the languages of the root folder down
            log.exception("Listing extension folders for language files failed")
        for folder in folders:
            for path in json_files(folder):
                found.setdefault(path.stem, []).append(path)
        return found

    def names(self) -> list[str]:
        """Language names that have at least one usable file, sorted."""
        return sorted(
            (name for name, paths in self.files().items() if any(self._load(p) is not None for p in paths)),
            key=str.lower,
        )

    def choices(self) -> list[str]:
        """What the ``localization`` setting offers: "None" (English), then every language."""
        return [NONE_CHOICE, *self.names()]

    # --- strings --------------------------------------------------------------------------------------
    def strings(self, name: str | None) -> dict[str, Any]:
        """The merged translations of ``name``; {} for "None", "", None or an unknown name (English)."""
        if not name or name == NONE_CHOICE:
            return {}
        paths = self.files().get(name)
        if not paths:
            log.warning(
                "Language %r chosen in Settings has no file in %s or the extensions; showing English", name, self.root
            )
            return {}
        merged: dict[str, Any] = {}
        for path in paths:
            entries = self._load(path)
            if entries is not None:
                merged.update(entries)
        return merged

    def translate(self, name: str | None, text: str) -> str:
        """``text`` in language ``name``, or ``text`` itself when the language lacks it (English fallback)."""
        value = self.strings(name).get(text)
        return value if isinstance(value, str) and value else text

    def _load(self, path: Path) -> dict[str, Any] | None:
        """A file's entries, re-read only when its size or mtime changed; None for an unusable file."""
        try:
            stat = path.stat()
        except OSError:
            return None
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == signature:
                return cached[1]
        try:
            entries: dict[str, Any] | None = read_language_file(path)
        except LanguageFileError as error:
            log.error("Skipping language file %s", error)
            entries = None
        with self._lock:
            self._cache[path] = (signature, entries)
        return entries
