"""Settings → Defaults, Sysinfo and Actions, A1111's non-option pages of the Settings tab.

Defaults writes the current values of the txt2img/img2img controls into ``ui-config.json`` (the file
``ui_config.apply_ui_config`` reads at start-up); Sysinfo links the JSON report of ``modules.sysinfo``;
Actions unload / reload the checkpoint and free memory through the job queue.
"""

from __future__ import annotations

import html
import json
import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui.common import describe_error, error_html, info_html

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def defaults_changes(stored: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``key -> (stored, current)`` for every value that differs from ``ui-config.json``."""
    return {key: (stored.get(key), value) for key, value in current.items() if stored.get(key) != value}


def changes_html(changes: dict[str, tuple[Any, Any]]) -> str:
    if not changes:
        return info_html("No changes")
    rows = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(repr(old))}</td><td>{html.escape(repr(new))}</td></tr>"
        for key, (old, new) in changes.items()
    )
    return f'<table class="defaults-changes"><tr><th>Path</th><th>Old value</th><th>New value</th></tr>{rows}</table>'


def _read_stored(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def build_defaults(backend: Backend, demo: gr.Blocks) -> None:
    from modules.settings.store import write_json_atomic
    from modules.ui.ui_config import _keyed_components

    keyed = {f"{prefix}/value": component for prefix, component in _keyed_components(demo).items()}
    gr.HTML(
        "<p>This page allows you to change default values in UI elements on other tabs. Make your changes, "
        "press 'View changes' to review the changed default values, then press 'Apply' to write them to "
        "ui-config.json.</p><p>New values will apply after you restart the UI.</p>",
        elem_id="settings_defaults_help",
    )
    with gr.Row():
        view = gr.Button("View changes", elem_id="ui_defaults_view")
        apply = gr.Button("Apply", elem_id="ui_defaults_apply", variant="primary")
    review = gr.HTML(elem_id="ui_defaults_review")
    path = backend.paths.ui_config_file

    def current(values: tuple) -> dict[str, Any]:
        return dict(zip(keyed, values, strict=True))

    def show(*values: Any) -> str:
        try:
            return changes_html(defaults_changes(_read_stored(path), current(values)))
        except (OSError, ValueError) as error:
            return error_html(f"Could not read {path.name}: {describe_error(error)}")

    def write(*values: Any) -> str:
        if backend.settings.frozen:
            return error_html("Settings are read-only (--freeze-settings).")
        try:
            stored = _read_stored(path)
            changes = defaults_changes(stored, current(values))
            write_json_atomic(path, {**stored, **{key: new for key, (_, new) in changes.items()}})
        except (OSError, ValueError) as error:
            return error_html(f"Could not write {path.name}: {describe_error(error)}")
        return info_html(f"Wrote {len(changes)} changes.")

    inputs = list(keyed.values())
    view.click(show, inputs, review, show_progress="hidden")
    apply.click(write, inputs, review, show_progress="hidden")


def build_sysinfo() -> None:
    gr.HTML(
        '<p><a href="/internal/sysinfo-download" download id="sysinfo_download_link">Download system info</a></p>'
        '<p><a href="/internal/sysinfo" target="_blank">Open as JSON</a></p>'
        "<p>The file lists versions, settings (passwords and keys hidden), extensions and packages, for bug"
        " reports.</p>",
        elem_id="sysinfo_links",
    )


def build_actions(backend: Backend) -> None:
    with gr.Row():
        unload = gr.Button("Unload checkpoint", elem_id="sett_unload_sd_model")
        reload = gr.Button("Reload checkpoint", elem_id="sett_reload_sd_model")
        free = gr.Button("Free memory", elem_id="sett_free_memory")
    result = gr.HTML(elem_id="settings_actions_result")

    def run(task: Any, label: str, done: str):
        def handler() -> str:
            models = backend.models
            if models is None:
                return error_html("The models are still loading; try again in a few seconds.")
            try:
                backend.jobs.run(lambda job: task(models), label=label)
            except Exception as error:  # noqa: BLE001 - shown as one line; the log has the rest
                log.warning("%s failed: %s", label, error)
                return error_html(describe_error(error))
            return info_html(done)

        return handler

    def reload_model(models: Any) -> None:
        current = models.current
        info = current.checkpoint if current is not None else models.startup_checkpoint()
        if info is None:
            raise ValueError("No checkpoint to load: put one in models/Stable-diffusion")
        models.unload()
        models.load(info)

    def free_memory(models: Any) -> None:
        from modules.devices import release_memory

        release_memory()

    unload.click(run(lambda models: models.unload(), "unload checkpoint", "Checkpoint unloaded."), None, result)
    reload.click(run(reload_model, "reload checkpoint", "Checkpoint reloaded."), None, result)
    free.click(run(free_memory, "free memory", "Memory freed."), None, result)


def build(backend: Backend, demo: gr.Blocks) -> None:
    """The three pages as tabs under the settings."""
    with gr.Tabs(elem_id="settings_extra_pages"):
        with gr.Tab("Defaults", elem_id="settings_tab_defaults"):
            build_defaults(backend, demo)
        with gr.Tab("Sysinfo", elem_id="settings_tab_sysinfo"):
            build_sysinfo()
        with gr.Tab("Actions", elem_id="settings_tab_actions"):
            build_actions(backend)
