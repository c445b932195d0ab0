"""A1111's HTTP API (``/sdapi/v1/*``) mounted on the one FastAPI app, plus the way extensions add routes.

``mount_api(app, backend)`` registers every route with its schemas (so ``/docs`` and ``/openapi.json``
describe them), the error handlers and, with ``--api-auth``, the Basic-auth middleware that also covers
routes extensions add later. Extensions call ``add_api_route(app, backend, path, endpoint, methods)``: the
route lands before the Gradio mount (which would otherwise swallow it) and shows up in ``/openapi.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modules.api import catalog, control, generation, models, scripts, tools
from modules.api import catalog_models as cm
from modules.api.errors import install_error_handlers
from modules.models.safe_text import printable_tree

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

PREFIX = "/sdapi/v1"


def add_api_route(
    app: Any,
    backend: Backend,
    path: str,
    endpoint: Callable[..., Any],
    methods: Sequence[str] = ("GET",),
    **kwargs: Any,
) -> None:
    """Register an API route (for the API itself and for extensions: ControlNet's ``/controlnet/*``...).

    It gets the same auth as every API route (the middleware guards all non-UI paths) and is placed before
    the Gradio UI's catch-all mount so it is reachable whatever the order of start-up.
    """
    from starlette.routing import Mount

    app.add_api_route(path, endpoint, methods=list(methods), **kwargs)
    routes = app.router.routes
    route = routes.pop()
    first_mount = next((i for i, r in enumerate(routes) if isinstance(r, Mount)), len(routes))
    routes.insert(first_mount, route)
    app.openapi_schema = None  # rebuilt with the new route on the next /openapi.json


class ApiLogMiddleware:
    """``--api-log``: one log line per API request with status and duration; X-Process-Time on answers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/sdapi"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_timing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-process-time", f"{time.perf_counter() - started:.4f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)
        client = (scope.get("client") or ("-", 0))[0]
        log.info(
            "API %s %s %s %s %.4fs",
            status["code"],
            scope.get("method"),
            scope["path"],
            client,
            time.perf_counter() - started,
        )


def mount_api(app: Any, backend: Backend) -> None:
    """Add A1111's ``/sdapi/v1`` routes (and auth, logging, error handling) to ``app``."""
    from fastapi import Body

    from modules.settings.cli import build_parser, parse_credentials

    install_error_handlers(app)
    credentials = parse_credentials(backend.flags.api_auth) or parse_credentials(backend.flags.gradio_auth)
    if backend.flags.api_log:
        app.add_middleware(ApiLogMiddleware)

    def route(path: str, endpoint: Callable[..., Any], methods: Sequence[str] = ("GET",), **kwargs: Any) -> None:
        add_api_route(app, backend, PREFIX + path, endpoint, methods, **kwargs)

    # --- generation and image tools -----------------------------------------------------------------
    def txt2img(request: models.Txt2ImgRequest) -> dict[str, Any]:
        return generation.generate(backend, request)

    def img2img(request: models.Img2ImgRequest) -> dict[str, Any]:
        return generation.generate(backend, request)

    def extra_single_image(request: models.ExtrasSingleImageRequest) -> dict[str, Any]:
        return tools.extras_single(backend, request)

    def extra_batch_images(request: models.ExtrasBatchImagesRequest) -> dict[str, Any]:
        return tools.extras_batch(backend, request)

    def png_info(request: models.PNGInfoRequest) -> dict[str, Any]:
        return tools.png_info(backend, request.image)

    def interrogate(request: models.InterrogateRequest) -> dict[str, Any]:
        return tools.interrogate(backend, request.image, request.model)

    route("/txt2img", txt2img, ["POST"], response_model=models.TextToImageResponse)
    route("/img2img", img2img, ["POST"], response_model=models.ImageToImageResponse)
    route("/extra-single-image", extra_single_image, ["POST"], response_model=models.ExtrasSingleImageResponse)
    route("/extra-batch-images", extra_batch_images, ["POST"], response_model=models.ExtrasBatchImagesResponse)
    route("/png-info", png_info, ["POST"], response_model=models.PNGInfoResponse)
    route("/interrogate", interrogate, ["POST"], response_model=models.InterrogateResponse)

    # --- the running job -----------------------------------------------------------------------------
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        return control.progress(backend, skip_current_image)

    def interrupt() -> dict[str, Any]:
        backend.jobs.interrupt_current()
        return {}

    def skip() -> None:
        backend.jobs.skip_current()

    route("/progress", progress, response_model=models.ProgressResponse)
    route("/interrupt", interrupt, ["POST"])
    route("/skip", skip, ["POST"])

    # --- settings and flags --------------------------------------------------------------------------
    options_model = cm.build_options_model(backend.settings.registry)
    flags_model = cm.build_flags_model(build_parser())

    def get_options() -> dict[str, Any]:
        return control.get_options(backend)

    def set_options(values: dict[str, Any] = Body(..., examples=[{"sd_model_checkpoint": "model.safetensors"}])):
        control.set_options(backend, values)

    def cmd_flags() -> dict[str, Any]:
        return control.cmd_flags(backend)

    route("/options", get_options, responses={200: {"model": options_model}})
    route("/options", set_options, ["POST"])
    route("/cmd-flags", cmd_flags, responses={200: {"model": flags_model}})

    # --- catalogues ----------------------------------------------------------------------------------
    def empty() -> list[Any]:
        return []

    listings: list[tuple[str, Callable[[], Any], Any]] = [
        ("/samplers", catalog.samplers, list[cm.SamplerItem]),
        ("/schedulers", catalog.schedulers, list[cm.SchedulerItem]),
        ("/upscalers", lambda: catalog.upscalers(backend), list[cm.UpscalerItem]),
        ("/latent-upscale-modes", lambda: catalog.latent_upscale_modes(backend), list[cm.LatentUpscalerModeItem]),
        ("/sd-models", lambda: catalog.sd_models(backend), list[cm.SDModelItem]),
        ("/sd-vae", lambda: catalog.sd_vaes(backend), list[cm.SDVaeItem]),
        ("/loras", lambda: catalog.loras(backend), list[cm.LoraItem]),
        ("/embeddings", lambda: catalog.embeddings(backend), cm.EmbeddingsResponse),
        ("/prompt-styles", lambda: catalog.prompt_styles(backend), list[cm.PromptStyleItem]),
        ("/hypernetworks", lambda: catalog.hypernetworks(backend), list[cm.HypernetworkItem]),
        ("/face-restorers", lambda: catalog.face_restorers(backend), list[cm.FaceRestorerItem]),
        ("/realesrgan-models", empty, list[cm.RealesrganItem]),
        ("/extensions", lambda: catalog.extensions(backend), list[cm.ExtensionItem]),
        (
            "/scripts",
            lambda: {"txt2img": scripts.script_names(backend, False), "img2img": scripts.script_names(backend, True)},
            cm.ScriptsList,
        ),
        ("/script-info", lambda: scripts.script_infos(backend), list[cm.ScriptInfo]),
        ("/memory", catalog.memory, cm.MemoryResponse),
    ]

    for path, handler, model in listings:
        route(path, _named(handler, path), response_model=model)

    # --- model management ----------------------------------------------------------------------------
    actions: list[tuple[str, Callable[[Any], Any]]] = [
        ("/refresh-checkpoints", control.refresh_checkpoints),
        ("/refresh-vae", control.refresh_vae),
        ("/refresh-loras", control.refresh_loras),
        ("/refresh-embeddings", control.refresh_embeddings),
        ("/unload-checkpoint", control.unload_checkpoint),
        ("/reload-checkpoint", control.reload_checkpoint),
    ]
    for path, action in actions:
        route(path, _named(lambda action=action: action(backend), path), ["POST"])
    log.info("HTTP API mounted at %s (docs at /docs)%s", PREFIX, " with Basic auth" if credentials else "")


def _named(handler: Callable[[], Any], path: str) -> Callable[[], Any]:
    """A zero-argument endpoint with a readable name, which FastAPI uses for the operation id in /docs."""

    def endpoint() -> Any:
        return printable_tree(handler())  # file names that are not UTF-8 must not break the JSON answer

    endpoint.__name__ = path.strip("/").replace("-", "_")
    return endpoint
