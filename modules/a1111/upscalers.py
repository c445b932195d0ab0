"""A1111's ``shared.sd_upscalers``: entries with ``name``, ``data_path`` and ``scaler.upscale(img, scale, path)``."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve


class _Scaler:
    def __init__(self, registry: Any, name: str) -> None:
        self._registry = registry
        self.name = name
        self.scale = 4

    def upscale(self, img: Any, scale: float, selected_model: Any = None) -> Any:
        if self.name == "None":
            return img
        return self._registry.upscale(img, self.name, scale)


class UpscalerData:
    def __init__(self, registry: Any, info: Any) -> None:
        self.name = info.name
        self.data_path = str(info.path) if info.path is not None else None
        self.model_path = self.data_path
        self.scale = info.scale
        self.scaler = _Scaler(registry, info.name)
        self.model = None


def sd_upscalers() -> list[UpscalerData]:
    registry = _resolve.backend().upscalers
    return [UpscalerData(registry, info) for info in registry.list()]
