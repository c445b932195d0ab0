"""Composition root: flags → settings → Backend → HTTP app (UI and API) → serve.

Nothing heavy happens before the page is up: torch, diffusers and the first checkpoint are loaded in the
background afterwards, and the page shows their progress.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modules.app import Backend

START_TIME = time.perf_counter()

log = logging.getLogger("webui")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "httpcore", "urllib3", "multipart", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_backend(flags: argparse.Namespace) -> Backend:
    from modules.app import Backend
    from modules.paths import Paths
    from modules.settings.options import build_registry
    from modules.settings.registry import Settings
    from modules.settings.store import JsonSettingsStore

    paths = Paths.from_flags(flags)
    registry = build_registry()
    settings = Settings(registry, JsonSettingsStore(paths.settings_file), frozen=flags.freeze_settings)
    backend = Backend(flags, paths, settings)
    from modules.extensions.manager import install_extensions

    install_extensions(backend)
    from modules.guards import install_guards

    install_guards(backend)  # locked settings, extension options validated, decoded-image size limit
    from modules.localization.service import install_localization

    install_localization(backend)
    if getattr(flags, "workers", "local") == "ray":
        from modules.workers.ray_runner import RayWorkers  # imports Ray only when its start() runs

        backend.workers = RayWorkers(backend)
    return backend


def build_app(backend: Backend) -> FastAPI:
    """The FastAPI app with the UI mounted at ``/`` (unless --nowebui) and the API (with --api/--nowebui)."""
    from modules.web import create_app

    return create_app(backend)


def main(argv: list[str] | None = None) -> int:
    from modules.extensions.preload import collect_preload_hooks
    from modules.settings.cli import is_non_local, parse_flags, server_host, server_port

    flags = parse_flags(argv, extra=collect_preload_hooks(argv))
    configure_logging(flags.loglevel)
    if flags.share:
        log.error("--share needs Gradio's public tunnel, which is not available offline; use --listen instead")
        return 2
    if flags.disable_safe_unpickle:
        log.warning(
            "!!! --disable-safe-unpickle: .ckpt files are loaded with plain pickle and CAN RUN ANY CODE. "
            "Only use it with files you fully trust. !!!"
        )

    from modules.server import PortInUseError, Server, check_port_free

    host, port = server_host(flags), server_port(flags)
    try:
        check_port_free(host, port)
    except PortInUseError as error:
        log.error("%s", error)
        return 1

    backend = build_backend(flags)
    from modules.extensions.installer import reexec_server

    backend.restart = reexec_server
    for warning in backend.warnings:
        log.warning(warning)
    if is_non_local(flags) and (flags.api or flags.nowebui) and not flags.api_auth:
        log.warning("The API is reachable from other machines without authentication; consider --api-auth")

    app = build_app(backend)
    server = Server(app, host, port)
    server.start()
    if not server.wait_started():
        log.error("The HTTP server did not start")
        return 1
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{port}"
    print(f"Running on local URL:  {url}", flush=True)
    log.info("Page served %.1f s after start", time.perf_counter() - START_TIME)
    if flags.autolaunch:
        import webbrowser

        webbrowser.open(url)

    backend.start_background_init()
    try:
        server.join()
    except KeyboardInterrupt:
        log.info("Stopping")
        server.stop()
    finally:
        if backend.workers is not None:
            backend.workers.stop()  # the Serve app, and Ray itself when this process started it
    return 0


if __name__ == "__main__":
    sys.exit(main())
