"""Extension files for the page: ``javascript/*.js`` / ``*.mjs`` and ``style.css`` of active extensions.

They are inlined into the page head / CSS in load order (A1111 serves them as ``<script src>`` tags; inlining
needs no extra route and the page is built once). A file that cannot be read is skipped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        log.warning("Extension file %s skipped: %s", path, error)
        return None


def page_head(extensions: list[Any]) -> str:
    """``<script>`` tags for every active extension's javascript folder (``.mjs`` as modules)."""
    tags = []
    for ext in extensions:
        folder = ext.path / "javascript"
        if not ext.active or not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.js"), *folder.glob("*.mjs")]):
            text = _read(path)
            if text is not None:
                kind = ' type="module"' if path.suffix == ".mjs" else ""
                safe = text.replace("</script", "<\\/script")
                tags.append(f'<script{kind} data-extension="{ext.name}">{safe}</script>')
    return "\n".join(tags)


def page_css(extensions: list[Any]) -> str:
    parts = []
    for ext in extensions:
        path = ext.path / "style.css"
        if ext.active and path.is_file():
            text = _read(path)
            if text is not None:
                parts.append(f"/* {ext.name} */\n{text}")
    return "\n".join(parts)
