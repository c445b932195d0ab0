"""Login on every route: ``--gradio-auth`` and ``--api-auth`` enforced by one ASGI middleware.

A1111 put its check on the routes it registered itself, so routes extensions added straight onto the app
(``/sdapi/v1/loras``, ``/controlnet/*``) were left open, and ``--gradio-auth`` left the whole API open. Here
one middleware decides per request, using the route table the router dispatches with:

- page routes (whatever the Gradio mount serves, and the UI helpers ``/webui/``, ``/internal/`` ...) need
  the page's credentials: a Gradio login cookie or HTTP Basic with a ``--gradio-auth`` pair; with
  ``--api-auth`` alone, the ``--api-auth`` pairs (the browser asks for them);
- every other path (the API, ``/docs``, ``/openapi.json``, extension routes, unknown paths) needs HTTP Basic
  with an ``--api-auth`` pair, or, when only ``--gradio-auth`` is given, a ``--gradio-auth`` pair or a
  Gradio login cookie;
- only static assets and, with ``--gradio-auth``, the login page answer without credentials.
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
# Gradio's static files: the login page needs them before anyone has logged in.
STATIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/static/", "/pwa_icon")
STATIC_PATHS = frozenset({"/favicon.ico", "/theme.css", "/gradio_api/theme.css", "/robots.txt", "/manifest.json"})
# Gradio's login page and the calls it makes before the login cookie exists.
LOGIN_PATHS = frozenset(
    {"/", "/login", "/login/", "/logout", "/config", "/config/", "/gradio_api/login_check", "/gradio_api/user"}
)


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


def is_open_path(path: str, login_page: bool) -> bool:
    """Paths that answer without credentials: static assets, and the login page when there is one."""
    return path in STATIC_PATHS or path.startswith(STATIC_PREFIXES) or (login_page and path in LOGIN_PATHS)


def gradio_user(app: Any, cookies: dict[str, str]) -> str | None:
    """The user a Gradio login cookie belongs to (Gradio keeps its tokens on the mounted app), or None."""
    from starlette.routing import Mount

    for route in app.router.routes:
        mounted = getattr(route, "app", None) if isinstance(route, Mount) else None
        tokens = getattr(mounted, "tokens", None)
        if not isinstance(tokens, dict):
            continue
        cookie_id = getattr(mounted, "cookie_id", "")
        for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
            user = tokens.get(cookies.get(name, ""))
            if user is not None:
                return str(user)
    return None


def _cookies(header: str) -> dict[str, str]:
    from http.cookies import CookieError, SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


class AuthMiddleware:
    """Pure ASGI middleware: 401 (``WWW-Authenticate: Basic`` outside the login page) unless authorised."""

    def __init__(
        self,
        app: Any,
        *,
        api_credentials: Sequence[tuple[str, str]],
        ui_credentials: Sequence[tuple[str, str]],
        root: Callable[[], Any],
    ) -> None:
        self.app = app
        self.ui_credentials = list(ui_credentials)
        self.api_credentials = list(api_credentials) or self.ui_credentials
        self.page_credentials = self.ui_credentials or self.api_credentials
        self.root = root  # the FastAPI app whose routes decide what is UI (the middleware wraps its router)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or not self.page_credentials:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        login_page = bool(self.ui_credentials)
        if is_open_path(path, login_page):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        given = parse_basic_header(headers.get("authorization"))
        page = is_ui_path(self.root(), scope)
        allowed = self.page_credentials if page else self.api_credentials
        user = given[0] if given is not None and credentials_match(given, allowed) else None
        if user is None and self.ui_credentials and (page or allowed is self.ui_credentials):
            user = gradio_user(self.root(), _cookies(headers.get("cookie", "")))
        if user is not None:
            scope.setdefault("state", {})["api_user"] = user
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        detail = "Not authenticated" if given is None else "Incorrect username or password"
        body = json.dumps({"error": "HTTPException", "detail": detail, "body": "", "errors": detail}).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if not (page and login_page):  # the page has its own login form; a Basic prompt would hide it
            response_headers.append((b"www-authenticate", b'Basic realm="Stable Diffusion WebUI"'))
        await send({"type": "http.response.start", "status": 401, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})


def install_auth(app: Any, flags: Any) -> bool:
    """Add the middleware when ``--gradio-auth`` or ``--api-auth`` is given; True when it was added."""
    from modules.settings.cli import parse_credentials

    api, ui = parse_credentials(flags.api_auth), parse_credentials(getattr(flags, "gradio_auth", None))
    if not (api or ui):
        return False
    app.add_middleware(AuthMiddleware, api_credentials=api, ui_credentials=ui, root=lambda: app)
    return True
