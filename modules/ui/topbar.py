"""The top bar: the quick settings (``quicksettings_list``: checkpoint, VAE, clip skip by default) and the
model status line.

A quick setting applies as soon as it changes. Choosing a checkpoint queues the load as a job (the worker
owns the device), so the page stays responsive; the status line, kept current by static/status.js, shows the loading
progress, and a failed load puts the dropdown back on the model still in use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.settings.registry import FrozenSettingsError, LockedSettingError
from modules.ui.common import REFRESH_SYMBOL, describe_error, tool_button
from modules.ui.settings_widgets import option_choices, option_component, refreshed

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "sd_model_checkpoint"
IDLE_POLL_SECONDS = 15  # kept in step with IDLE_MS in static/status.js


def quicksettings_keys(backend: Backend) -> list[str]:
    registry = backend.settings.registry
    keys = backend.settings.get("quicksettings_list") or []
    if isinstance(keys, str):
        keys = [key.strip() for key in keys.split(",")]
    return [key for key in dict.fromkeys(keys) if key in registry]


def current_checkpoint_title(backend: Backend) -> str | None:
    models = backend.models
    current = getattr(models, "current", None) if models is not None else None
    if current is not None:
        return current.checkpoint.title
    return backend.settings.get(CHECKPOINT_KEY) or None


def build(backend: Backend, demo: gr.Blocks) -> dict[str, Any]:
    """Build the bar; returns the quick-setting components by key (the Settings tab leaves those out)."""
    settings = backend.settings
    registry = settings.registry
    components: dict[str, Any] = {}
    with gr.Row(elem_id="quicksettings", equal_height=False):
        for key in quicksettings_keys(backend):
            option = registry[key]
            interactive = not settings.frozen or key == CHECKPOINT_KEY  # switching models needs no write
            value = current_checkpoint_title(backend) if key == CHECKPOINT_KEY else settings.get(key)
            with gr.Row(elem_classes=["quicksetting"], elem_id=f"quicksetting_{key}"):
                components[key] = option_component(
                    option, value, interactive, backend=backend, min_width=160, info=None
                )
                if key in (CHECKPOINT_KEY, "sd_vae"):
                    refresh = tool_button(REFRESH_SYMBOL, f"refresh_{key}")
                    refresh.click(_refresh_models(backend, option), None, components[key], show_progress="hidden")
    status = gr.Markdown(backend.status, elem_id="model_status")
    if backend.warnings:  # e.g. a corrupt config.json that was moved aside
        gr.Markdown("\n\n".join(f"⚠️ {warning}" for warning in backend.warnings), elem_id="startup_warnings")
    seen = gr.State(None)

    for key, component in components.items():
        if key == CHECKPOINT_KEY:
            component.input(
                _switch_checkpoint(backend), component, component, show_progress="hidden", concurrency_limit=None
            )
        else:
            component.input(
                _apply_quicksetting(backend, key),
                component,
                [component, status],
                show_progress="hidden",
                concurrency_limit=None,
            )

    checkpoint = components.get(CHECKPOINT_KEY)
    outputs = [status] + ([checkpoint, seen] if checkpoint is not None else [])

    def tick(last_seen):
        if checkpoint is None:
            return backend.status
        signature = _checkpoint_signature(backend)
        if signature == last_seen:
            return backend.status, gr.update(), last_seen
        option = registry[CHECKPOINT_KEY]
        return backend.status, refreshed(option, current_checkpoint_title(backend), backend), signature

    # The status line is filled once here and then kept current by static/status.js, which asks
    # /webui/status every second only while something runs (start-up, a job, a model loading) and every
    # IDLE_POLL_SECONDS otherwise, so an idle tab costs the server next to nothing.
    demo.load(tick, [seen] if checkpoint is not None else None, outputs, show_progress="hidden", queue=False)
    for key, component in components.items():
        if key != CHECKPOINT_KEY:
            option = registry[key]
            demo.load(
                lambda option=option: refreshed(option, settings.get(option.key), backend),
                None,
                component,
                show_progress="hidden",
                queue=False,
            )
    return components


def _checkpoint_signature(backend: Backend) -> tuple:
    models = backend.models
    if models is None:
        return ()
    return (current_checkpoint_title(backend), tuple(info.title for info in models.checkpoints()))


def _refresh_models(backend: Backend, option: Any):
    def refresh():
        if backend.models is None:
            return gr.update()
        backend.models.refresh()
        value = current_checkpoint_title(backend) if option.key == CHECKPOINT_KEY else backend.settings.get(option.key)
        return gr.update(choices=option_choices(option, backend), value=value)

    return refresh


def _switch_checkpoint(backend: Backend):
    def switch(title: str):
        models = backend.models
        if models is None or not title:
            yield gr.update()
            return
        if current_checkpoint_title(backend) == title:
            yield gr.update()
            return
        if getattr(backend, "workers", None) is not None:  # --workers ray: replicas load it with the next job
            info = models.find_checkpoint(title)
            if info is not None and not backend.settings.frozen:
                backend.settings.set(CHECKPOINT_KEY, info.title)
            yield gr.update(value=current_checkpoint_title(backend))
            return
        job = backend.jobs.submit(lambda job: models.load(title), label="load checkpoint")
        version = 0
        while not job.done:
            version = job.wait_for_change(version, timeout=1.0)
        if job.error is not None:
            log.warning("Switching to %s failed: %s", title, describe_error(job.error))
            yield gr.update(value=current_checkpoint_title(backend))  # the status line says why
            return
        if not backend.settings.frozen:
            try:
                backend.settings.set(CHECKPOINT_KEY, models.current.checkpoint.title)
            except (FrozenSettingsError, ValueError) as error:
                log.debug("sd_model_checkpoint not stored: %s", error)
        yield gr.update(value=current_checkpoint_title(backend))

    return switch


def _apply_quicksetting(backend: Backend, key: str):
    def apply(value: Any):
        if key == "sd_vae" and backend.models is not None and backend.models.current is not None:
            # transactional: the VAE is loaded first and stored only when it works (set_vae stores it)
            try:
                backend.jobs.run(lambda job: backend.models.set_vae(value), label="load VAE")
            except Exception as error:  # ModelLoadError: shown, the previous VAE stays
                message = f"{key}: not changed: {describe_error(error)}"
                return refreshed(backend.settings.registry[key], backend.settings.get(key), backend), message
            return gr.update(), backend.status
        try:
            backend.settings.set(key, value)
        except (FrozenSettingsError, LockedSettingError, ValueError) as error:
            return refreshed(
                backend.settings.registry[key], backend.settings.get(key), backend
            ), f"{key}: not changed: {describe_error(error)}"
        return gr.update(), backend.status

    return apply
