"""Extensions → Available (A1111's index, with a clear message when offline) and Backup/Restore (config states)."""

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


def index_table(entries: list[dict[str, Any]], installed: set[str]) -> str:
    """The index as a table: name (linked), description, and whether it is installed."""
    rows = []
    for entry in entries:
        url = str(entry.get("url", ""))
        name = str(entry.get("name") or url.rstrip("/").rsplit("/", 1)[-1])
        done = "installed" if url.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1] in installed else ""
        rows.append(
            f'<tr><td><a href="{html.escape(url)}" target="_blank">{html.escape(name)}</a></td>'
            f"<td>{html.escape(str(entry.get('description', '')))}</td><td>{done}</td></tr>"
        )
    return '<table id="available_extensions"><tbody>' + "".join(rows) + "</tbody></table>"


def build_available(manager: Any) -> None:
    from modules.extensions.index import DEFAULT_INDEX_URL, load_index

    with gr.Row():
        load = gr.Button("Load from:", variant="primary", elem_id="extensions_available_load", scale=0)
        url = gr.Textbox(value=DEFAULT_INDEX_URL, show_label=False, elem_id="extensions_index_url", scale=5)
    result = gr.HTML(elem_id="extensions_available_result")

    def show(index_url: str) -> str:
        try:
            entries = load_index((index_url or "").strip())
        except ValueError as error:
            return error_html(str(error))
        installed = {ext.name for ext in manager.extensions}
        return index_table(entries, installed)

    load.click(show, url, result)


def build_backup(backend: Backend, manager: Any, allowed: bool) -> None:
    from modules.extensions import actions
    from modules.extensions.config_states import list_states, restore_plan, save_state

    data_dir = backend.paths.data
    with gr.Row():
        states = gr.Dropdown(
            label="Saved Configs", choices=list(list_states(data_dir)), elem_id="extension_backup_saved_configs"
        )
        restore = gr.Button("Restore Selected Config", interactive=allowed, elem_id="extension_backup_restore")
    with gr.Row():
        name = gr.Textbox(label="Config Name", elem_id="extension_backup_name", lines=1)
        save = gr.Button("Save Current Config", elem_id="extension_backup_save")
    message = gr.HTML(elem_id="extension_backup_message")

    def do_save(config_name: str):
        try:
            path = save_state(manager, data_dir, config_name)
        except OSError as error:
            return gr.update(), error_html(f"Could not save the config state: {describe_error(error)}")
        choices = list(list_states(data_dir))
        label = next((label for label, saved in list_states(data_dir).items() if saved == path), None)
        return gr.update(choices=choices, value=label), info_html(f"Saved {path.name}")

    def do_restore(label: str):
        path = list_states(data_dir).get(label or "")
        if path is None:
            return error_html("Choose a saved config first.")
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            enabled, notes = restore_plan(state, manager)
            text = actions.apply_and_restart(manager, enabled)
        except (OSError, ValueError, PermissionError) as error:
            return error_html(describe_error(error))
        if notes:
            text += " Not restored: " + "; ".join(notes) + "."
        return info_html(text)

    save.click(do_save, name, [states, message])
    restore.click(do_restore, states, message)
