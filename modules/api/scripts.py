"""``script_name``/``script_args`` and ``alwayson_scripts`` mapped to typed ``ScriptArgs`` at the edge.

The engine never sees A1111's combined positional script-argument vector: each script gets its own values.
Scripts are listed by the extension system's catalog, ``backend.scripts``, which offers
``scripts(is_img2img) -> list`` of A1111-shaped script objects (``title()`` or ``title``, ``alwayson``,
optional ``api_info``) and optionally ``validate_alwayson(title, args, is_img2img)`` (ValueError → 422).
Titles match case-insensitively, as A1111's ``script_name_to_index``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modules.api.errors import ApiError
from modules.processing.params import ScriptArgs

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def title_of(script: Any) -> str:
    title = getattr(script, "title", "")
    return str(title() if callable(title) else title)


def listed_scripts(backend: Backend, is_img2img: bool) -> list[Any] | None:
    """The scripts offered for that tab, or None when no script catalog is installed."""
    catalog = backend.scripts
    if catalog is None:
        return None
    return list(catalog.scripts(is_img2img))


def _find(scripts: list[Any], title: str) -> Any | None:
    wanted = title.strip().lower()
    for script in scripts:
        if title_of(script).strip().lower() == wanted:
            return script
    return None


def _args_of(title: str, value: Any) -> tuple[Any, ...]:
    """``{"args": [...]}`` (A1111), a bare list, or ``{}`` / ``null`` for "defaults"."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        args = value.get("args", [])
        if args is None:
            return ()
        if not isinstance(args, (list, tuple)):
            raise ApiError(422, f"alwayson_scripts[{title!r}].args must be a list, got {type(args).__name__}")
        return tuple(args)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise ApiError(422, f"alwayson_scripts[{title!r}] must be an object with 'args' or a list")


def resolve_alwayson(backend: Backend, requested: Mapping[str, Any] | None, is_img2img: bool) -> tuple[ScriptArgs, ...]:
    """Typed always-on script values with canonical titles; unknown or selectable titles give 422."""
    if not requested:
        return ()
    scripts = listed_scripts(backend, is_img2img)
    resolved: list[ScriptArgs] = []
    for title, value in requested.items():
        args = _args_of(title, value)
        if scripts is None:
            resolved.append(ScriptArgs(str(title), args))
            continue
        script = _find(scripts, str(title))
        if script is None:
            raise ApiError(422, f"always on script {title} not found")
        if not getattr(script, "alwayson", False):
            raise ApiError(422, "Cannot have a selectable script in the always on scripts params")
        validate = getattr(backend.scripts, "validate_alwayson", None)
        if validate is not None:
            try:
                validate(title_of(script), args, is_img2img)
            except ValueError as error:  # InvalidParams included
                raise ApiError(422, f"alwayson_scripts[{title!r}]: {error}") from error
        resolved.append(ScriptArgs(title_of(script), args))
    return tuple(resolved)


def resolve_selectable(backend: Backend, name: str | None, is_img2img: bool) -> str | None:
    """The canonical title of the selectable script ``name``; 422 when there is none by that title."""
    if not name or not str(name).strip():
        return None
    scripts = listed_scripts(backend, is_img2img) or []
    script = _find([s for s in scripts if not getattr(s, "alwayson", False)], str(name))
    if script is None:
        raise ApiError(422, f"Script '{name}' not found")
    return title_of(script)


def script_names(backend: Backend, is_img2img: bool) -> list[str]:
    """A1111's ``/sdapi/v1/scripts`` entries: lowercase titles."""
    return [title_of(s).lower() for s in listed_scripts(backend, is_img2img) or [] if title_of(s)]


def script_infos(backend: Backend) -> list[dict[str, Any]]:
    """A1111's ``/sdapi/v1/script-info``: each script's ``api_info`` (or a minimal one)."""
    infos: list[dict[str, Any]] = []
    for is_img2img in (False, True):
        for script in listed_scripts(backend, is_img2img) or []:
            info = getattr(script, "api_info", None)
            if callable(info):
                info = info()
            if info is None:
                runner = backend.scripts
                args = runner.args_info(script) if runner is not None and hasattr(runner, "args_info") else []
                info = {
                    "name": title_of(script).lower(),
                    "is_alwayson": bool(getattr(script, "alwayson", False)),
                    "is_img2img": is_img2img,
                    "args": args,
                }
            elif not isinstance(info, dict):
                info = info.model_dump() if hasattr(info, "model_dump") else dict(vars(info))
            infos.append(info)
    return infos
