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
