"""A1111/civitai-compatible file hashes, computed lazily and cached across runs.

- ``sha256``: the whole file; its first 10 hex digits are the short hash shown in titles and infotext.
- ``legacy``: A1111's old "model hash", sha256 of the 64 KiB at offset 1 MiB, first 8 hex digits.
- ``addnet``: kohya/additional-networks hash of a .safetensors file without its header (LoRA infotext).

Hashing a 2-7 GB file takes seconds, so nothing is hashed at start-up: a value is computed when first needed
(a checkpoint load, an infotext) and kept in ``cache.json`` under the file's absolute path with its size and
mtime, so an edited or replaced file is hashed again. The cache file is written atomically.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules.settings.store import write_json_atomic

log = logging.getLogger(__name__)

BLOCK_SIZE = 1024 * 1024
CACHE_SECTION = "model-hashes"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of the whole file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def legacy_model_hash(path: str | Path) -> str:
    """A1111's pre-1.0 "model hash": sha256 of file[0x100000:0x110000], first 8 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(0x100000)
        digest.update(handle.read(0x10000))
    return digest.hexdigest()[:8]


def addnet_hash(path: str | Path) -> str:
    """kohya-ss hash of a .safetensors file: sha256 of everything after the JSON header."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        handle.seek(8 + header_len)
        for block in iter(lambda: handle.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


_KINDS = {"sha256": sha256_file, "legacy": legacy_model_hash, "addnet": addnet_hash}


def _cache_key(path: Path) -> str:
    """The cache.json key of ``path``: its text, with bytes that are not UTF-8 as ``\\xNN`` (still unique)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class HashCache:
    """Hashes of files by (path, size, mtime), persisted in one section of ``cache.json``.

    Other top-level sections of the file are preserved, so other subsystems may share it.
    """

    def __init__(self, cache_file: Path | None) -> None:
        self.cache_file = Path(cache_file) if cache_file else None
        self._lock = threading.RLock()
        self._entries: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            entries: dict[str, dict[str, Any]] = {}
            if self.cache_file is not None and self.cache_file.exists():
                try:
                    with open(self.cache_file, encoding="utf-8") as handle:
                        data = json.load(handle)
                    section = data.get(CACHE_SECTION, {}) if isinstance(data, dict) else {}
                    entries = {k: v for k, v in section.items() if isinstance(v, dict)}
                except (OSError, ValueError) as error:
                    log.warning(
                        "Hash cache %s could not be read (%s); hashes will be computed again", self.cache_file, error
                    )
            self._entries = entries
        return self._entries

    def _save(self) -> None:
        if self.cache_file is None:
            return
        data: dict[str, Any] = {}
        if self.cache_file.exists():
            try:
                with open(self.cache_file, encoding="utf-8") as handle:
                    loaded = json.load(handle)
                if isinstance(loaded, dict):
                    data = loaded
            except (OSError, ValueError):
                data = {}
        data[CACHE_SECTION] = self._load()
        try:
            write_json_atomic(self.cache_file, data)
        except OSError as error:
            log.warning("Could not write the hash cache %s: %s", self.cache_file, error)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, float]:
        stat = path.stat()
        return stat.st_size, stat.st_mtime

    def cached(self, path: str | Path, kind: str = "sha256") -> str | None:
        """The cached value when the file is unchanged since it was hashed, else None (never computes)."""
        path = Path(path).resolve()
        try:
            size, mtime = self._stamp(path)
        except OSError:
            return None
        with self._lock:
            entry = self._load().get(_cache_key(path))
            if entry and entry.get("size") == size and entry.get("mtime") == mtime:
                return entry.get(kind)
        return None

    def get(self, path: str | Path, kind: str = "sha256") -> str:
        """The hash of ``kind`` for the file, computed and cached when missing or stale."""
        path = Path(path).resolve()
        value = self.cached(path, kind)
        if value is not None:
            return value
        size, mtime = self._stamp(path)
        if kind == "sha256" and size > 64 * 1024 * 1024:
            log.info("Calculating sha256 for %s (%.1f GB)", path, size / 1e9)
        value = _KINDS[kind](path)
        with self._lock:
            entries = self._load()
            entry = entries.get(_cache_key(path))
            if not entry or entry.get("size") != size or entry.get("mtime") != mtime:
                entry = {"size": size, "mtime": mtime}
            entry[kind] = value
            entries[_cache_key(path)] = entry
            self._save()
        return value


class BackgroundHasher:
    """Computes sha256 of files in daemon threads, one file at a time, never blocking the caller.

    Daemon threads, so quitting the app never waits for a multi-GB hash to finish.
    """

    def __init__(self, cache: HashCache) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._jobs: dict[str, concurrent.futures.Future] = {}

    def submit(self, path: Path, on_done: Callable[[str], None] | None = None) -> concurrent.futures.Future:
        key = str(Path(path).resolve())
        if key in self._jobs:
            return self._jobs[key]
        job: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs[key] = job

        def run() -> None:
            with self._lock:
                try:
                    job.set_result(self.cache.get(path))
                except OSError as error:
                    log.warning("Could not hash %s: %s", path, error)
                    job.set_exception(error)
                    return
            if on_done is not None:
                on_done(job.result())

        threading.Thread(target=run, name="model-hash", daemon=True).start()
        return job

    def pending(self, path: Path) -> concurrent.futures.Future | None:
        return self._jobs.get(str(Path(path).resolve()))
