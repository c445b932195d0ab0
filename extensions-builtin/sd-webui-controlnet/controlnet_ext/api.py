"""``/controlnet/*`` routes, as A1111's ControlNet extension serves them (API version 3).

Registered from ``on_app_started(demo, app)``; the app's ``--api-auth`` middleware guards them like every
API route.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

from controlnet_ext.units import decode_image

log = logging.getLogger(__name__)

API_VERSION = 3
CONTROL_TYPES = {  # tag -> (module name keywords, model name keywords)
    "Canny": (("canny",), ("canny",)),
    "Lineart": (("lineart",), ("lineart",)),
    "Scribble": (("scribble", "threshold", "binary"), ("scribble",)),
    "SoftEdge": (("softedge",), ("softedge", "hed")),
    "Shuffle": (("shuffle",), ("shuffle",)),
    "Tile": (("tile", "blur"), ("tile",)),
    "Inpaint": (("inpaint",), ("inpaint",)),
    "T2I-Adapter": (("t2ia",), ("t2iadapter", "t2ia")),
    "OpenPose": (("openpose",), ("openpose",)),
    "Depth": (("depth",), ("depth",)),
    "MLSD": (("mlsd",), ("mlsd",)),
    "Segmentation": (("seg",), ("seg",)),
    "NormalMap": (("normal",), ("normal",)),
}


def _png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def control_types(service: Any) -> dict[str, Any]:
    modules, models = service.module_names(), service.model_titles()
    types = {"All": {"module_list": modules, "model_list": models, "default_option": "none", "default_model": "None"}}
    for tag, (module_words, model_words) in CONTROL_TYPES.items():
        tag_modules = [m for m in modules if any(w in m for w in module_words)]
        tag_models = ["None", *(m for m in models[1:] if any(w in m.lower() for w in model_words))]
        types[tag] = {
            "module_list": ["none", *tag_modules],
            "model_list": tag_models,
            "default_option": tag_modules[0] if tag_modules else "none",
            "default_model": tag_models[1] if len(tag_models) > 1 else "None",
        }
    return types


def detect(service: Any, body: dict[str, Any]) -> dict[str, Any]:
    """POST /controlnet/detect; ValueError (answered 422) for an unknown module or no images."""
    from controlnet_ext.imageops import to_preview

    lowered = {str(k).lower(): v for k, v in (body or {}).items()}
    module = str(lowered.get("controlnet_module") or "none")
    images = lowered.get("controlnet_input_images") or lowered.get("controlnet_images") or []
    masks = lowered.get("controlnet_masks") or []
    if not images:
        raise ValueError("No image selected")
    service.resolve_module(module)
    requests = [
        {
            "module": module,
            "image": decode_image(value, "controlnet_input_images"),
            "resolution": int(lowered.get("controlnet_processor_res", 512) or 512),
            "threshold_a": float(lowered.get("controlnet_threshold_a", 64)),
            "threshold_b": float(lowered.get("controlnet_threshold_b", 64)),
            "mask": decode_image(masks[index], "controlnet_masks") if index < len(masks) else None,
        }
        for index, value in enumerate(images)
    ]
    detected_maps = service.detect_on_queue(requests)  # decoded (and refused) before the job is queued
    return {"info": "Success", "images": [_png_base64(to_preview(detected)) for detected in detected_maps]}


def register_routes(service: Any, app: Any) -> None:
    from fastapi import Body, HTTPException

    def version() -> dict[str, int]:
        return {"version": API_VERSION}

    def model_list(update: bool = True) -> dict[str, Any]:
        return {"model_list": service.model_titles(refresh=update)[1:]}

    def module_list(alias_names: bool = False) -> dict[str, Any]:
        preprocessors = service.preprocessors()
        return {
            "module_list": list(preprocessors),
            "module_detail": {
                name: {"model_free": False, "sliders": pre.sliders()}  # all need a model
                for name, pre in preprocessors.items()
            },
        }

    def settings() -> dict[str, int]:
        return {"control_net_unit_count": service.unit_count()}

    def types() -> dict[str, Any]:
        return {"control_types": control_types(service)}

    def run_detect(
        body: dict[str, Any] = Body(
            ..., examples=[{"controlnet_module": "canny", "controlnet_input_images": ["<base64>"]}]
        ),
    ):
        try:
            return detect(service, body)
        except ValueError as error:
            raise HTTPException(status_code=422, detail=str(error)) from error

    for path, endpoint, methods in (
        ("/controlnet/version", version, ["GET"]),
        ("/controlnet/model_list", model_list, ["GET"]),
        ("/controlnet/module_list", module_list, ["GET"]),
        ("/controlnet/settings", settings, ["GET"]),
        ("/controlnet/control_types", types, ["GET"]),
        ("/controlnet/detect", run_detect, ["POST"]),
    ):
        app.add_api_route(path, endpoint, methods=methods, tags=["ControlNet"])
