"""Which settings a remote user may not change: folders the app writes to or reads from, and extension state.

A1111 hides the folder settings with ``--hide-ui-dir-config`` and refuses extension changes when the server
listens on the network. Here the same rule covers the Settings tab, ``POST /sdapi/v1/options`` and any other
writer, because the lock lives in ``Settings.update`` itself: with ``--listen`` / ``--server-name`` (or
``--hide-ui-dir-config``) every option declared ``is_path`` plus the extension switches are read-only unless
``--enable-insecure-extension-access`` is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from modules.settings.cli import is_non_local

EXTENSION_KEYS = ("disabled_extensions", "disable_all_extensions")


def locked_settings(options: Iterable, flags: argparse.Namespace) -> dict[str, str]:
    """``{key: reason}`` for the options that must not change under these flags (empty when all may)."""
    remote = is_non_local(flags)
    allowed = bool(getattr(flags, "enable_insecure_extension_access", False))
    hide_dirs = bool(getattr(flags, "hide_ui_dir_config", False))
    if allowed and not hide_dirs:
        return {}
    locks: dict[str, str] = {}
    if remote or hide_dirs:
        why = (
            "folder settings are read-only with --hide-ui-dir-config"
            if hide_dirs and not remote
            else "the server is reachable from other machines (--listen/--server-name); "
            "start it with --enable-insecure-extension-access to allow changing folders"
        )
        for option in options:
            if getattr(option, "is_path", False):
                locks[option.key] = why
    if remote and not allowed:
        for key in EXTENSION_KEYS:
            locks[key] = (
                "extensions cannot be enabled or disabled while the server is reachable from other machines "
                "(--listen/--server-name) unless it runs with --enable-insecure-extension-access"
            )
    return locks


def folders_locked(flags: argparse.Namespace) -> bool:
    """True when typed-in server folders (batch from directory) are limited to the allowed roots."""
    if getattr(flags, "hide_ui_dir_config", False):
        return True
    return is_non_local(flags) and not getattr(flags, "enable_insecure_extension_access", False)


def allowed_roots(paths) -> list[Path]:
    """The data folder and every folder the command line named (models, checkpoints, VAE, LoRA...)."""
    roots = [paths.data, paths.models, *paths.checkpoints, *paths.vae, paths.lora, paths.embeddings, paths.outputs]
    return list(dict.fromkeys(Path(root).resolve() for root in roots))


def check_folder(text: str, paths, flags: argparse.Namespace, what: str = "folder") -> Path:
    """The folder a user typed, relative ones taken inside the data folder; ValueError with the reason when it
    lies outside the allowed roots while folders are locked (``--listen`` without
    ``--enable-insecure-extension-access``, or ``--hide-ui-dir-config``)."""
    if "\x00" in text:
        raise ValueError(f"{what} {text!r} contains a NUL character")
    folder = Path(text.strip())
    if not folder.is_absolute():
        folder = Path(paths.data) / folder
    if folders_locked(flags):
        resolved = folder.resolve()
        roots = allowed_roots(paths)
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ValueError(
                f"{what} {text.strip()!r} is outside the folders this server may use "
                f"({', '.join(str(root) for root in roots[:2])}...): the server is reachable from other machines"
            )
    return folder
