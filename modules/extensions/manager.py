"""The extension manager: discover, install, load scripts in order, and the hooks into the rest of the app.

``install_extensions(backend)`` is called once by the composition root after the Backend exists and before
the UI is built. It fills two Backend members: ``backend.extensions`` (this manager: the list, the
Extensions tab's actions, page assets, UI tabs, app start-up) and ``backend.scripts`` (the
``ScriptRunner`` the processing pipeline, the UI's Script panels and the API call).

Script files are imported one at a time with their extension's context current (``bridge``) and the
extension folder at the front of ``sys.path`` (so ``import mypackage`` finds the extension's own modules, as
in A1111). Anything an extension raises is logged with its name and recorded in its status; the others load.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import logging
import pkgutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.extensions import bridge, compat_imports, installer
from modules.extensions.callbacks import CallbackRegistry, call_flexibly
from modules.extensions.context import ExtensionContext
from modules.extensions.discovery import Extension, discover
from modules.extensions.metadata import ScriptEntry, order_scripts
from modules.extensions.script_api import Script

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

BUILTIN_SCRIPTS_PACKAGE = "modules.builtin_scripts"


@dataclasses.dataclass(frozen=True)
class LoadedScript:
    """A Script subclass found in a file, with the context of the extension that shipped it."""

    cls: type
    context: ExtensionContext
    path: Path


class ExtensionManager:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.callbacks = CallbackRegistry()
        self.extensions: list[Extension] = []
        self.loaded_scripts: list[LoadedScript] = []
        self.postprocessing_scripts: list[LoadedScript] = []  # A1111 Extras scripts (ScriptPostprocessing)
        self._postprocess: Any = None  # their runner, made on first use
        self.contexts: dict[str, ExtensionContext] = {}
        self.update_status: dict[str, str] = {}
        self._serial = 0
        self._lock = threading.Lock()

    # --- loading ------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Discover, install, check preloads and import scripts (``on_ui_settings`` fires later, see below)."""
        backend = self.backend
        compat_imports.install()
        self.extensions = discover(backend.paths, backend.settings, backend.flags)
        if not getattr(backend.flags, "skip_install", False):
            cache = Path(backend.paths.data) / "cache"
            record = installer.InstallRecord(cache / "extension-installs.json")
            installer.run_installers(self.extensions, record, constraints_dir=cache)
        builtin = ExtensionContext(backend, self.callbacks)
        self.contexts[""] = builtin
        bridge.set_fallback(builtin)
        with bridge.activated(builtin):  # preload.py files may read A1111 names (paths of this Backend)
            self._check_preloads()
        self._load_builtin_scripts(builtin)
        entries = []
        for ext in self.extensions:
            if ext.active:
                self.contexts[ext.name] = ExtensionContext(backend, self.callbacks, ext.name, ext.path)
                scripts_dir = ext.path / "scripts"
                files = sorted(scripts_dir.glob("*.py")) if scripts_dir.is_dir() else []
                rel = {f: f"scripts/{f.name}" for f in files}
                entries += [ScriptEntry(ext.canonical_name, f, ext.metadata.rules_for(rel[f])) for f in files]
        by_canonical = {ext.canonical_name: ext for ext in self.extensions}
        for entry in order_scripts(entries):
            self._load_script_file(by_canonical[entry.extension], entry.path)
        for ext in self.extensions:
            if ext.active and not ext.failed:
                ext.status = "enabled" + "".join(f"; note: {note}" for note in ext.notes)

    def summary(self) -> str:
        """The start-up line: how many extensions loaded and which failed (and why, briefly)."""
        loaded = [e for e in self.extensions if e.active and not e.failed]
        failed = [e for e in self.extensions if e.failed]
        text = f"Extensions: {len(loaded)} loaded, {len(failed)} failed, {len(self.loaded_scripts)} scripts"
        if failed:
            text += " (failed: " + "; ".join(f"{e.name}: {e.errors[0]}" for e in failed) + ")"
        return text

    def _check_preloads(self) -> None:
        """A user extension whose preload.py fails (a flag a built-in one adds, an exception) is not loaded."""
        from modules.extensions.preload import check_preload, covering_builtin

        builtin_dirs = [e.path for e in self.extensions if e.is_builtin and e.active]
        for ext in self.extensions:
            if not ext.active or ext.is_builtin or not (ext.path / "preload.py").is_file():
                continue
            error = check_preload(ext.path, builtin_dirs)
            if error is not None:
                owner = covering_builtin(error, builtin_dirs)
                if owner is not None:
                    error += f"; the built-in extension {owner} has these flags and is used instead"
                log.error("Extension %s: %s; it is not loaded", ext.name, error)
                ext.fail(error)
                ext.active = False

    def _load_builtin_scripts(self, context: ExtensionContext) -> None:
        package = importlib.import_module(BUILTIN_SCRIPTS_PACKAGE)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module_context = context.for_script(f"{BUILTIN_SCRIPTS_PACKAGE}.{info.name}")
            try:
                with bridge.activated(module_context):
                    module = importlib.import_module(f"{BUILTIN_SCRIPTS_PACKAGE}.{info.name}")
            except Exception:
                log.exception("Built-in script %s failed to load", info.name)
                continue
            self._collect(module, module_context, Path(module.__file__ or info.name))

    def _load_script_file(self, ext: Extension, path: Path) -> None:
        if not ext.active:
            return
        self._serial += 1
        module_name = f"_webui_ext_{self._serial}_{_identifier(ext.name)}_{_identifier(path.stem)}"
        context = self.contexts[ext.name].for_script(str(path))
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            with bridge.activated(context), _on_sys_path(ext.path):
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
        except BaseException as error:  # SystemExit / KeyboardInterrupt from a script must not stop start-up
            sys.modules.pop(module_name, None)
            if isinstance(error, KeyboardInterrupt):
                raise
            log.exception(
                "Extension %s: scripts/%s failed to load; the rest of the app keeps working", ext.name, path.name
            )
            ext.fail(f"scripts/{path.name}: {type(error).__name__}: {error}")
            return
        self._collect(module, context, path)

    def _collect(self, module: Any, context: ExtensionContext, path: Path) -> None:
        """Script classes defined in the file, or imported into it from the extension's own folder (A1111)."""
        collected = {loaded.cls for loaded in self.loaded_scripts}
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Script)
                and value is not Script
                and value not in collected
                and (value.__module__ == module.__name__ or _defined_under(value, context.path))
                and not inspect.isabstract(value)
            ):
                self.loaded_scripts.append(LoadedScript(value, context, path))
                collected.add(value)
        self._collect_postprocessing(module, context, path)

    def _collect_postprocessing(self, module: Any, context: ExtensionContext, path: Path) -> None:
        from modules.extensions.postprocess_scripts import postprocessing_base

        base = postprocessing_base()
        if base is None:
            return
        collected = {loaded.cls for loaded in self.postprocessing_scripts}
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, base)
                and value is not base
                and value not in collected
                and (value.__module__ == module.__name__ or _defined_under(value, context.path))
            ):
                self.postprocessing_scripts.append(LoadedScript(value, context, path))
                collected.add(value)

    def _postprocess_runner(self) -> Any:
        from modules.extensions.postprocess_scripts import PostprocessScripts

        with self._lock:
            if self._postprocess is None:
                self._postprocess = PostprocessScripts(self.postprocessing_scripts)
            return self._postprocess

    def run_postprocessing_scripts(
        self, image: Any, values: dict[str, dict[str, Any]] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The extensions' Extras scripts on one image (after the built-in steps): (image, infotext entries);
        ``values``: per script name, the values of its controls (the Extras tab's), else their defaults."""
        if not self.postprocessing_scripts:
            return image, {}
        return self._postprocess_runner().run(image, values)

    def build_postprocessing_ui(self) -> dict[str, dict[str, Any]]:
        """The Extras scripts' controls, built into the page being built: {script name: {argument: component}}."""
        return self._postprocess_runner().build_ui() if self.postprocessing_scripts else {}

    # --- callbacks fired by the app -----------------------------------------------------------------------
    def fire_ui_settings(self) -> None:
        from modules.extensions.gradio3 import gradio3_shims  # imports gradio: only when settings are declared

        for callback in self.callbacks.get("ui_settings"):
            context = self.contexts.get(callback.extension) or self.contexts[""]
            try:
                with bridge.activated(context.for_script(callback.script)), gradio3_shims():
                    from modules.extensions.callbacks import call_flexibly

                    call_flexibly(callback.fn, context.settings)
            except Exception:
                log.exception("Extension %s: on_ui_settings callback %s failed", callback.extension, callback.name)

    def ui_tabs(self) -> list[tuple[Any, str, str]]:
        """(Blocks, title, id) of every tab extensions add (``on_ui_tabs``); build inside no other Blocks."""
        from modules.extensions.gradio3 import gradio3_shims
        from modules.extensions.gradio3_layout import hoist_stray_tab_children

        tabs: list[tuple[Any, str, str]] = []
        for callback in self.callbacks.get("ui_tabs"):
            try:
                with self._activated(callback), gradio3_shims():
                    result = callback.fn() or []
                for item in result:
                    blocks, title, tab_id = (list(item) + [None, None])[:3]
                    hoist_stray_tab_children(blocks)
                    tabs.append((blocks, str(title), str(tab_id or _identifier(str(title)).lower())))
            except Exception:
                log.exception("Extension %s: on_ui_tabs callback %s failed", callback.extension, callback.name)
        return tabs

    def app_started(self, demo: Any, app: Any) -> None:
        """Fire ``on_app_started(demo, app)``; routes added there end up before the UI's catch-all mount."""
        for callback in self.callbacks.get("app_started"):
            try:
                with self._activated(callback):
                    callback.fn(demo, app)
            except Exception:
                log.exception("Extension %s: on_app_started callback %s failed", callback.extension, callback.name)
        _keep_mounts_last(app)

    def model_loaded(self, model: Any) -> None:
        for callback in self.callbacks.get("model_loaded"):
            try:
                with self._activated(callback):
                    callback.fn(model)
            except Exception:
                log.exception("Extension %s: on_model_loaded callback %s failed", callback.extension, callback.name)

    @contextlib.contextmanager
    def _activated(self, callback: Any) -> Iterator[None]:
        context = self.contexts.get(callback.extension) or self.contexts[""]
        with bridge.activated(context.for_script(callback.script)):
            yield

    def activated_for(self, callback: Any) -> Any:
        """The context of the extension that registered ``callback``, made current (for other modules)."""
        return self._activated(callback)

    def fire(self, kind: str, *args: Any) -> list[Any]:
        """Call every ``kind`` callback within its extension's context; failures are logged, others still run."""
        results = []
        for callback in self.callbacks.get(kind):
            try:
                with self._activated(callback):
                    results.append(call_flexibly(callback.fn, *args))
            except Exception:
                log.exception("Extension %s: on_%s callback %s failed", callback.extension, kind, callback.name)
        return results

    def page_build(self) -> Any:
        """Around the building of the page: ``on_before_ui`` first, then component events while it builds."""
        from modules.extensions.component_events import component_events

        self.fire("before_ui")
        return component_events(self)

    def before_token_counter(self, prompt: str, is_positive: bool = True) -> str:
        """``on_before_token_counter``: callbacks may change the prompt text before its tokens are counted."""
        from modules.extensions.callbacks import BeforeTokenCounterParams

        params = BeforeTokenCounterParams(prompt=prompt, steps=1, styles=[], is_positive=is_positive)
        self.fire("before_token_counter", params)
        return str(params.prompt)

    def before_reload(self) -> None:
        """Before the server process is replaced (Apply and restart): ``on_before_reload``, ``on_script_unloaded``."""
        self.fire("before_reload")
        self.fire("script_unloaded")

    # --- listing ------------------------------------------------------------------------------------------
    def get(self, name: str) -> Extension | None:
        return next((ext for ext in self.extensions if ext.name == name), None)

    def api_items(self) -> list[dict[str, Any]]:
        return [ext.api_item() for ext in self.extensions]

    def active_dirs(self) -> list[Path]:
        return [ext.path for ext in self.extensions if ext.active]

    def page_head(self) -> str:
        """Inline ``<script>`` tags of the active extensions' ``javascript/`` files, for the page head."""
        from modules.extensions.assets import page_head

        return page_head(self.extensions)

    def page_css(self) -> str:
        """The active extensions' ``style.css`` files, concatenated."""
        from modules.extensions.assets import page_css

        return page_css(self.extensions)


def _defined_under(cls: type, folder: Path | None) -> bool:
    """True when ``cls`` comes from a module inside ``folder`` (an extension's own package)."""
    if folder is None:
        return False
    source = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if not source:
        return False
    try:
        Path(source).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _identifier(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


@contextlib.contextmanager
def _on_sys_path(directory: Path) -> Iterator[None]:
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _keep_mounts_last(app: Any) -> None:
    """Routes added with ``@app.get`` after the UI was mounted at ``/`` would never match: move mounts last."""
    try:
        from starlette.routing import Mount
    except ImportError:
        return
    routes = app.router.routes
    mounts = [route for route in routes if isinstance(route, Mount)]
    if mounts:
        routes[:] = [route for route in routes if not isinstance(route, Mount)] + mounts
        app.openapi_schema = None


def install_extensions(backend: Backend) -> ExtensionManager:
    """Load every extension once and set ``backend.extensions`` and ``backend.scripts`` (idempotent)."""
    existing = backend.extensions
    if isinstance(existing, ExtensionManager):
        return existing
    from modules.extensions.runner import ScriptRunner

    manager = ExtensionManager(backend)
    backend.extensions = manager
    manager.load()
    runner = ScriptRunner(manager)
    backend.scripts = runner
    runner.scripts(False), runner.scripts(True)  # A1111 creates script instances before on_ui_settings fires
    manager.fire_ui_settings()
    log.info(manager.summary())
    return manager
