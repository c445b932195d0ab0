"""Images in and out of the API: base64 (plain or ``data:`` URL, optionally an http(s) URL) to PIL and back.

Decoding failures become ``ApiError`` 400 naming the field, never a server error. Encoding follows the
``samples_format`` setting as A1111 does: PNG with every text metadata entry (the infotext among them), or
JPEG/WebP with the infotext in the EXIF UserComment.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import socket
import urllib.parse
import urllib.request
from typing import Any

from PIL import Image, PngImagePlugin

from modules.api.errors import ApiError
from modules.images.limits import ImageTooLargeError, max_pixels, open_limited

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


def _is_global_host(url: str) -> bool:
    """True when every address the URL's host resolves to is a public one (A1111's ``verify_url``)."""
    try:
        host = urllib.parse.urlparse(url).hostname
        if not host:
            return False
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)
    except (OSError, ValueError):
        return False


def _download(url: str, settings: Any, field: str) -> bytes:
    if not settings.get("api_enable_requests"):
        raise ApiError(400, f"{field}: image URLs are not allowed (setting api_enable_requests)")
    if settings.get("api_forbid_local_requests") and not _is_global_host(url):
        raise ApiError(400, f"{field}: requests to local or unresolvable addresses are not allowed")
    headers = {"User-Agent": settings.get("api_useragent") or "stable-diffusion-webui"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except OSError as error:
        raise ApiError(400, f"{field}: could not fetch {url}: {error}") from error
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ApiError(400, f"{field}: the image at {url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data


def decode_image(encoded: str, settings: Any, field: str = "image") -> Image.Image:
    """A PIL image from base64 text, a ``data:image/...;base64,`` URL or (if allowed) an http(s) URL."""
    if not isinstance(encoded, str) or not encoded.strip():
        raise ApiError(400, f"{field}: no image data")
    text = encoded.strip()
    if text.startswith(("http://", "https://")):
        data = _download(text, settings, field)
    else:
        if text.startswith("data:"):
            text = text.partition(",")[2]
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
        except (binascii.Error, ValueError) as error:
            raise ApiError(400, f"{field}: invalid base64 data ({error})") from error
    try:
        image = open_limited(io.BytesIO(data), max_pixels(settings), field)
    except ImageTooLargeError as error:
        raise ApiError(413, str(error)) from error
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ApiError(400, f"{field}: invalid encoded image ({error})") from error
    return image


def decode_optional(encoded: str | None, settings: Any, field: str) -> Image.Image | None:
    return decode_image(encoded, settings, field) if encoded else None


def encode_image(image: Image.Image, settings: Any) -> str:
    """Base64 text of the image in the ``samples_format`` format, metadata included."""
    fmt = str(settings.get("samples_format") or "png").lower()
    quality = int(settings.get("jpeg_quality") or 80)
    buffer = io.BytesIO()
    if fmt in ("jpg", "jpeg", "webp"):
        import piexif
        import piexif.helper

        parameters = image.info.get("parameters")
        exif = piexif.dump(
            {"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(parameters or "", encoding="unicode")}}
        )
        converted = image.convert("RGB") if image.mode not in ("RGB", "L") else image
        converted.save(buffer, format="WEBP" if fmt == "webp" else "JPEG", exif=exif, quality=quality)
    else:
        metadata = PngImagePlugin.PngInfo()
        texts = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
        for key, value in texts.items():
            metadata.add_text(key, value)
        image.save(buffer, format="PNG", pnginfo=metadata if texts else None)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
