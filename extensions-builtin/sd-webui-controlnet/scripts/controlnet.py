"""ControlNet for txt2img, img2img, inpainting and hires fix — built only on the public extension API.

The always-on script "ControlNet" reads its units from its UI values or from the API's
``alwayson_scripts: {"controlnet": {"args": [unit, ...]}}`` (field names of A1111's extension), prepares them
in ``process`` and adds its hook to the job; the routes under ``/controlnet/`` come from ``on_app_started``.
"""

from __future__ import annotations

from typing import Any

from controlnet_ext.service import ControlNetService
from controlnet_ext.units import units_from_args

from modules import script_callbacks, scripts


class ControlNetScript(scripts.Script):
    service: ControlNetService  # bound below, when the extension loads
    pad_args_with_defaults = False  # API args are unit dicts, not the UI's flat values

    def title(self) -> str:
        return "ControlNet"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        from controlnet_ext import ui

        return ui.build(self.service, is_img2img, self.elem_id)

    def validate_args(self, args: tuple[Any, ...]) -> None:
        for unit in units_from_args(args):
            if unit.active:
                self.service.resolve_module(unit.module)
                self.service.find_model(unit.model)

    def process(self, p: Any, *args: Any) -> None:
        from modules.extension_api import InvalidParams

        try:
            units = units_from_args(args)
        except ValueError as error:
            raise InvalidParams(f"ControlNet: {error}") from error
        self.service.prepare(p, units)


def _bind() -> None:
    context = scripts.current_extension()
    service = ControlNetService(context)
    ControlNetScript.service = service
    context.add_service("controlnet", service)
    script_callbacks.on_ui_settings(service.on_ui_settings)

    def on_app_started(demo: Any, app: Any) -> None:
        from controlnet_ext.api import register_routes

        register_routes(service, app)

    script_callbacks.on_app_started(on_app_started)


_bind()
