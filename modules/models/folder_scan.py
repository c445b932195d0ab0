"""Bounded recursive listing of model folders: symlink loops, unreadable entries and huge trees cannot hang it.

Model folders are often full of symlinks (to shared drives, to other UIs' folders). ``os.walk`` following
links walks a loop (``models/Lora/again -> ..``) forever, and ``Path.rglob`` may do the same. This walk
remembers every real folder it entered (device and inode) and skips a second visit, skips entries it cannot
read, and stops after ``time_limit`` seconds or ``max_entries`` names; every skip is logged and reported.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from modules.models.safe_text import printable_name

log = logging.getLogger(__name__)

TIME_LIMIT_S = 20.0
MAX_ENTRIES = 200_000
MAX_DEPTH = 32


@dataclasses.dataclass
class ScanResult:
    """Files found plus one plain sentence per thing skipped (shown on the page as warnings)."""

    files: list[Path]
    problems: list[str]


def scan_files(
    directory: Path,
    suffixes: Sequence[str],
    time_limit: float = TIME_LIMIT_S,
    max_entries: int = MAX_ENTRIES,
) -> ScanResult:
    """Regular files under ``directory`` (symlinks followed, each real folder once) ending in ``suffixes``."""
    result = ScanResult([], [])
    directory = Path(directory)
    try:
        if not directory.is_dir():
            return result
    except OSError:
        return result
    lowered = tuple(s.lower() for s in suffixes)
    deadline = time.monotonic() + time_limit
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, int]] = [(directory, 0)]
    entries = 0

    def skip(path: Path, why: str) -> None:
        message = f"{printable_name(path)} skipped: {why}"
        log.warning("Model folder scan: %s", message)
        result.problems.append(message)

    while stack:
        folder, depth = stack.pop()
        try:
            info = folder.stat()
        except OSError as error:
            skip(folder, f"cannot be read ({error.strerror or error})")
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            skip(folder, "it leads back to a folder already scanned (symlink loop)")
            continue
        seen.add(key)
        if depth > MAX_DEPTH:
            skip(folder, f"nested deeper than {MAX_DEPTH} folders")
            continue
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            skip(folder, f"cannot be listed ({error.strerror or error})")
            continue
        subfolders = []
        for entry in children:
            entries += 1
            if entries > max_entries or time.monotonic() > deadline:
                skip(directory, f"the scan stopped after {entries - 1} entries / {time_limit:.0f} s")
                result.files.sort()
                return result
            try:
                if entry.is_dir():
                    subfolders.append(Path(entry.path))
                elif entry.is_file() and entry.name.lower().endswith(lowered):
                    result.files.append(Path(entry.path))
            except OSError as error:
                skip(Path(entry.path), f"cannot be read ({error.strerror or error})")
        stack.extend((sub, depth + 1) for sub in reversed(subfolders))
    return result
