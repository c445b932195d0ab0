"""How failures become HTTP answers: one table from our exception types to status codes, A1111's error body.

A1111 answers errors with ``{"error": <type>, "detail": <message>, "body": ..., "errors": <text>}``; clients
print ``detail``. Impossible requests (bad values, unknown names, broken images) are 4xx with a message that
names the field; only real faults of the server are 500, and those are logged with their traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than 200 decided by a route: status, message and optional headers."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def _status_table() -> list[tuple[type[BaseException], int]]:
    """Exception types raised below the API with their status; imported here so the table stays in one place."""
    from modules.app import BackendNotReady
    from modules.models.errors import ModelLoadError
    from modules.processing.infotext import InfotextTooLongError
    from modules.processing.params import InvalidParams
    from modules.processing.samplers import SamplerError
    from modules.settings.registry import FrozenSettingsError, LockedSettingError

    return [
        (BackendNotReady, 503),
        (FrozenSettingsError, 403),
        (LockedSettingError, 403),
        (InfotextTooLongError, 413),
        (SamplerError, 400),
        (InvalidParams, 422),
        (ModelLoadError, 422),  # the named file cannot be used; the previous model stays loaded
    ]


def status_for(error: BaseException) -> int | None:
    """The status an exception maps to, or None when it is an unexpected fault."""
    if isinstance(error, ApiError):
        return error.status_code
    for kind, status in _status_table():
        if isinstance(error, kind):
            return status
    return None


def error_body(error: BaseException, detail: str) -> dict[str, Any]:
    """A1111's error body; text that names files that are not UTF-8 is made printable so it can be sent."""
    from modules.models.safe_text import printable_name

    return {
        "error": type(error).__name__,
        "detail": printable_name(detail),
        "body": "",
        "errors": printable_name(str(error)),
    }


def _printable(value: Any) -> Any:
    """A copy of a validation error item that strict JSON can encode (the offending input may be NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _printable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def install_error_handlers(app: Any) -> None:
    """Answer our exceptions and HTTPExceptions with A1111's body; anything else is a logged 500."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def respond(status: int, error: BaseException, detail: str, headers: dict[str, str] | None = None):
        if status == 503:
            headers = {**(headers or {}), "Retry-After": "5"}
        return JSONResponse(jsonable_encoder(error_body(error, detail)), status_code=status, headers=headers)

    async def on_http_exception(request, error: HTTPException):
        return respond(error.status_code, error, str(error.detail), getattr(error, "headers", None))

    async def on_api_error(request, error: ApiError):
        return respond(error.status_code, error, error.detail, error.headers)

    async def on_known(request, error: Exception):
        return respond(status_for(error) or 500, error, str(error))

    async def on_unexpected(request, error: Exception):
        log.error("API error: %s %s", request.method, request.url.path, exc_info=error)
        return respond(500, error, f"{type(error).__name__}: {error}")

    async def on_validation_error(request, error: Exception):
        """FastAPI's 422, with values JSON cannot carry (NaN, Infinity, bytes) shown as text, never a 500."""
        errors = [_printable(item) for item in error.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}" for item in errors)
        body = {"error": "RequestValidationError", "detail": errors, "body": "", "errors": detail}
        return JSONResponse(body, status_code=422)

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(ApiError, on_api_error)
    for kind, _status in _status_table():
        app.add_exception_handler(kind, on_known)
    app.add_exception_handler(Exception, on_unexpected)
