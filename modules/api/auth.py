"""``--api-auth``: HTTP Basic on every route of the app except the Gradio UI's own, extension routes included.

A1111 put its check on the routes it registered itself, so routes that extensions added straight onto the app
(``/sdapi/v1/loras``, ``/controlnet/*``) were left open. Here one ASGI middleware decides per request, using
the same route table the router dispatches with: whatever the Gradio mount would serve (the page, its assets
and queue; Gradio has its own ``--gradio-auth``) and the UI's helper prefixes pass; every other path (the
API, ``/docs``, ``/openapi.json``, extension routes, unknown paths) needs valid credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# Helper routes the browser UI calls itself (A1111's /internal/*, our localization script, extra networks).
UI_PREFIXES = ("/webui/", "/internal/", "/sd_extra_networks/", "/file=")


def parse_basic_header(value: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_match(given: tuple[str, str] | None, allowed: Sequence[tuple[str, str]]) -> bool:
    """Constant-time check against every allowed pair (no early exit that would leak which part differed)."""
    if given is None:
        return False
    user, password = given[0].encode("utf-8"), given[1].encode("utf-8")
    ok = False
    for allowed_user, allowed_password in allowed:
        user_ok = secrets.compare_digest(user, allowed_user.encode("utf-8"))
        password_ok = secrets.compare_digest(password, allowed_password.encode("utf-8"))
        ok |= user_ok and password_ok
    return ok


def is_ui_path(app: Any, scope: dict[str, Any]) -> bool:
    """True when the router would hand this request to the Gradio mount, or it is a UI helper route."""
    from starlette.routing import Match, Mount

    path = scope.get("path", "")
    if path.startswith(UI_PREFIXES):
        return True
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return isinstance(route, Mount)
        if match == Match.PARTIAL:  # path matched but not the method: an API route answering 405
            return False
    return False


class ApiAuthMiddleware:
    """Pure ASGI middleware: 401 with ``WWW-Authenticate: Basic`` unless the credentials are right."""

    def __init__(self, app: Any, *, credentials: Sequence[tuple[str, str]], root: Callable[[], Any]) -> None:
        self.app = app
        self.credentials = list(credentials)
        self.root = root  # the FastAPI app whose routes decide what is UI (the middleware wraps its router)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or is_ui_path(self.root(), scope):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        given = parse_basic_header(headers.get("authorization"))
        if credentials_match(given, self.credentials):
            scope.setdefault("state", {})["api_user"] = given[0] if given else None
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        detail = "Not authenticated" if given is None else "Incorrect username or password"
        body = json.dumps({"error": "HTTPException", "detail": detail, "body": "", "errors": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Basic realm="Stable Diffusion WebUI API"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
