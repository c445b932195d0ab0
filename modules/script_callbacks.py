"""A1111-compatible facade: ``from modules import script_callbacks; script_callbacks.on_ui_tabs(fn)``.

Every ``on_*`` function registers ``fn`` with the callback registry of the extension being loaded or run
(``modules.extensions.bridge``); there is no global registry here. Callback arguments follow A1111:
``on_app_started(demo, app)``, ``on_model_loaded(sd_model)``, ``on_ui_tabs() -> [(blocks, title, id)]``,
``on_ui_settings(opts)`` (A1111 passes nothing and extensions use ``shared.opts``; here the function may take
one argument, an object with ``add_option`` and ``get``), ``on_before_image_saved(params)`` /
``on_image_saved(params)`` (``ImageSaveParams``), ``on_cfg_denoiser(params)`` (``CFGDenoiserParams``),
``on_cfg_denoised(params)``, ``on_cfg_after_cfg(params)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from modules.extensions import bridge
from modules.extensions.callbacks import BeforeTokenCounterParams, ImageSaveParams  # noqa: F401  (re-exported)
from modules.processing.hooks import AfterCFGParams as AfterCFGCallbackParams  # noqa: F401
from modules.processing.hooks import CFGDenoisedParams, CFGDenoiserParams  # noqa: F401


def _register(kind: str, callback: Callable[..., Any], name: str | None = None) -> None:
    bridge.current().on(kind, callback, name=name)


def on_app_started(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("app_started", callback, name)


def on_model_loaded(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("model_loaded", callback, name)


def on_ui_tabs(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("ui_tabs", callback, name)


def on_ui_train_tabs(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("ui_train_tabs", callback, name)


def on_ui_settings(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("ui_settings", callback, name)


def on_before_image_saved(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("before_image_saved", callback, name)


def on_image_saved(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("image_saved", callback, name)


def on_cfg_denoiser(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("cfg_denoiser", callback, name)


def on_cfg_denoised(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("cfg_denoised", callback, name)


def on_cfg_after_cfg(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("cfg_after_cfg", callback, name)


def on_before_ui(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("before_ui", callback, name)


def on_script_unloaded(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("script_unloaded", callback, name)


def on_infotext_pasted(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("infotext_pasted", callback, name)


def on_before_reload(callback: Callable[..., Any], *, name: str | None = None) -> None:
    _register("before_reload", callback, name)


def on_before_component(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """``callback(component, **kwargs)`` before each Gradio component of the page is created."""
    _register("before_component", callback, name)


def on_after_component(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """``callback(component, **kwargs)`` after each Gradio component of the page is created."""
    _register("after_component", callback, name)


def on_image_grid(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """``callback(ImageGridLoopParams)`` before a batch grid is drawn; change ``imgs``, ``cols``, ``rows``."""
    _register("image_grid", callback, name)


def on_extra_noise(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """Registered, never fired: img2img adds no extra noise here (a one-line notice is logged)."""
    _register("extra_noise", callback, name)


def on_list_optimizers(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """Registered, never fired: attention is chosen by the program, no optimizer list (notice logged)."""
    _register("list_optimizers", callback, name)


def on_list_unets(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """Registered, never fired: there is no SD-UNet list (a one-line notice is logged)."""
    _register("list_unets", callback, name)


def on_before_token_counter(callback: Callable[..., Any], *, name: str | None = None) -> None:
    """``callback(BeforeTokenCounterParams)`` before the prompt box's tokens are counted; may change ``prompt``."""
    _register("before_token_counter", callback, name)


@dataclasses.dataclass
class ImageGridLoopParams:
    imgs: list[Any]
    cols: int
    rows: int


@dataclasses.dataclass
class ExtraNoiseParams:
    noise: Any
    x: Any
    xi: Any


@dataclasses.dataclass
class UiTrainTabParams:
    txt2img_preview_params: list[Any]


def remove_current_script_callbacks() -> None:
    """Drop every callback the current script file registered (A1111 extensions call it before re-adding)."""
    context = bridge.current()
    context.callbacks.remove_script(context.script)


def remove_callbacks_for_function(callback: Callable[..., Any]) -> None:
    bridge.current().callbacks.remove_function(callback)
