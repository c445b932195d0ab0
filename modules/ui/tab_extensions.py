"""Extensions tab: Installed (enable, status, version, updates; Apply and restart UI) and Install from URL.

It is a thin view over the extension manager (``backend.extensions``) and
``modules.extensions.actions``. When the server is reachable from other machines and
``--enable-insecure-extension-access`` is not given, the buttons are disabled and the reason is shown; the
actions check the same rule again on the server.
"""

from __future__ import annotations

import datetime
import html
import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def installed_table(manager: Any) -> str:
    """A1111's ``#extensions`` table: name, URL, branch, version, date, status (and update state)."""
    rows = []
    for ext in manager.extensions:
        git = ext.git()
        date = datetime.datetime.fromtimestamp(git.commit_date).strftime("%Y-%m-%d") if git.commit_date else ""
        update = manager.update_status.get(ext.name, "")
        status = ext.status + (f" · update: {update}" if update else "")
        css = "failed" if ext.failed else ("disabled" if not ext.active else "enabled")
        url = f'<a href="{html.escape(git.remote)}" target="_blank">{html.escape(git.remote)}</a>' if git.remote else ""
        rows.append(
            f'<tr class="{css}"><td>{html.escape(ext.name)}{" <small>(built-in)</small>" if ext.is_builtin else ""}'
            f"</td><td>{url}</td><td>{html.escape(git.branch)}</td><td>{html.escape(git.version)}</td>"
            f'<td>{date}</td><td class="extension-status">{html.escape(status)}</td></tr>'
        )
    if not rows:
        return (
            f'<p class="hint">No extensions installed. Put an extension folder in '
            f"{html.escape(str(manager.backend.paths.extensions))} or use Install from URL.</p>"
        )
    return (
        '<table id="extensions"><thead><tr><th>Extension</th><th>URL</th><th>Branch</th><th>Version</th>'
        "<th>Date</th><th>Status</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def build_extensions_tab(backend: Backend) -> None:
    from modules.extensions import actions, installer
    from modules.extensions.options import DISABLE_ALL_CHOICES

    manager = backend.extensions
    if manager is None:
        gr.HTML('<p class="hint">The extension system is not running.</p>', elem_id="extensions_installed_html")
        return
    allowed = installer.access_allowed(backend.flags)
    if not allowed:
        gr.HTML(f'<p class="warning" id="extensions_access_warning">{html.escape(installer.ACCESS_DENIED)}</p>')

    def names() -> list[str]:
        return [ext.name for ext in manager.extensions]

    def run(action, *args):
        try:
            return action(*args)
        except (PermissionError, ValueError) as error:
            return f"<span class='error'>{html.escape(str(error))}</span>"

    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="extensions_installed_tab", elem_id="extensions_installed_tab"):
            with gr.Row():
                apply = gr.Button(
                    "Apply and restart UI", variant="primary", interactive=allowed, elem_id="extensions_apply"
                )
                check = gr.Button("Check for updates", interactive=allowed, elem_id="extensions_check")
                update = gr.Button("Update all", interactive=allowed, elem_id="extensions_update")
            enabled = gr.CheckboxGroup(
                label="Enabled extensions",
                choices=names(),
                value=[ext.name for ext in manager.extensions if ext.enabled],
                interactive=allowed,
                elem_id="extensions_enabled",
            )
            disable_all = gr.Radio(
                label="Disable all extensions",
                choices=list(DISABLE_ALL_CHOICES),
                value=str(backend.settings.get("disable_all_extensions") or "none"),
                interactive=allowed,
                elem_id="extensions_disable_all",
            )
            message = gr.HTML(elem_id="extensions_installed_message")
            table = gr.HTML(installed_table(manager), elem_id="extensions_installed_html")

            apply.click(
                lambda chosen, mode: run(actions.apply_and_restart, manager, chosen or [], mode),
                [enabled, disable_all],
                message,
            ).then(
                None,
                message,
                None,
                js="(text) => { if (String(text).includes('Restarting')) webuiReloadWhenServerIsBack(true); }",
            )

            def check_updates():
                text = run(
                    lambda: "Checked: " + ", ".join(f"{k}: {v}" for k, v in actions.check_for_updates(manager).items())
                )
                return text, installed_table(manager)

            check.click(check_updates, None, [message, table])

            def update_all():
                names_with_git = [ext.name for ext in manager.extensions if ext.git().remote]
                return run(actions.update_extensions, manager, names_with_git), installed_table(manager)

            update.click(update_all, None, [message, table])

        with gr.Tab("Install from URL", id="extensions_install_tab", elem_id="extensions_install_tab"):
            url = gr.Textbox(label="URL for extension's git repository", elem_id="extensions_install_url")
            branch = gr.Textbox(
                label="Specific branch name",
                placeholder="Leave empty for default main branch",
                elem_id="extensions_install_branch",
            )
            dirname = gr.Textbox(
                label="Local directory name", placeholder="Leave empty for auto", elem_id="extensions_install_dirname"
            )
            install = gr.Button("Install", variant="primary", interactive=allowed, elem_id="extensions_install_button")
            result = gr.HTML(elem_id="extensions_install_result")

            def do_install(link, name_of_branch, folder):
                text = run(actions.install_from_url, manager, link, name_of_branch or "", folder or "")
                return (
                    text,
                    installed_table(manager),
                    gr.update(choices=names(), value=[e.name for e in manager.extensions if e.enabled]),
                )

            install.click(do_install, [url, branch, dirname], [result, table, enabled])

        from modules.ui import extensions_more_tabs

        with gr.Tab("Available", id="extensions_available_tab", elem_id="extensions_available_tab"):
            extensions_more_tabs.build_available(manager)
        with gr.Tab("Backup/Restore", id="extensions_backup_tab", elem_id="extensions_backup_tab"):
            extensions_more_tabs.build_backup(backend, manager, allowed)
