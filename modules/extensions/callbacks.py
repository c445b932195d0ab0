"""A1111's ``script_callbacks`` as an object: who registered what, called in order, failures isolated.

One ``CallbackRegistry`` belongs to the extension manager of a Backend. Extensions register through the
facade module ``modules.script_callbacks`` (which forwards to the registry of the extension being loaded or
run, see ``bridge``) or directly through ``ExtensionContext.callbacks``. ``fire`` calls every callback of a
kind in registration order; one that raises is logged with its extension's name and the others still run.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

KINDS = (
    "app_started",
    "model_loaded",
    "ui_tabs",
    "ui_train_tabs",
    "ui_settings",
    "before_image_saved",
    "image_saved",
    "cfg_denoiser",
    "cfg_denoised",
    "cfg_after_cfg",
    "before_ui",
    "script_unloaded",
    "infotext_pasted",
    "before_reload",
    "image_grid",
    "before_component",
    "after_component",
    "extra_noise",
    "list_optimizers",
    "list_unets",
    "before_token_counter",
)


@dataclasses.dataclass
class ImageSaveParams:
    """``on_before_image_saved`` / ``on_image_saved`` argument; before saving, ``image`` and ``pnginfo`` may change."""

    image: Any
    p: Any
    filename: str
    pnginfo: dict[str, Any]


@dataclasses.dataclass
class BeforeTokenCounterParams:
    """``on_before_token_counter`` argument; a callback may change ``prompt`` (what gets counted)."""

    prompt: str
    steps: int
    styles: list[str]
    is_positive: bool = True


# Kinds A1111 fires from parts this program does not have: registering one is accepted and logged once.
NEVER_FIRED = {
    "ui_train_tabs": "there is no Train tab",
    "list_optimizers": "attention is chosen by the program; there is no optimizer list to extend",
    "list_unets": "there is no SD-UNet list to extend",
    "extra_noise": "img2img adds no extra noise here (A1111's img2img_extra_noise setting does not exist)",
}


@dataclasses.dataclass(frozen=True)
class Callback:
    kind: str
    fn: Callable[..., Any]
    extension: str  # extension folder name ("" for the program's own)
    script: str  # file that registered it
    name: str


class CallbackRegistry:
    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {kind: [] for kind in KINDS}

    def add(
        self, kind: str, fn: Callable[..., Any], *, extension: str = "", script: str = "", name: str | None = None
    ) -> Callback:
        if kind not in self._callbacks:
            raise ValueError(f"Unknown callback {kind!r}; valid ones: {', '.join(KINDS)}")
        if not callable(fn):
            raise TypeError(f"on_{kind} needs a function, got {type(fn).__name__}")
        callback = Callback(kind, fn, extension, script, name or getattr(fn, "__qualname__", repr(fn)))
        if kind in NEVER_FIRED:
            log.info(
                "Extension %s: on_%s callback %s will never run: %s",
                extension or "(built-in)",
                kind,
                callback.name,
                NEVER_FIRED[kind],
            )
        self._callbacks[kind].append(callback)
        return callback

    def get(self, kind: str) -> list[Callback]:
        return list(self._callbacks[kind])

    def remove_script(self, script: str) -> int:
        """A1111's ``remove_current_script_callbacks``: drop everything one script file registered."""
        return self._remove(lambda c: c.script == script)

    def remove_function(self, fn: Callable[..., Any]) -> int:
        return self._remove(lambda c: c.fn == fn)

    def _remove(self, matches: Callable[[Callback], bool]) -> int:
        removed = 0
        for kind, callbacks in self._callbacks.items():
            keep = [c for c in callbacks if not matches(c)]
            removed += len(callbacks) - len(keep)
            self._callbacks[kind] = keep
        return removed

    def fire(self, kind: str, *args: Any) -> list[Any]:
        """Call every ``kind`` callback with ``args``; returns their results (failures give no result)."""
        results = []
        for callback in self.get(kind):
            try:
                results.append(call_flexibly(callback.fn, *args))
            except Exception:
                log.exception(
                    "Extension %s: %s callback %s failed", callback.extension or "(built-in)", kind, callback.name
                )
        return results


def call_flexibly(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn`` with as many of ``args`` as it accepts (A1111's ``on_ui_settings()`` takes none; ours pass one)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn(*args)
    parameters = list(signature.parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return fn(*args)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return fn(*args[: len(positional)])
