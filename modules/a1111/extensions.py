"""A1111's ``modules.extensions``: the extension list and folders (read from the extension manager)."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve


class ExtensionView:
    """A1111's ``Extension``: ``name``, ``path``, ``enabled``, ``is_builtin``, ``remote``..."""

    def __init__(self, ext: Any) -> None:
        self.name = ext.name
        self.canonical_name = ext.canonical_name
        self.path = str(ext.path)
        self.enabled = ext.active
        self.is_builtin = ext.is_builtin
        self.status = ext.status
        self._ext = ext

    @property
    def remote(self) -> str:
        return self._ext.git().remote

    @property
    def commit_hash(self) -> str:
        return self._ext.git().commit_hash

    def list_files(self, subdir: str, extension: str) -> list[Any]:
        import os

        folder = os.path.join(self.path, subdir)
        if not os.path.isdir(folder):
            return []
        return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(extension)]


def _extensions() -> list[ExtensionView]:
    manager = _resolve.extension_manager()
    return [ExtensionView(ext) for ext in getattr(manager, "extensions", [])]


def active() -> list[ExtensionView]:
    return [ext for ext in _extensions() if ext.enabled]


def __getattr__(name: str) -> Any:
    if name == "extensions":
        return _extensions()
    if name in ("extensions_dir", "extensions_builtin_dir"):
        from modules.a1111 import paths

        return getattr(paths, name)
    raise AttributeError(f"module 'modules.extensions' has no attribute {name!r}")
