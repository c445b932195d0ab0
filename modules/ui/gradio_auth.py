"""Whether a request may see the page's data: the logged-in check of the mounted Gradio app, for our own routes.

Routes added beside the Gradio page (``/file=``, ``/webui/opts.json``, the page head) must not be readable
where Gradio's own login (``--gradio-auth``) would refuse the page.
"""

from __future__ import annotations

import inspect
from typing import Any


def mounted_gradio_app(app: Any) -> Any:
    """The Gradio ``App`` mounted on the FastAPI ``app`` (None before the UI is mounted, or with --nowebui)."""
    from gradio.routes import App

    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        if isinstance(inner, App):
            return inner
    return None


async def is_authorized(app: Any, request: Any) -> bool:
    """True without ``--gradio-auth``, or for a browser that logged in to the Gradio page."""
    gradio_app = mounted_gradio_app(app)
    if gradio_app is None:
        return True
    if gradio_app.auth is None and gradio_app.auth_dependency is None:
        return True
    if gradio_app.auth_dependency is not None:
        user = gradio_app.auth_dependency(request)
        if inspect.isawaitable(user):
            user = await user
        return user is not None
    cookie_id = gradio_app.cookie_id
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}"
    )
    return gradio_app.tokens.get(token) is not None
