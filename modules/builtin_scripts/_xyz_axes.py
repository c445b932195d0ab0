"""X/Y/Z plot axes: what each axis type changes and how its values text is read (pure, no torch, no UI).

Values are comma-separated (CSV quoting allowed). Number axes accept A1111's range forms: ``1-5`` (every
integer), ``1-10 (+3)`` (step), ``1-10 [4]`` (count, evenly spaced), and the same for floats. ``Prompt S/R``
takes the text to search for as its first value; every value (the first included) replaces it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.app import Backend

Changes = dict[str, Any]  # GenerationParams fields (override_settings merged) for one cell

_INT_RANGE = re.compile(r"^\s*([+-]?\d+)\s*-\s*([+-]?\d+)(?:\s*\(([+-]\d+)\s*\))?\s*$")
_INT_COUNT = re.compile(r"^\s*([+-]?\d+)\s*-\s*([+-]?\d+)\s*\[(\d+)\s*\]\s*$")
_FLOAT = r"[+-]?\d+(?:\.\d*)?"
_FLOAT_RANGE = re.compile(rf"^\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\(([+-]{_FLOAT})\s*\))?\s*$")
_FLOAT_COUNT = re.compile(rf"^\s*({_FLOAT})\s*-\s*({_FLOAT})\s*\[(\d+)\s*\]\s*$")


class AxisError(ValueError):
    """A values text that does not fit its axis; the message names the axis and the value."""


@dataclasses.dataclass(frozen=True)
class Axis:
    label: str
    kind: str  # "int" | "float" | "str" | "none"
    apply: Callable[[Changes, Any, Any], None]  # (changes, value, p)
    choices: Callable[[Any], list[str]] | None = None  # given the backend: the allowed values
    img2img_only: bool = False
    txt2img_only: bool = False

    def format(self, value: Any) -> str:
        """The grid legend for one value (A1111 ``format_value_add_label``)."""
        if self.kind == "none":
            return ""
        if self.label == "Prompt S/R":
            return str(value)
        if isinstance(value, float):
            value = round(value, 8)
            value = int(value) if value.is_integer() and self.kind == "int" else value
        return f"{self.label}: {value}"


def split_values(text: str) -> list[str]:
    """``'1, "a, b", c'`` -> ``['1', 'a, b', 'c']``."""
    if not text or not text.strip():
        return []
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    return [value.strip() for row in rows for value in row if value.strip()]


def _int_values(item: str, limit: int | None = None) -> list[int]:
    if m := _INT_COUNT.match(item):
        start, end, count = int(m.group(1)), int(m.group(2)), int(m.group(3))
        _check_count(item, count, limit)
        if count <= 1:
            return [start]
        return [round(start + (end - start) * i / (count - 1)) for i in range(count)]
    if m := _INT_RANGE.match(item):
        start, end = int(m.group(1)), int(m.group(2))
        step = int(m.group(3)) if m.group(3) else (1 if end >= start else -1)
        if step == 0:
            raise AxisError(f"step 0 in {item!r}")
        _check_count(item, max(0, (end - start) // step + 1), limit)
        return list(range(start, end + (1 if step > 0 else -1), step))
    return [int(item)]


def _float_values(item: str, limit: int | None = None) -> list[float]:
    if m := _FLOAT_COUNT.match(item):
        start, end, count = float(m.group(1)), float(m.group(2)), int(m.group(3))
        _check_count(item, count, limit)
        return [start] if count <= 1 else [start + (end - start) * i / (count - 1) for i in range(count)]
    if m := _FLOAT_RANGE.match(item):
        start, end = float(m.group(1)), float(m.group(2))
        step = float(m.group(3)) if m.group(3) else (1.0 if end >= start else -1.0)
        if step == 0 or not math.isfinite(step) or not math.isfinite(start) or not math.isfinite(end):
            raise AxisError(f"step 0 or a value that is not a finite number in {item!r}")
        _check_count(item, max(0, int((end - start) / step + 1e-9) + 1), limit)
        values, value = [], start
        while (value <= end + 1e-9) if step > 0 else (value >= end - 1e-9):
            values.append(round(value, 10))
            value += step
        return values
    return [float(item)]


def _check_count(item: str, count: int, limit: int | None) -> None:
    """Refuse a range before it is expanded when it alone has more values than the plan may have images."""
    if limit is not None and count > limit:
        raise AxisError(
            f"{item!r} gives {count} values; at most {limit} images may be planned (setting max_plan_images)"
        )


def parse_values(axis: Axis, text: str, backend: Backend | None = None, limit: int | None = None) -> list[Any]:
    """The values of one axis from its text; AxisError naming the axis for anything invalid (or, with
    ``limit``, for more values than that)."""
    if axis.kind == "none":
        return [None]
    items = split_values(text)
    try:
        if axis.kind == "int":
            values: list[Any] = [v for item in items for v in _int_values(item, limit)]
        elif axis.kind == "float":
            values = [v for item in items for v in _float_values(item, limit)]
        else:
            values = items
    except ValueError as error:
        raise AxisError(f"{axis.label}: cannot read {text!r} ({error})") from error
    if not values:
        raise AxisError(f"{axis.label}: no values given")
    if limit is not None and len(values) > limit:
        raise AxisError(f"{axis.label}: {len(values)} values; at most {limit} images may be planned (max_plan_images)")
    if axis.choices is not None and backend is not None:
        allowed = axis.choices(backend)
        lookup = {choice.lower(): choice for choice in allowed}
        unknown = [v for v in values if str(v).lower() not in lookup]
        if unknown:
            raise AxisError(
                f"{axis.label}: unknown value(s) {', '.join(map(str, unknown))}; choose from {', '.join(allowed)}"
            )
        values = [lookup[str(v).lower()] for v in values]
    return values


# --- what each axis changes -----------------------------------------------------------------------------------


def _field(name: str) -> Callable[[Changes, Any, Any], None]:
    def apply(changes: Changes, value: Any, p: Any) -> None:
        changes[name] = value

    return apply


def _setting(key: str) -> Callable[[Changes, Any, Any], None]:
    def apply(changes: Changes, value: Any, p: Any) -> None:
        changes.setdefault("override_settings", {})[key] = value

    return apply


def _prompt_sr(changes: Changes, value: Any, p: Any) -> None:
    """Done in ``cell_changes``, which knows the text to search for (the axis' first value)."""


def _samplers(backend: Backend) -> list[str]:
    from modules.processing.samplers import list_samplers

    return [info.name for info in list_samplers()]


def _schedules(backend: Backend) -> list[str]:
    from modules.processing.samplers import list_schedulers

    return [info.label for info in list_schedulers()]


def _checkpoints(backend: Backend) -> list[str]:
    models = getattr(backend, "models", None)
    if models is None:
        return []
    return [name for info in models.checkpoints() for name in (info.title, info.model_name, info.name)]


def _vaes(backend: Backend) -> list[str]:
    models = getattr(backend, "models", None)
    names = ["Automatic", "None"]
    if models is not None:
        names += [info.name for info in models.vaes()]
    return names


AXES: tuple[Axis, ...] = (
    Axis("Nothing", "none", lambda changes, value, p: None),
    Axis("Seed", "int", _field("seed")),
    Axis("Var. seed", "int", _field("subseed")),
    Axis("Var. strength", "float", _field("subseed_strength")),
    Axis("Steps", "int", _field("steps")),
    Axis("Hires steps", "int", _field("hr_second_pass_steps"), txt2img_only=True),
    Axis("CFG Scale", "float", _field("cfg_scale")),
    Axis("Prompt S/R", "str", _prompt_sr),
    Axis("Sampler", "str", _field("sampler_name"), choices=_samplers),
    Axis("Schedule type", "str", _field("scheduler"), choices=_schedules),
    Axis("Checkpoint name", "str", _setting("sd_model_checkpoint"), choices=_checkpoints),
    Axis("VAE", "str", _setting("sd_vae"), choices=_vaes),
    Axis("Denoising", "float", _field("denoising_strength")),
    Axis("Clip skip", "int", _setting("CLIP_stop_at_last_layers")),
)


def axes_for(is_img2img: bool) -> list[Axis]:
    return [a for a in AXES if not (a.img2img_only and not is_img2img) and not (a.txt2img_only and is_img2img)]


def find_axis(value: Any, is_img2img: bool) -> Axis:
    """An axis by label (any case) or by index in this tab's list (A1111's API sends indices)."""
    axes = axes_for(is_img2img)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 <= int(value) < len(axes):
            return axes[int(value)]
        raise AxisError(f"axis index {value} out of range 0-{len(axes) - 1}")
    wanted = str(value or "Nothing").strip().lower()
    for axis in axes:
        if axis.label.lower() == wanted:
            return axis
    raise AxisError(f"unknown axis type {value!r}; choose from {', '.join(a.label for a in axes)}")


def cell_changes(axes: Sequence[tuple[Axis, Any]], p: Any, search: dict[Axis, Any]) -> Changes:
    """The GenerationParams changes for one cell: each (axis, value) applied in Z, Y, X order."""
    changes: Changes = {}
    for axis, value in axes:
        if axis.label == "Prompt S/R":
            prompt = changes.get("prompt", p.prompt)
            negative = changes.get("negative_prompt", p.negative_prompt)
            changes["prompt"] = prompt.replace(search[axis], str(value))
            changes["negative_prompt"] = negative.replace(search[axis], str(value))
        else:
            axis.apply(changes, value, p)
    return changes
