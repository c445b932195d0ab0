"""The prompt area of txt2img and img2img: prompts with token counters, styles, Generate / Interrupt / Skip.

Labels, symbols and element ids follow A1111 (``txt2img_prompt``, ``txt2img_generate`` ...) so localization
files, user CSS and extension scripts written for A1111 find the same things here.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import gradio as gr

from modules.ui.common import (
    APPLY_STYLE_SYMBOL,
    CLEAR_SYMBOL,
    PASTE_SYMBOL,
    SAVE_STYLE_SYMBOL,
    describe_error,
    error_html,
    info_html,
    tool_button,
)

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIMIT = 75
KEYS_HINT = "(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"


@dataclasses.dataclass
class Toprow:
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    token_counter: gr.HTML
    negative_token_counter: gr.HTML
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button
    clear: gr.Button
    styles: gr.Dropdown
    style_apply: gr.Button
    style_create: gr.Button
    style_editor: gr.Group
    style_name: gr.Textbox
    style_save: gr.Button
    style_message: gr.HTML
    interrogate: gr.Button | None = None  # img2img only (A1111's "Interrogate CLIP" / "Interrogate DeepBooru")
    deepbooru: gr.Button | None = None


def style_database(backend: Backend):
    """The shared styles of ``styles.csv`` (the API's too), re-read so edits made by hand show up."""
    database = backend.styles
    database.reload()
    return database


def token_count_text(backend: Backend, text: str, is_positive: bool = True) -> str:
    """``used/limit`` as A1111's counter shows it; ``–/75`` while no model is loaded to count with."""
    extensions = backend.extensions
    if extensions is not None and text:  # A1111's on_before_token_counter: extensions may rewrite what is counted
        text = extensions.before_token_counter(text, is_positive)
    models = backend.models
    current = getattr(models, "current", None) if models is not None else None
    if current is None:
        return f'<span class="token-counter" title="load a checkpoint to count tokens">–/{DEFAULT_TOKEN_LIMIT}</span>'
    from modules.processing.prompt_parser import extract_extra_networks

    try:
        used, limit = current.conditioner.count_tokens(extract_extra_networks(text or "")[0])  # tags: no tokens
    except Exception as error:  # noqa: BLE001 - the counter is a hint; it must never break typing
        log.debug("Token counting failed: %s", error)
        return f'<span class="token-counter">?/{DEFAULT_TOKEN_LIMIT}</span>'
    over = " over-limit" if used > limit else ""
    return f'<span class="token-counter{over}">{used}/{limit}</span>'


def build(backend: Backend, tab: str) -> Toprow:
    """Create the prompt row for ``tab`` ("txt2img" or "img2img"); events are wired here except Generate."""
    with gr.Row(elem_id=f"{tab}_toprow", elem_classes=["toprow"]):
        with gr.Column(scale=6, elem_id=f"{tab}_prompt_container"):
            prompt = gr.Textbox(
                label="Prompt",
                elem_id=f"{tab}_prompt",
                show_label=False,
                lines=3,
                max_lines=20,
                placeholder=f"Prompt\n{KEYS_HINT}",
            )
            token_counter = gr.HTML(
                token_count_text(backend, ""),
                elem_id=f"{tab}_token_counter",
                elem_classes=["token-counter-box"],
                padding=False,
            )
            negative = gr.Textbox(
                label="Negative prompt",
                elem_id=f"{tab}_neg_prompt",
                show_label=False,
                lines=2,
                max_lines=20,
                placeholder=f"Negative prompt\n{KEYS_HINT}",
            )
            negative_counter = gr.HTML(
                token_count_text(backend, ""),
                elem_id=f"{tab}_negative_token_counter",
                elem_classes=["token-counter-box"],
                padding=False,
            )
        with gr.Column(scale=1, min_width=240, elem_id=f"{tab}_actions_column"):
            with gr.Row(elem_id=f"{tab}_generate_box", elem_classes=["generate-box"]):
                interrupt = gr.Button(
                    "Interrupt", elem_id=f"{tab}_interrupt", visible=False, variant="stop", min_width=60
                )
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", visible=False, min_width=60)
                generate = gr.Button("Generate", elem_id=f"{tab}_generate", variant="primary", min_width=60)
            interrogate = deepbooru = None
            if tab == "img2img":
                with gr.Row(elem_id="interrogate_col"):
                    interrogate = gr.Button("Interrogate\nCLIP", elem_id="interrogate", size="sm", min_width=60)
                    deepbooru = gr.Button("Interrogate\nDeepBooru", elem_id="deepbooru", size="sm", min_width=60)
            with gr.Row(elem_id=f"{tab}_tools", elem_classes=["tool-row"]):
                paste = tool_button(PASTE_SYMBOL, f"{tab}_paste")
                clear = tool_button(CLEAR_SYMBOL, f"{tab}_clear_prompt")
                style_apply = tool_button(APPLY_STYLE_SYMBOL, f"{tab}_style_apply")
                style_create = tool_button(SAVE_STYLE_SYMBOL, f"{tab}_style_create")
            styles = gr.Dropdown(
                label="Styles",
                elem_id=f"{tab}_styles",
                choices=_style_names(backend),
                value=[],
                multiselect=True,
                allow_custom_value=False,
            )
            with gr.Group(visible=False, elem_id=f"{tab}_style_editor") as style_editor:
                style_name = gr.Textbox(label="Style name", elem_id=f"{tab}_style_name", lines=1)
                style_save = gr.Button("Save style", elem_id=f"{tab}_style_save", size="sm")
            style_message = gr.HTML(elem_id=f"{tab}_style_message", padding=False)

    row = Toprow(
        prompt,
        negative,
        token_counter,
        negative_counter,
        generate,
        interrupt,
        skip,
        paste,
        clear,
        styles,
        style_apply,
        style_create,
        style_editor,
        style_name,
        style_save,
        style_message,
        interrogate,
        deepbooru,
    )
    _wire(backend, row)
    return row


def refresh_styles(backend: Backend):
    """An update giving the styles dropdown the current list (page load, after edits)."""
    return gr.update(choices=_style_names(backend))


def wire_page_load(backend: Backend, demo: gr.Blocks, row: Toprow) -> None:
    """On page load: the current styles list and token counts (the model may have loaded since the build)."""

    def refresh(prompt: str, negative: str):
        return refresh_styles(backend), token_count_text(backend, prompt), token_count_text(backend, negative, False)

    demo.load(
        refresh,
        [row.prompt, row.negative_prompt],
        [row.styles, row.token_counter, row.negative_token_counter],
        show_progress="hidden",
        queue=False,
    )


def _style_names(backend: Backend) -> list[str]:
    try:
        return style_database(backend).names()
    except (OSError, ValueError) as error:
        log.warning("Styles could not be read: %s", error)
        return []


def _wire(backend: Backend, row: Toprow) -> None:
    quiet = {"show_progress": "hidden", "concurrency_limit": None, "trigger_mode": "always_last", "queue": False}
    row.prompt.change(lambda text: token_count_text(backend, text), row.prompt, row.token_counter, **quiet)
    row.negative_prompt.change(
        lambda text: token_count_text(backend, text, False), row.negative_prompt, row.negative_token_counter, **quiet
    )
    row.clear.click(
        lambda: ("", ""),
        None,
        [row.prompt, row.negative_prompt],
        queue=False,
        js="() => confirm('Delete prompt?') ? ['', ''] : [null, null]",
    )

    def apply_styles(prompt: str, negative: str, chosen: list[str]):
        """Write the chosen styles into the prompts and clear the selection (A1111's 📋)."""
        database = style_database(backend)
        return (
            database.apply_styles_to_prompt(prompt, chosen or []),
            database.apply_negative_styles_to_prompt(negative, chosen or []),
            gr.update(value=[], choices=database.names()),
            "",
        )

    row.style_apply.click(
        apply_styles,
        [row.prompt, row.negative_prompt, row.styles],
        [row.prompt, row.negative_prompt, row.styles, row.style_message],
        show_progress="hidden",
    )
    row.style_create.click(lambda: gr.update(visible=True), None, row.style_editor, queue=False)

    def save_style(name: str, prompt: str, negative: str, chosen: list[str]):
        try:
            database = style_database(backend)
            style = database.save_style(name or "", prompt or "", negative or "")
        except (ValueError, OSError) as error:
            return gr.update(), gr.update(), error_html(describe_error(error))
        names = database.names()
        return (
            gr.update(choices=names, value=[n for n in chosen or [] if n in names]),
            gr.update(visible=False),
            info_html(f"Style {style.name!r} saved."),
        )

    row.style_save.click(
        save_style,
        [row.style_name, row.prompt, row.negative_prompt, row.styles],
        [row.styles, row.style_editor, row.style_message],
        show_progress="hidden",
    )
