"""A ceiling on request bodies, so one upload cannot fill the server's memory before any check runs.

The largest legitimate body is an img2img request with a few base64 images at the ``max_image_pixels``
limit; ``MAX_BODY_BYTES`` leaves ample room for that. A body announced larger (``Content-Length``) is
answered 413 at once; a body sent without a length is cut off once it passes the ceiling.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BODY_BYTES = 512 * 1024 * 1024


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for bodies over ``limit`` bytes."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        received = 0

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    return {"type": "http.disconnect"}  # the app stops reading; nothing more is buffered
            return message

        await self.app(scope, counting_receive, send)


async def _too_large(send: Any, limit: int) -> None:
    detail = f"Request body larger than {limit} bytes"
    body = json.dumps({"error": "PayloadTooLarge", "detail": detail, "body": "", "errors": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
