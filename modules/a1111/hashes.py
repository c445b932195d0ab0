"""A1111's ``modules.hashes``: SHA-256 of files, cached in the program's hash cache where it applies."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modules.a1111 import _resolve


def calculate_sha256(filename: str) -> str:
    from modules.models.hashing import sha256_file

    return sha256_file(filename)


def _cache() -> Any:
    models = _resolve.models_or_none()
    return getattr(models, "hashes", None) if models is not None else None


def sha256_from_cache(filename: str, title: str, use_addnet_hash: bool = False) -> str | None:
    cache = _cache()
    if cache is None:
        return None
    return cache.cached(filename, "addnet" if use_addnet_hash else "sha256")


def sha256(filename: str, title: str, use_addnet_hash: bool = False) -> str | None:
    cache = _cache()
    if cache is not None:
        return cache.get(filename, "addnet" if use_addnet_hash else "sha256")
    if use_addnet_hash:
        from modules.models.hashing import addnet_hash

        return addnet_hash(filename)
    return calculate_sha256(filename)


def addnet_hash_safetensors(b: Any) -> str:
    """A1111: SHA-256 of a safetensors file's tensor data (header skipped), read from an open binary file."""
    digest = hashlib.sha256()
    b.seek(0)
    header = b.read(8)
    n = int.from_bytes(header, "little")
    b.seek(n + 8)
    for chunk in iter(lambda: b.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def exists(filename: str) -> bool:
    return Path(filename).exists()
