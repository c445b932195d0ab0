"""The Settings tab, generated from the option registry: a section sidebar, search, Apply and Reload UI."""

from __future__ import annotations

import logging

import gradio as gr

from modules.settings.registry import FrozenSettingsError
from modules.ui.settings_widgets import option_component, refreshed

log = logging.getLogger(__name__)

ALL_PAGES = "Show all pages"


def build(backend, demo: gr.Blocks) -> None:
    settings = backend.settings
    registry = settings.registry
    frozen = settings.frozen
    options = list(registry)
    sections = registry.sections()
    ordered = _ordered_options(options, sections)

    with gr.Row(elem_id="settings_top"):
        apply_button = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", interactive=not frozen)
        reload_button = gr.Button("Reload UI", elem_id="settings_reload_ui")
    status = gr.Markdown(
        "Settings are read-only (--freeze-settings)." if frozen else "", elem_id="settings_result")
    with gr.Row(elem_id="settings_body"):
        with gr.Column(scale=1, min_width=180, elem_id="settings_sidebar"):
            search = gr.Textbox(label="Search", placeholder="Search...", elem_id="settings_search", show_label=False)
            section_picker = gr.Radio(
                choices=[(section.label, section.id) for section in sections] + [(ALL_PAGES, ALL_PAGES)],
                value=sections[0].id if sections else ALL_PAGES, label="Sections", show_label=False,
                elem_id="settings_sections",
            )
        with gr.Column(scale=5):
            section_columns = {}
            components = []
            for section in sections:
                with gr.Column(visible=section is sections[0], elem_id=f"settings_section_{section.id}") as column:
                    gr.Markdown(f"### {section.label}")
                    for option in ordered:
                        if option.section.id == section.id:
                            components.append(option_component(option, settings.get(option.key), not frozen))
                section_columns[section.id] = column

    def show_section(section_id, query):
        query = (query or "").strip().lower()
        section_updates = [gr.update(visible=bool(query) or section_id in (ALL_PAGES, sid)) for sid in section_columns]
        option_updates = [gr.update(visible=not query or query in option.label.lower() or query in option.key.lower())
                          for option in ordered]
        return section_updates + option_updates

    visibility_outputs = list(section_columns.values()) + components
    section_picker.change(lambda sid, q: show_section(sid, q), [section_picker, search], visibility_outputs,
                          show_progress="hidden")
    search.input(lambda sid, q: show_section(sid, q), [section_picker, search], visibility_outputs,
                 show_progress="hidden")

    def apply(*values):
        try:
            changed = settings.update({option.key: value for option, value in zip(ordered, values)})
        except FrozenSettingsError as error:
            return str(error)
        except ValueError as error:
            return f"Not applied: {error}"
        if not changed:
            return "No settings changed."
        needs_reload = [key for key in changed if registry[key].needs_reload_ui] if changed else []
        text = f"{len(changed)} setting(s) changed: {', '.join(changed)}."
        if needs_reload:
            text += " Press Reload UI for them to take effect."
        return text

    apply_button.click(apply, components, status)
    reload_button.click(None, js="() => { window.location.reload(); }")

    def current_values():
        return [refreshed(option, settings.get(option.key)) for option in ordered]

    demo.load(current_values, None, components, show_progress="hidden")


def _ordered_options(options, sections):
    """Options in the order their components were created (grouped by section)."""
    return [option for section in sections for option in options if option.section.id == section.id]
