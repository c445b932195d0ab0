"""Builds the one HTTP app: the Gradio UI at ``/``, the A1111 API under ``/sdapi/v1`` and extension routes.

Front ends are thin adapters over the Backend; this module only wires them onto FastAPI.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modules.app import Backend

log = logging.getLogger(__name__)


def is_busy(backend: Backend) -> bool:
    """True while the page should follow the status closely: start-up, a queued or running job."""
    jobs = backend.jobs
    return not backend.wait_ready(0) or jobs.current is not None or jobs.pending_count() > 0


def create_app(backend: Backend) -> FastAPI:
    from fastapi import FastAPI, Request
    from fastapi.responses import RedirectResponse

    flags = backend.flags
    app = FastAPI(title="Stable Diffusion WebUI", docs_url="/docs", redoc_url="/redoc")

    if flags.theme:

        @app.middleware("http")
        async def force_theme(request: Request, call_next):
            """``--theme`` as A1111: the page is opened with ``?__theme=`` unless the URL already chose one."""
            if request.method == "GET" and request.url.path == "/" and "__theme" not in request.query_params:
                query = str(request.url.query)
                target = f"/?{query + '&' if query else ''}__theme={flags.theme}"
                return RedirectResponse(target)
            return await call_next(request)

    @app.get("/webui/localization.js", include_in_schema=False)
    def localization_js():
        """The chosen language's strings, read at every page load so Reload UI applies a new choice."""
        from fastapi.responses import Response

        return Response(
            backend.localization_js(), media_type="application/javascript", headers={"Cache-Control": "no-store"}
        )

    @app.get("/webui/status", include_in_schema=False)
    def status():
        """What the top bar shows, for scripts and benchmarks that wait for the start-up model."""
        models = backend.models
        return {
            "status": backend.status,
            "model_loaded": bool(models is not None and models.current is not None),
            "busy": is_busy(backend),  # the page polls every second while busy, rarely otherwise
        }

    if flags.api or flags.nowebui:
        from modules.api.routes import mount_api

        mount_api(app, backend)

    demo = None
    if not flags.nowebui:
        import gradio as gr

        from modules.ui.extra_networks import mount_routes as mount_extra_networks_routes

        mount_extra_networks_routes(app, backend)  # card pictures, before Gradio takes the rest of the paths
        from modules.sysinfo import mount_routes as mount_sysinfo_routes

        mount_sysinfo_routes(app, backend)  # Settings → Sysinfo's download

        from modules.settings.cli import parse_credentials
        from modules.ui.blocks import build_ui, page_assets
        from modules.ui.file_route import install_file_route
        from modules.ui.page_head import install_page_head

        demo = build_ui(backend)
        auth = parse_credentials(flags.gradio_auth) or None
        assets = page_assets(backend)
        install_file_route(app, backend)  # A1111's /file=, before Gradio's mount so it wins
        install_page_head(app, backend, assets.head)  # scripts in the HTML head, as A1111 (not Gradio's head=)
        gr.mount_gradio_app(
            app,
            demo,
            path="",
            auth=auth,
            ssr_mode=False,
            show_error=True,
            footer_links=[],
            css=assets.css,
            js=assets.js,
            theme=assets.theme,
            allowed_paths=[str(backend.paths.outputs)],
        )
    from modules.api.auth import install_auth

    install_auth(app, flags)  # one login for the page, the API and extension routes (see api/auth.py)
    from modules.api.body_limit import BodyLimitMiddleware

    app.add_middleware(BodyLimitMiddleware)
    extensions = backend.extensions
    if extensions is not None:
        extensions.app_started(None if flags.nowebui else demo, app)
    return app
