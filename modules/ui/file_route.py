"""A1111's ``/file=<path>`` route: files of the active extensions' folders and of the outputs, nothing else.

Extensions load their own data through it (tagcomplete: ``file=extensions/.../tags/danbooru.csv`` and
``file=tmp/tagAutocompletePath.txt``), as A1111 lets them. A relative path is taken from the program folder or
the data folder (A1111 resolves it from its own folder); the file is served only when its real path (symlinks
followed, ``..`` collapsed) lies inside an allowed root: an active extension's folder, the outputs folder, or
the ``tmp`` folder A1111 extensions write beside them. Anything else answers 404, whether it exists or not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request

from modules.ui.gradio_auth import is_authorized

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def allowed_roots(backend: Backend) -> list[Path]:
    """The folders ``/file=`` may serve from, as the backend has them now."""
    paths = backend.paths
    roots = [paths.outputs, paths.program / "tmp", paths.data / "tmp"]
    extensions = backend.extensions
    if extensions is not None:
        roots += list(extensions.active_dirs())
    return roots


def resolve_allowed(requested: str, roots: Iterable[Path], bases: Sequence[Path]) -> Path | None:
    """The real file ``requested`` names when it lies inside one of ``roots``; None otherwise.

    ``bases``: folders a relative ``requested`` is looked up in, in order.
    """
    if not requested or "\x00" in requested:
        return None
    real_roots = []
    for root in roots:
        try:
            real_roots.append(Path(root).resolve(strict=True))
        except OSError:
            continue
    given = Path(requested)
    candidates = [given] if given.is_absolute() else [Path(base) / given for base in bases]
    for candidate in candidates:
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            continue
        if real.is_file() and any(real.is_relative_to(root) for root in real_roots):
            return real
    return None


def install_file_route(app: Any, backend: Backend) -> None:
    """Add ``GET/HEAD /file=<path>`` (before the Gradio mount, so it wins over Gradio's own)."""
    from fastapi.responses import FileResponse, PlainTextResponse

    async def serve(path: str, request: Request):
        if not await is_authorized(app, request):
            return PlainTextResponse("Not authenticated", status_code=401)
        real = resolve_allowed(path, allowed_roots(backend), [backend.paths.program, backend.paths.data])
        if real is None:
            log.debug("/file= refused %r", path)
            return PlainTextResponse(f"File not found: {path}", status_code=404)
        return FileResponse(real, headers={"Cache-Control": "no-cache"})

    app.add_api_route("/file={path:path}", serve, methods=["GET", "HEAD"], include_in_schema=False)
