"""Infotext into widgets: the ↙ paste button, the send-to buttons and the "Override settings" list.

A1111 keeps ``paste_fields`` per tab (``infotext_utils``); here each tab declares its ``PasteField``s on its
``SendTarget`` and this module turns a parsed infotext into one update per field. Keys an infotext does not
mention leave their field as it was.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.processing.infotext import InfotextTooLongError, parse_infotext
from modules.ui.context import PasteField, SendTarget, UiContext

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

# Options an infotext must never switch through "Override settings" (they are switched in the top bar).
NOT_OVERRIDABLE = frozenset({"sd_model_checkpoint", "sd_vae"})


def parse(backend: Backend, text: str) -> dict[str, Any]:
    """Parse ``text`` as A1111 does when pasting: styles recognised per the ``infotext_styles`` setting."""
    database = backend.styles
    database.reload()
    try:
        params = parse_infotext(
            text,
            styles=database,
            infotext_styles=backend.settings.get("infotext_styles") or "Apply if any",
        )
    except InfotextTooLongError as error:
        raise gr.Error(str(error)) from error
    extensions = backend.extensions
    if extensions is not None:  # A1111's on_infotext_pasted(infotext, params): callbacks may edit params
        extensions.fire("infotext_pasted", text, params)
    return params


def _is_update(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def field_updates(
    backend: Backend, fields: list[PasteField], params: dict[str, Any], sending: bool = False
) -> list[Any]:
    """One update per field; ``sending`` honours the send_seed / send_size settings (A1111's send-to rules)."""
    settings = backend.settings
    updates = []
    for field in fields:
        if sending and (
            (field.kind == "seed" and not settings.get("send_seed"))
            or (field.kind == "size" and not settings.get("send_size"))
        ):
            updates.append(gr.update())
            continue
        source = field.source
        try:
            value = params.get(source) if isinstance(source, str) else source(params)
        except (TypeError, ValueError, KeyError) as error:
            log.debug("Infotext field for %s not applied: %s", getattr(field.component, "elem_id", "?"), error)
            value = None
        if value is None:
            updates.append(gr.update())
        elif _is_update(value):
            updates.append(value)
        else:
            updates.append(gr.update(value=value))
    return updates


def override_entries(backend: Backend, params: dict[str, Any]) -> list[str]:
    """``"Clip skip: 2"``-style entries for settings the infotext names with a value other than the current one."""
    settings = backend.settings
    entries = []
    for option in settings.registry:
        if not option.infotext or option.key in NOT_OVERRIDABLE or option.infotext not in params:
            continue
        try:
            value = option.coerce(params[option.infotext])
        except (TypeError, ValueError):
            continue
        if value != settings.get(option.key):
            entries.append(f"{option.infotext}: {params[option.infotext]}")
    return entries


def overrides_from_entries(backend: Backend, entries: list[str] | None) -> dict[str, Any]:
    """The ``override_settings`` dict for the chosen "Override settings" entries."""
    by_label = {option.infotext: option for option in backend.settings.registry if option.infotext}
    overrides: dict[str, Any] = {}
    for entry in entries or []:
        label, _, raw = str(entry).partition(": ")
        option = by_label.get(label)
        if option is not None and option.key not in NOT_OVERRIDABLE:
            overrides[option.key] = option.coerce(raw)
    return overrides


def override_field(backend: Backend, component: Any) -> PasteField:
    def source(params: dict[str, Any]):
        entries = override_entries(backend, params)
        return gr.update(value=entries, choices=entries, visible=bool(entries))

    return PasteField(component, source)


def _target_outputs(ctx: UiContext, target: SendTarget) -> list[Any]:
    outputs: list[Any] = [ctx.tabs]
    if target.mode_tabs is not None:
        outputs.append(target.mode_tabs)
    if target.mode_state is not None:
        outputs.append(target.mode_state)
    if target.image is not None:
        outputs.append(target.image)
    return outputs + [field.component for field in target.fields]


def _target_updates(ctx: UiContext, target: SendTarget, image: Any, infotext: str, sending: bool) -> list[Any]:
    updates: list[Any] = [gr.update(selected=target.tab_id)]
    if target.mode_tabs is not None:
        updates.append(gr.update(selected=target.mode_id))
    if target.mode_state is not None:
        updates.append(target.mode_value)
    if target.image is not None:
        updates.append(gr.update(value=image) if image is not None else gr.update())
    if target.fields:
        params = parse(ctx.backend, infotext) if infotext else {}
        updates += (
            field_updates(ctx.backend, target.fields, params, sending=sending)
            if params
            else [gr.update() for _ in target.fields]
        )
    return updates


def wire_send_buttons(ctx: UiContext) -> None:
    """Connect every registered send-to button to its target (call once all tabs are built)."""
    for request in ctx.send_requests:
        target = ctx.targets.get(request.target)
        if target is None:
            log.debug("No send target %r; button left unwired", request.target)
            continue

        def send(*values, request=request, target=target):
            image, infotext = request.get(*values)
            return _target_updates(ctx, target, image, infotext or "", sending=True)

        request.button.click(
            send, request.inputs, _target_outputs(ctx, target), show_progress="hidden", concurrency_limit=None
        )


def wire_paste_button(ctx: UiContext, button: Any, prompt: Any, target: SendTarget) -> None:
    """↙: read the infotext in the prompt box (or the last generation's when empty) into ``target``'s fields."""
    components = [field.component for field in target.fields]

    def paste(prompt_text: str):
        text = (prompt_text or "").strip() or ctx.last_infotext
        if not text:
            return [gr.update() for _ in components]
        return field_updates(ctx.backend, target.fields, parse(ctx.backend, text))

    button.click(paste, prompt, components, show_progress="hidden", concurrency_limit=None)
