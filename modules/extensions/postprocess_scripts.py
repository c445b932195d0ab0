"""Extras-tab scripts of extensions (A1111's ``scripts_postprocessing.ScriptPostprocessing`` subclasses), run.

A1111 runs them after its own Extras steps in ``order`` (then name): every script's ``process_firstpass(pp,
**args)`` first, then every ``process(pp, **args)``, each on the same ``PostprocessedImage``; ``pp.info``
becomes the postprocessing infotext. The arguments are the values of the controls the script's ``ui()``
returns (a ``{name: component}`` dict), here their values as created: the HTTP API of A1111 passes only its
built-in steps' fields, so extension scripts run with their defaults there too. A script that raises is
logged with its extension's name and the others still run.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any

from modules.extensions import bridge

log = logging.getLogger(__name__)

FACADE_MODULE = "modules.a1111.scripts_postprocessing"


def postprocessing_base() -> type | None:
    """A1111's base class, only when some extension imported it (the core never imports the facades)."""
    module = sys.modules.get(FACADE_MODULE)
    return getattr(module, "ScriptPostprocessing", None) if module is not None else None


def group_id(name: str) -> str:
    """The element id of a script's controls in the Extras tab: ``extras_script_`` + its name, as an id."""
    return "extras_script_" + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


class PostprocessScripts:
    """The extensions' Extras scripts of one extension manager, created once, run on one image at a time."""

    def __init__(self, loaded: list[Any]) -> None:
        self._loaded = loaded  # LoadedScript records (class, extension context, file)
        self._instances: list[tuple[Any, Any, dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._loaded)

    def instances(self) -> list[tuple[Any, Any, dict[str, Any]]]:
        """(script, its context, its default arguments), in A1111's order."""
        with self._lock:
            if self._instances is None:
                self._instances = [made for loaded in self._loaded if (made := self._create(loaded)) is not None]
                self._instances.sort(key=lambda item: (getattr(item[0], "order", 1000), str(item[0].name or "")))
            return list(self._instances)

    @staticmethod
    def _create(loaded: Any) -> tuple[Any, Any, dict[str, Any]] | None:
        import gradio as gr

        from modules.extensions.gradio3 import gradio3_shims

        try:
            with bridge.activated(loaded.context), gradio3_shims(), gr.Blocks(analytics_enabled=False):
                script = loaded.cls()
                script.filename = str(loaded.path)
                controls = script.ui() or {}
            defaults = {name: getattr(component, "value", None) for name, component in dict(controls).items()}
        except Exception:
            log.exception("Extension %s: Extras script %s could not be created", loaded.context.name, loaded.path.name)
            return None
        return script, loaded.context, defaults

    def build_ui(self) -> dict[str, dict[str, Any]]:
        """Each script's controls in the page being built (one group per script, as A1111's Extras tab):
        {script name: {argument: component}}."""
        import gradio as gr

        from modules.extensions.gradio3 import gradio3_shims

        built: dict[str, dict[str, Any]] = {}
        for script, context, _defaults in self.instances():
            try:
                with bridge.activated(context), gradio3_shims(), gr.Group(elem_id=group_id(str(script.name))):
                    built[str(script.name)] = dict(script.ui() or {})
            except Exception:
                log.exception("Extension %s: Extras script %s ui() failed", context.name, script.name)
        return built

    def run(self, image: Any, values: dict[str, dict[str, Any]] | None = None) -> tuple[Any, dict[str, Any]]:
        """Run every script on ``image``; ``values``: per script name, arguments replacing the defaults.

        Returns the resulting image and the infotext entries the scripts added."""
        from modules.a1111.scripts_postprocessing import PostprocessedImage

        pp = PostprocessedImage(image)
        scripts = self.instances()
        for hook in ("process_firstpass", "process"):
            for script, context, defaults in scripts:
                args = {**defaults, **((values or {}).get(str(script.name), {}))}
                try:
                    with bridge.activated(context):
                        getattr(script, hook)(pp, **args)
                except Exception:
                    log.exception("Extension %s: Extras script %s %s() failed", context.name, script.name, hook)
        return pp.image, dict(pp.info)
