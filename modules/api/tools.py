"""The image tools of the API: Extras (upscale one image or a batch) and PNG Info (read an image's infotext).

Extras run on the shared job queue because upscaler networks use the device the generator owns.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.api import codec
from modules.api.errors import ApiError
from modules.api.models import ExtrasBaseRequest, ExtrasBatchImagesRequest, ExtrasSingleImageRequest
from modules.images.metadata import read_infotext
from modules.processing.infotext import parse_infotext

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

MAX_RESULT_PIXELS = 8192 * 8192


def _extras_options(backend: Backend, request: ExtrasBaseRequest) -> dict[str, Any]:
    registry = backend.upscalers
    restorers = backend.face_restorers
    for name, visibility in (("GFPGAN", request.gfpgan_visibility), ("CodeFormer", request.codeformer_visibility)):
        if visibility > 0:
            restorers.require_files(name)  # a missing file is a 422 naming it, before the job starts
    for field in ("upscaler_1", "upscaler_2"):
        name = getattr(request, field)
        if name not in (None, "", "None") and name not in registry.names():
            raise ApiError(422, f"{field}: upscaler {name!r} not found; available: {', '.join(registry.names())}")
    return {
        "registry": registry,
        "resize_mode": request.resize_mode,
        "upscaling_resize": request.upscaling_resize,
        "upscaling_resize_w": request.upscaling_resize_w,
        "upscaling_resize_h": request.upscaling_resize_h,
        "upscaling_crop": request.upscaling_crop,
        "upscaler_1": request.upscaler_1,
        "upscaler_2": request.upscaler_2,
        "extras_upscaler_2_visibility": request.extras_upscaler_2_visibility,
        "upscale_first": request.upscale_first,
        "gfpgan_visibility": request.gfpgan_visibility,
        "codeformer_visibility": request.codeformer_visibility,
        "codeformer_weight": request.codeformer_weight,
        "face_restorers": restorers,
        "max_side_length": int(backend.settings.get("postprocessing_max_side_length", 0) or 0),
    }


def _check_result_size(image: Image.Image, request: ExtrasBaseRequest, field: str) -> None:
    """Refuse results larger than 8192 x 8192 pixels before any work is done."""
    if request.resize_mode == 1:
        width, height = request.upscaling_resize_w, request.upscaling_resize_h
    else:
        width, height = image.width * request.upscaling_resize, image.height * request.upscaling_resize
    if request.upscaler_1 not in (None, "", "None") and width * height > MAX_RESULT_PIXELS:
        raise ApiError(422, f"{field}: the result would be {int(width)}x{int(height)} pixels, more than 8192x8192")


def extras_single(backend: Backend, request: ExtrasSingleImageRequest) -> dict[str, Any]:
    from modules.postprocessing import run_extras

    image = codec.decode_image(request.image, backend.settings, "image")
    _check_result_size(image, request, "image")
    options = _extras_options(backend, request)

    def work(job: Any) -> tuple[Any, str]:
        result, html_info = run_extras(image, **options)
        results, html_info = _extension_scripts(backend, [result], html_info)
        return results[0], html_info

    result, html_info = backend.jobs.run(work, label="api extras")
    return {"html_info": html_info, "image": codec.encode_image(result, backend.settings)}


def _extension_scripts(backend: Backend, images: list[Any], html_info: str) -> tuple[list[Any], str]:
    """The extensions' Extras scripts (A1111's ScriptPostprocessing) after the built-in steps, on each image."""
    from modules.postprocessing import plaintext_to_html, postprocessing_infotext

    extensions = backend.extensions
    if extensions is None or not extensions.postprocessing_scripts:
        return images, html_info
    done, info = [], {}
    for image in images:
        image, info = extensions.run_postprocessing_scripts(image)
        done.append(image)
    return done, html_info + (plaintext_to_html(postprocessing_infotext(info)) if info else "")


def extras_batch(backend: Backend, request: ExtrasBatchImagesRequest) -> dict[str, Any]:
    from modules.postprocessing import run_extras_batch

    images = []
    for index, item in enumerate(request.imageList):
        image = codec.decode_image(item.data, backend.settings, f"imageList[{index}].data")
        _check_result_size(image, request, f"imageList[{index}]")
        images.append(image)
    options = _extras_options(backend, request)
    results, html_info = backend.jobs.run(
        lambda job: _extension_scripts(backend, *run_extras_batch(images, **options)), label="api extras"
    )
    return {"html_info": html_info, "images": [codec.encode_image(r, backend.settings) for r in results]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def png_info(backend: Backend, image_text: str) -> dict[str, Any]:
    image = codec.decode_image(image_text, backend.settings, "image")
    infotext, items = read_infotext(image)
    items = {str(key): _jsonable(value) for key, value in items.items()}
    infotext = infotext or ""
    backend.styles.reload()  # styles.csv may have been edited by hand
    parameters = parse_infotext(
        infotext,
        convert_numbers=False,
        styles=backend.styles,
        infotext_styles=str(backend.settings.get("infotext_styles")),
    )
    return {"info": infotext, "items": items, "parameters": _jsonable(parameters)}


def interrogate(backend: Backend, image_b64: str, model: str) -> dict[str, Any]:
    """``/sdapi/v1/interrogate``: 404 for an unknown model (as A1111), 422 naming what is missing."""
    from modules.interrogate import InterrogatorUnavailable, check, job_reporter
    from modules.interrogate import interrogate as run_interrogation

    if not image_b64:
        raise ApiError(404, "Image not found")
    image = codec.decode_image(image_b64, backend.settings, "image")
    try:
        check(backend, model)
    except ValueError as error:
        raise ApiError(404, f"Model not found: {error}") from error
    except InterrogatorUnavailable as error:
        raise ApiError(422, str(error)) from error
    caption = backend.jobs.run(
        lambda job: run_interrogation(backend, image, model, job_reporter(job)), label="api interrogate"
    )
    return {"caption": caption}
