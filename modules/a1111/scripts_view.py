"""A1111's ``scripts.scripts_txt2img`` / ``scripts_img2img`` (script runners) and ``scripts_data`` (loaded classes)."""

from __future__ import annotations

import dataclasses
from typing import Any

from modules.a1111 import _resolve


@dataclasses.dataclass(frozen=True)
class ScriptClassData:
    script_class: type
    path: str
    basedir: str
    module: Any


class ScriptRunnerView:
    """One tab's scripts with A1111's names: ``scripts``, ``alwayson_scripts``, ``selectable_scripts``, ``titles``."""

    def __init__(self, is_img2img: bool) -> None:
        self.is_img2img = is_img2img

    def _runner(self) -> Any:
        runner = _resolve.script_runner()
        if runner is None:
            raise RuntimeError("scripts are not loaded yet")
        return runner

    @property
    def scripts(self) -> list[Any]:
        return self._runner().scripts(self.is_img2img)

    @property
    def alwayson_scripts(self) -> list[Any]:
        return self._runner().alwayson(self.is_img2img)

    @property
    def selectable_scripts(self) -> list[Any]:
        return self._runner().selectable(self.is_img2img)

    @property
    def titles(self) -> list[str]:
        return [str(s.title()) for s in self.selectable_scripts]

    def script(self, title: str) -> Any:
        return self._runner().find(title, self.is_img2img)


@dataclasses.dataclass(frozen=True)
class ScriptFile:
    basedir: str
    filename: str
    path: str


def list_scripts(scriptdirname: str, extension: str, *, include_extensions: bool = True) -> list[ScriptFile]:
    """A1111: every ``<scriptdirname>/*<extension>`` file of the program and of the active extensions."""
    from pathlib import Path

    backend = _resolve.backend()
    roots = [Path(backend.paths.program)]
    manager = backend.extensions
    if include_extensions and manager is not None:
        roots += manager.active_dirs()
    found = []
    for root in roots:
        folder = root / scriptdirname
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.name.endswith(extension):
                    found.append(ScriptFile(str(root), path.name, str(path)))
    return found


scripts_txt2img = ScriptRunnerView(False)
scripts_img2img = ScriptRunnerView(True)
scripts_current = None


def __getattr__(name: str) -> Any:
    if name == "scripts_data":
        manager = _resolve.extension_manager()
        loaded = getattr(manager, "loaded_scripts", [])
        return [
            ScriptClassData(item.cls, str(item.path), str(item.context.path or item.path.parent), None)
            for item in loaded
        ]
    raise AttributeError(name)
