"""The Settings tab, generated from the option registry: a section sidebar, search, Apply and Reload UI.

Every registered option (the app's and extensions') gets its widget from ``settings_widgets``; quick
settings live in the top bar instead (as in A1111). With ``--freeze-settings`` everything is read-only.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.settings.registry import FrozenSettingsError, LockedSettingError
from modules.ui.common import describe_error, error_html, info_html
from modules.ui.settings_widgets import option_component, refreshed

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

ALL_PAGES = "Show all pages"
CATEGORY_ORDER = ("Saving images", "Stable Diffusion", "User Interface", "System", "Postprocessing", "Training")


def _structural_values(settings) -> dict:
    """Values of the settings the page is built from (all needing a UI reload except the language)."""
    return {
        option.key: settings.get(option.key)
        for option in settings.registry
        if option.needs_reload_ui and option.key != "localization"
    }


def _lock_note(option, locked: dict[str, str]) -> dict[str, str]:
    """A locked setting says why it cannot be changed, in place of its usual help text."""
    reason = locked.get(option.key)
    return {"info": f"Read-only: {reason}"} if reason else {}


def _ordered_sections(sections):
    rank = {name: index for index, name in enumerate(CATEGORY_ORDER)}
    return sorted(sections, key=lambda section: rank.get(section.category, len(rank)))


def build(backend: Backend, demo: gr.Blocks, skip_keys: set[str] | frozenset[str] = frozenset()) -> None:
    settings = backend.settings
    registry = settings.registry
    frozen = settings.frozen
    sections = _ordered_sections(registry.sections())
    options = [option for option in registry if option.key not in skip_keys]
    ordered = [option for section in sections for option in options if option.section.id == section.id]
    sections = [section for section in sections if any(option.section.id == section.id for option in ordered)]
    first = sections[0].id if sections else ALL_PAGES

    with gr.Row(elem_id="settings_top"):
        apply_button = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", interactive=not frozen)
        reload_button = gr.Button("Reload UI", elem_id="settings_reload_ui")
    status = gr.HTML(
        info_html("Settings are read-only (--freeze-settings).") if frozen else "", elem_id="settings_result"
    )
    with gr.Row(elem_id="settings_body", equal_height=False):
        with gr.Column(scale=1, min_width=200, elem_id="settings_sidebar"):
            search = gr.Textbox(
                label="Search", placeholder="Search...", elem_id="settings_search", show_label=False, lines=1
            )
            section_picker = gr.Radio(
                choices=[(section.label, section.id) for section in sections] + [(ALL_PAGES, ALL_PAGES)],
                value=first,
                label="Sections",
                show_label=False,
                elem_id="settings_sections",
            )
        with gr.Column(scale=5, elem_id="settings_pages"):
            columns: dict[str, Any] = {}
            components = []
            for section in sections:
                with gr.Column(
                    visible=section.id == first,
                    elem_id=f"settings_section_{section.id}",
                    elem_classes=["settings-section"],
                ) as column:
                    gr.HTML(f'<h2 class="settings-section-title">{section.label}</h2>')
                    for option in ordered:
                        if option.section.id == section.id:
                            components.append(
                                option_component(
                                    option,
                                    settings.get(option.key),
                                    not frozen and option.key not in settings.locked,
                                    backend=backend,
                                    **_lock_note(option, settings.locked),
                                )
                            )
                columns[section.id] = column

    from modules.ui import settings_pages

    settings_pages.build(backend, demo)  # Defaults, Sysinfo, Actions

    def matches(option, query: str) -> bool:
        return (
            not query
            or query in option.label.lower()
            or query in option.key.lower()
            or query in (option.info or "").lower()
            or query in option.section.label.lower()  # an extension's name finds all of its settings
        )

    def show(section_id: str, query: str):
        query = (query or "").strip().lower()
        if query:
            hits = {option.section.id for option in ordered if matches(option, query)}
            section_updates = [gr.update(visible=sid in hits) for sid in columns]
        else:
            section_updates = [gr.update(visible=section_id in (ALL_PAGES, sid)) for sid in columns]
        return section_updates + [gr.update(visible=matches(option, query)) for option in ordered]

    visibility_outputs = list(columns.values()) + components
    quiet = {"show_progress": "hidden", "queue": False}
    section_picker.change(show, [section_picker, search], visibility_outputs, **quiet)
    search.change(show, [section_picker, search], visibility_outputs, trigger_mode="always_last", **quiet)

    def apply(*values):
        try:
            changed = settings.update({option.key: value for option, value in zip(ordered, values, strict=True)})
        except (FrozenSettingsError, LockedSettingError) as error:
            return error_html(f"Not applied: {error}")
        except ValueError as error:
            return error_html(f"Not applied: {describe_error(error)}")
        if not changed:
            return info_html("No settings changed.")
        labels = [registry[key].label if key in registry else key for key in changed]
        text = f"{len(changed)} setting(s) changed: {', '.join(labels)}."
        if any(key in registry and registry[key].needs_reload_ui for key in changed):
            text += " Press Reload UI for them to take effect."
        if any(key in registry and registry[key].needs_restart for key in changed):
            text += " Restart the program for them to take effect."
        return info_html(text)

    apply_button.click(apply, components, status, show_progress="hidden")
    # Settings that shape the page (quick settings, ControlNet unit count...) need it rebuilt: the server
    # restarts for those; the language alone only needs the page reloaded (the browser translates).
    built_with = _structural_values(settings)

    def reload_ui():
        if _structural_values(settings) != built_with and callable(backend.restart):
            threading.Timer(0.5, backend.restart).start()
            return info_html("Restarting the server to rebuild the page…"), True
        return gr.update(), False

    restarting = gr.State(False)
    reload_button.click(reload_ui, None, [status, restarting], show_progress="hidden").then(
        None, restarting, None, js="(restarting) => { webuiReloadWhenServerIsBack(restarting); }"
    )

    def current_values():
        return [refreshed(option, settings.get(option.key), backend) for option in ordered]

    demo.load(current_values, None, components, show_progress="hidden", queue=False)
