"""The HTTP server: one FastAPI app carrying the Gradio UI and (with ``--api``) the A1111 API, run by uvicorn.

Running uvicorn ourselves (instead of ``Blocks.launch``) lets the API, the UI and extension routes share one
app and one port, lets us check the port before starting, and keeps start-up to what is really needed.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

log = logging.getLogger(__name__)


class PortInUseError(RuntimeError):
    pass


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError with a one-line explanation when ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(
                    f"Port {port} on {host} is already in use; stop the other program or choose another with --port"
                ) from None
            raise


class Server:
    """uvicorn in a background thread, with a blocking ``wait_started``."""

    def __init__(self, app, host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=30,
            ws="websockets-sansio" if _has_sansio() else "auto",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="http-server", daemon=True)
        self.host = host
        self.port = port

    def start(self) -> None:
        self._thread.start()

    def wait_started(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._thread.is_alive():
            if self._server.started:
                return True
            time.sleep(0.02)
        return self._server.started

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def join(self) -> None:
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True
