"""Our scripts and the extensions' scripts in the HTML head of the page, where A1111 puts them.

Gradio adds a ``head=`` string itself only after its app has started, long after ``DOMContentLoaded``; A1111
extensions register listeners on that event and on ``onUiLoaded``, so their scripts must be in the HTML the
browser parses. The page response is rewritten on its way out: ``var opts = {...}`` (the current settings, as
A1111's page exposes them), then the page scripts (``static/a1111_page.js`` first: A1111's globals), then every
active extension's ``javascript/*.js``. ``/webui/opts.json`` gives the same options after Settings change.
Both are shown only to a browser that passed Gradio's login (``--gradio-auth``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from fastapi import Request

from modules.ui.gradio_auth import is_authorized

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def insert_into_head(html: str, extra: str) -> str:
    """``html`` with ``extra`` just before ``</head>`` (unchanged when it has no head)."""
    at = html.find("</head>")
    if at < 0:
        return html
    return html[:at] + extra + "\n" + html[at:]


def options_json(backend: Backend) -> dict[str, Any]:
    """Every option's current value, JSON-safe (A1111's ``opts`` on the page)."""
    return json.loads(json.dumps(backend.settings.data(), default=str))


def options_script(options: dict[str, Any]) -> str:
    """``<script>var opts = ...</script>``; ``</`` is escaped so no value can close the tag."""
    text = json.dumps(options, ensure_ascii=False).replace("</", "<\\/")
    return f"<script>var opts = {text};</script>\n"


def install_page_head(app: Any, backend: Backend, head: str) -> None:
    """Rewrite the page (``GET /``) to carry ``head`` and the options; add ``/webui/opts.json``."""
    from fastapi.responses import HTMLResponse, JSONResponse

    @app.get("/webui/opts.json", include_in_schema=False)
    async def opts_json(request: Request):
        if not await is_authorized(app, request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return JSONResponse(options_json(backend), headers={"Cache-Control": "no-store"})

    @app.middleware("http")
    async def page_scripts(request: Request, call_next):
        response = await call_next(request)
        if request.method != "GET" or request.url.path != "/":
            return response
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        html = body.decode("utf-8", errors="replace")
        if await is_authorized(app, request):  # the login page gets neither settings nor extension code
            html = insert_into_head(html, options_script(options_json(backend)) + head)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return HTMLResponse(html, status_code=response.status_code, headers=headers)
