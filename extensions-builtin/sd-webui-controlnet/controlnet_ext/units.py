"""ControlNet units: the typed form of one unit's settings, read from UI values or A1111-extension API dicts.

``parse_unit`` is pure and strict: it accepts the field names of Mikubill's sd-webui-controlnet API (any case,
with its legacy aliases), enum values by name or index, and images as base64 strings, ``{"image", "mask"}``
dicts, lists of those, PIL images or numpy arrays; anything it cannot use raises ValueError naming the field.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any

RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
HR_OPTIONS = ("Both", "Low res only", "High res only")
_RESIZE_ALIASES = {
    "inner fit (scale to fit)": "Crop and Resize",
    "scale to fit (inner fit)": "Crop and Resize",
    "envelope (outer fit)": "Resize and Fill",
    "just resize": "Just Resize",
    "crop and resize": "Crop and Resize",
    "resize and fill": "Resize and Fill",
}
_KEY_ALIASES = {
    "lowvram": "low_vram",
    "guidance": "guidance_end",
    "input_image": "image",
    "mask_image": "mask",
    "processor_resolution": "processor_res",
}
# The order of values a UI unit panel produces (``ui.py`` builds its components in this order).
UI_FIELDS = (
    "enabled",
    "image",
    "module",
    "model",
    "weight",
    "guidance_start",
    "guidance_end",
    "control_mode",
    "resize_mode",
    "pixel_perfect",
    "processor_res",
    "threshold_a",
    "threshold_b",
)


@dataclasses.dataclass(frozen=True)
class ControlNetUnit:
    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: Any = None  # PIL image or None (img2img falls back to the init image)
    mask: Any = None  # PIL image (white = masked) or None
    resize_mode: str = "Crop and Resize"
    low_vram: bool = False
    processor_res: int = -1  # -1: the preprocessor's default
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    hr_option: str = "Both"

    @property
    def active(self) -> bool:
        return self.enabled and self.model not in ("", "None", None)


def _choice(field: str, value: Any, choices: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected one of {', '.join(choices)}, got {value!r}")
    if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= int(value) < len(choices):
        return choices[int(value)]
    text = str(value).strip()
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    if aliases and text.lower() in aliases:
        return aliases[text.lower()]
    raise ValueError(f"{field}: expected one of {', '.join(choices)} (or 0-{len(choices) - 1}), got {value!r}")


def _number(field: str, value: Any, kind: type = float, low: float | None = None, high: float | None = None) -> Any:
    try:
        number = kind(float(value))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{field}: expected a number, got {value!r}") from error
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{field}: {number} is outside {low}-{high}")
    return number


def _flag(field: str, value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if value.strip().lower() in ("false", "0", "no", "off", ""):
            return False
        raise ValueError(f"{field}: expected true or false, got {value!r}")
    return bool(value)


def decode_image(value: Any, field: str = "image") -> Any:
    """A PIL image from base64 (optionally ``data:`` prefixed), PIL, or an HWC numpy array; None for empty."""
    from PIL import Image

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Image.Image):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        import numpy as np

        return Image.fromarray(np.asarray(value).astype("uint8"))
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("http://", "https://")):
            raise ValueError(f"{field}: URLs are not fetched (the server works offline); send base64 image data")
        if text.startswith("data:"):
            text = text.split(",", 1)[-1]
        try:
            data = base64.b64decode(text, validate=False)
            image = Image.open(io.BytesIO(data))
            image.load()
            return image
        except (binascii.Error, ValueError, OSError) as error:
            raise ValueError(f"{field}: not a base64-encoded image ({error})") from error
    raise ValueError(f"{field}: unsupported image value of type {type(value).__name__}")


def _image_and_mask(value: Any, mask: Any) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, Mapping):
        lowered = {str(k).lower(): v for k, v in value.items()}
        mask = lowered.get("mask", mask)
        value = lowered.get("image")
    return decode_image(value, "image"), decode_image(mask, "mask")


def parse_unit(data: Any) -> ControlNetUnit:
    """A ``ControlNetUnit`` from an API dict (or a unit); ValueError naming the field for bad values."""
    if isinstance(data, ControlNetUnit):
        return data
    if not isinstance(data, Mapping):
        raise ValueError(f"a ControlNet unit must be an object, got {type(data).__name__}")
    raw = {_KEY_ALIASES.get(str(k).lower(), str(k).lower()): v for k, v in data.items()}
    fields: dict[str, Any] = {}
    if "enabled" in raw:
        fields["enabled"] = _flag("enabled", raw["enabled"])
    if raw.get("module") is not None:
        fields["module"] = str(raw["module"]).strip() or "none"
    if raw.get("model") is not None:
        fields["model"] = str(raw["model"]).strip() or "None"
    if raw.get("weight") is not None:
        fields["weight"] = _number("weight", raw["weight"], float, 0.0, 2.0)
    image, mask = _image_and_mask(raw.get("image"), raw.get("mask"))
    fields.update(image=image, mask=mask)
    if raw.get("resize_mode") is not None:
        fields["resize_mode"] = _choice("resize_mode", raw["resize_mode"], RESIZE_MODES, _RESIZE_ALIASES)
    if raw.get("low_vram") is not None:
        fields["low_vram"] = _flag("low_vram", raw["low_vram"])
    if raw.get("processor_res") is not None:
        fields["processor_res"] = _number("processor_res", raw["processor_res"], int, -1, 4096)
    for key in ("threshold_a", "threshold_b"):
        if raw.get(key) is not None:
            fields[key] = _number(key, raw[key])
    for key in ("guidance_start", "guidance_end"):
        if raw.get(key) is not None:
            fields[key] = _number(key, raw[key], float, 0.0, 1.0)
    if raw.get("pixel_perfect") is not None:
        fields["pixel_perfect"] = _flag("pixel_perfect", raw["pixel_perfect"])
    if raw.get("control_mode") is not None:
        fields["control_mode"] = _choice("control_mode", raw["control_mode"], CONTROL_MODES)
    if raw.get("hr_option") is not None:
        fields["hr_option"] = _choice("hr_option", raw["hr_option"], HR_OPTIONS)
    unit = ControlNetUnit(**fields)
    if unit.guidance_start > unit.guidance_end:
        raise ValueError(f"guidance_start ({unit.guidance_start}) must not exceed guidance_end ({unit.guidance_end})")
    return unit


def units_from_args(args: Sequence[Any]) -> list[ControlNetUnit]:
    """Units from script args: API dicts / units, or flat UI values in ``UI_FIELDS`` order, per unit."""
    units: list[ControlNetUnit] = []
    index = 0
    args = list(args)
    while index < len(args):
        value = args[index]
        if isinstance(value, (Mapping, ControlNetUnit)):
            units.append(parse_unit(value))
            index += 1
            continue
        chunk = args[index : index + len(UI_FIELDS)]
        if len(chunk) < len(UI_FIELDS):
            raise ValueError(f"ControlNet got {len(chunk)} trailing values; a unit needs {len(UI_FIELDS)}")
        values = dict(zip(UI_FIELDS, chunk, strict=True))
        values = {k: v for k, v in values.items() if v is not None}
        units.append(parse_unit(values))
        index += len(UI_FIELDS)
    return units


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infotext(unit: ControlNetUnit, model_title: str, processor_res: int, threshold_a: float, threshold_b: float) -> str:
    """The value A1111's ControlNet extension writes under ``ControlNet N`` in the infotext."""
    parts = [
        ("Module", unit.module),
        ("Model", model_title),
        ("Weight", unit.weight),
        ("Resize Mode", unit.resize_mode),
        ("Processor Res", processor_res),
        ("Threshold A", threshold_a),
        ("Threshold B", threshold_b),
        ("Guidance Start", unit.guidance_start),
        ("Guidance End", unit.guidance_end),
        ("Pixel Perfect", unit.pixel_perfect),
        ("Control Mode", unit.control_mode),
    ]
    return ", ".join(f"{key}: {_fmt(value)}" for key, value in parts)
