"""A1111's ``modules.sd_samplers``: the sampler list as ``SamplerData`` (``name``, ``aliases``, ``options``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from modules.processing import samplers as core


@dataclasses.dataclass(frozen=True)
class SamplerData:
    name: str
    constructor: Any
    aliases: list[str]
    options: dict[str, Any]


def _all() -> list[SamplerData]:
    return [SamplerData(s.name, None, list(s.aliases), dict(s.options)) for s in core.list_samplers()]


def visible_sampler_names() -> list[str]:
    return [s.name for s in _all()]


def find_sampler_config(name: str) -> SamplerData | None:
    try:
        found = core.find_sampler(name)
    except ValueError:
        return None
    return SamplerData(found.name, None, list(found.aliases), dict(found.options))


def __getattr__(name: str) -> Any:
    if name in ("all_samplers", "samplers", "samplers_for_img2img"):
        return _all()
    if name == "all_samplers_map":
        return {s.name: s for s in _all()}
    raise AttributeError(f"module 'modules.sd_samplers' has no attribute {name!r}")
