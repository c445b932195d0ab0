"""The Extra Networks panel under the prompts (txt2img, img2img), and the route serving card pictures.

Pages Checkpoints / Textual Inversion / Hypernetworks (only while its folder has files) / Lora list cards
(``extra_network_cards``). A click on a card is handled in the browser (``static/extra_networks.js``): it
adds ``<lora:name:w>``, ``<hypernet:name:w>`` or the embedding name to the prompt, or, for a checkpoint or
the card's 🛠️, writes a small JSON request into a hidden textbox whose ``input`` event runs ``on_action``
here (switch checkpoint / open the metadata editor). The editor writes ``name.json`` beside the file, so the
preferred weight is in the card's prompt from then on.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.models.network_meta import USER_FIELDS, parse_weight, read_user_metadata, write_user_metadata
from modules.ui import extra_network_cards as cards_mod
from modules.ui.common import describe_error, error_html, info_html, tool_button

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

REFRESH_SYMBOL = "🔄"
TRAINING_KEYS = (
    "ss_output_name",
    "ss_sd_model_name",
    "ss_base_model_version",
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_resolution",
    "ss_num_train_images",
    "ss_num_epochs",
    "ss_learning_rate",
    "ss_training_started_at",
)


@dataclasses.dataclass
class ExtraNetworksPanel:
    search: gr.Textbox
    sort: gr.Dropdown
    folder: gr.Dropdown
    refresh: gr.Button
    pages: dict[str, gr.HTML]
    action: gr.Textbox
    editor: gr.Group
    editor_title: gr.HTML
    fields: dict[str, Any]
    save: gr.Button
    cancel: gr.Button
    message: gr.HTML
    editing: gr.State
    optional_tabs: dict[str, gr.Tab]  # pages shown only when their folder has files (Hypernetworks)


def training_metadata_html(metadata: dict[str, str]) -> str:
    """The LoRA file's training metadata (safetensors header) as a small table; "" when there is none."""
    rows = [(key, metadata[key]) for key in TRAINING_KEYS if metadata.get(key)]
    tags = metadata.get("ss_tag_frequency")
    if tags:
        try:
            counts: dict[str, int] = {}
            for folder_tags in json.loads(tags).values():
                for tag, count in folder_tags.items():
                    counts[tag] = counts.get(tag, 0) + int(count)
            top = sorted(counts.items(), key=lambda item: -item[1])[:20]
            rows.append(("ss_tag_frequency", ", ".join(f"{tag} ({count})" for tag, count in top)))
        except (ValueError, AttributeError, TypeError):
            log.debug("Unreadable ss_tag_frequency")
    if not rows:
        return ""
    body = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>" for key, value in rows)
    return f'<table class="extra-network-training">{body}</table>'


def _find_card(backend: Backend, page: str, name: str) -> cards_mod.Card | None:
    for card in cards_mod.collect_cards(backend, page):
        if card.name == name:
            return card
    return None


def _lora_training(backend: Backend, name: str) -> dict[str, str]:
    info = backend.models.find_lora(name) if backend.models is not None else None
    return dict(info.metadata) if info is not None else {}


def build(backend: Backend, tab: str) -> ExtraNetworksPanel:
    """The panel of ``tab``; the card pages are filled on page load and on refresh."""
    with gr.Accordion("Extra Networks", open=False, elem_id=f"{tab}_extra_networks"):
        with gr.Row(elem_id=f"{tab}_extra_networks_controls", equal_height=True):
            search = gr.Textbox(label="Search", elem_id=f"{tab}_extra_search", scale=3, lines=1, max_lines=1)
            sort = gr.Dropdown(
                label="Sort by", choices=cards_mod.SORT_CHOICES, value="Path", elem_id=f"{tab}_extra_sort", scale=1
            )
            folder = gr.Dropdown(
                label="Folder",
                choices=[cards_mod.ALL_FOLDERS],
                value=cards_mod.ALL_FOLDERS,
                elem_id=f"{tab}_extra_folder",
                scale=1,
            )
            refresh = tool_button(REFRESH_SYMBOL, f"{tab}_extra_refresh")
        pages, optional_tabs = {}, {}
        with gr.Tabs(elem_id=f"{tab}_extra_network_tabs"):
            for page, title in cards_mod.PAGES.items():
                shown = page not in cards_mod.OPTIONAL_PAGES or _has_files(backend, page)
                with gr.Tab(title, id=f"{tab}_{page}", elem_id=f"{tab}_{page}_tab", visible=shown) as page_tab:
                    pages[page] = gr.HTML(elem_id=f"{tab}_{page}_cards", padding=False)
                if page in cards_mod.OPTIONAL_PAGES:
                    optional_tabs[page] = page_tab
        action = gr.Textbox(elem_id=f"{tab}_extra_networks_action", elem_classes=["extra-networks-hidden"], lines=1)
        with gr.Group(visible=False, elem_id=f"{tab}_extra_editor") as editor:
            editor_title = gr.HTML(elem_id=f"{tab}_extra_editor_title", padding=False)
            fields = {
                "description": gr.Textbox(label="Description", elem_id=f"{tab}_extra_description", lines=2),
                "activation text": gr.Textbox(label="Activation text", elem_id=f"{tab}_extra_activation", lines=2),
                "preferred weight": gr.Slider(
                    label="Preferred weight", minimum=0, maximum=2, step=0.01, value=0, elem_id=f"{tab}_extra_weight"
                ),
                "notes": gr.Textbox(label="Notes", elem_id=f"{tab}_extra_notes", lines=3),
            }
            with gr.Row():
                save = gr.Button("Save", elem_id=f"{tab}_extra_save", variant="primary")
                cancel = gr.Button("Cancel", elem_id=f"{tab}_extra_cancel")
        message = gr.HTML(elem_id=f"{tab}_extra_message", padding=False)
    panel = ExtraNetworksPanel(
        search,
        sort,
        folder,
        refresh,
        pages,
        action,
        editor,
        editor_title,
        fields,
        save,
        cancel,
        message,
        gr.State(),
        optional_tabs,
    )
    _wire(backend, tab, panel)
    return panel


def _has_files(backend: Backend, page: str) -> bool:
    """Whether an optional page's folder holds a file (read from disk: the models may still be loading)."""
    from modules.models.networks import scan_hypernetworks

    if page == "hypernetworks":
        return bool(scan_hypernetworks(getattr(backend.paths, "hypernetworks", None)))
    return True


def render_pages(backend: Backend, tab: str, search: str, sort: str, folder: str) -> list[Any]:
    """HTML of every page, the folder filter's choices and the optional tabs' visibility, for the current files."""
    every = {page: cards_mod.collect_cards(backend, page) for page in cards_mod.PAGES}
    all_cards = [card for page_cards in every.values() for card in page_cards]
    choices = cards_mod.folders(all_cards)
    chosen = folder if folder in choices else cards_mod.ALL_FOLDERS
    htmls = [
        cards_mod.page_html(tab, page, cards_mod.visible_cards(page_cards, search, sort, chosen))
        for page, page_cards in every.items()
    ]
    shown = [gr.update(visible=bool(every[page]) or _has_files(backend, page)) for page in cards_mod.OPTIONAL_PAGES]
    return [*htmls, gr.update(choices=choices, value=chosen), *shown]


def _wire(backend: Backend, tab: str, panel: ExtraNetworksPanel) -> None:
    listing = [panel.search, panel.sort, panel.folder]
    rendered = [*panel.pages.values(), panel.folder, *panel.optional_tabs.values()]
    quiet = {"show_progress": "hidden", "queue": False}

    def show(search: str, sort: str, folder: str):
        return render_pages(backend, tab, search, sort, folder)

    def refresh(search: str, sort: str, folder: str):
        if backend.models is not None:
            backend.models.refresh()
            backend.models.networks.refresh()
        return render_pages(backend, tab, search, sort, folder)

    panel.search.change(show, listing, rendered, trigger_mode="always_last", **quiet)
    panel.sort.change(show, listing, rendered, **quiet)
    panel.folder.input(show, listing, rendered, **quiet)
    panel.refresh.click(refresh, listing, rendered, show_progress="hidden")

    editor_outputs = [panel.editor, panel.editor_title, *panel.fields.values(), panel.editing, panel.message]

    def on_action(request_text: str):
        nothing = [gr.update()] * (len(editor_outputs) - 1)
        try:
            request = json.loads(request_text or "{}")
            page, name, action = str(request["page"]), str(request["name"]), str(request["action"])
        except (ValueError, KeyError, TypeError):
            yield [*nothing, gr.update()]
            return
        card = _find_card(backend, page, name)
        if card is None:
            yield [*nothing, error_html(f"{name!r} is no longer in the {cards_mod.PAGES.get(page, page)} folder")]
            return
        if action == "checkpoint":
            yield [*nothing, info_html(f"Loading {card.prompt}…")]
            yield [*nothing, _switch_checkpoint(backend, card.prompt)]
            return
        metadata = read_user_metadata(card.path)
        training = training_metadata_html(_lora_training(backend, name)) if page == "lora" else ""
        title = f"<h3>{html.escape(card.name)}</h3><p>{html.escape(str(card.path.name))}</p>{training}"
        values = [str(metadata.get(key) or "") for key in ("description", "activation text")]
        weight = parse_weight(metadata.get("preferred weight")) or 0
        yield [
            gr.update(visible=True),
            title,
            *values,
            weight,
            str(metadata.get("notes") or ""),
            {"page": page, "name": name},
            "",
        ]

    panel.action.change(on_action, panel.action, editor_outputs, show_progress="hidden", concurrency_limit=None)

    def save(editing: dict | None, description: str, activation: str, weight: float, notes: str, *listed: str):
        card = _find_card(backend, editing["page"], editing["name"]) if editing else None
        if card is None:
            return [
                gr.update(),
                error_html("Nothing to save: open a card's metadata editor first"),
                *[gr.update()] * len(rendered),
            ]
        values = dict(zip(USER_FIELDS, (description or "", activation or "", weight or 0, notes or ""), strict=True))
        try:
            path = write_user_metadata(card.path, values)
        except OSError as error:
            return [
                gr.update(),
                error_html(f"Could not save {card.name}: {describe_error(error)}"),
                *[gr.update()] * len(rendered),
            ]
        log.info("Saved card metadata %s", path)
        return [gr.update(visible=False), info_html(f"Saved {path.name}"), *render_pages(backend, tab, *listed)]

    panel.save.click(
        save,
        [panel.editing, *panel.fields.values(), *listing],
        [panel.editor, panel.message, *rendered],
        show_progress="hidden",
    )
    panel.cancel.click(lambda: gr.update(visible=False), None, panel.editor, **quiet)


def wire_page_load(backend: Backend, tab: str, demo: gr.Blocks, panel: ExtraNetworksPanel) -> None:
    def load(search: str, sort: str, folder: str):
        return render_pages(backend, tab, search, sort, folder)

    outputs = [*panel.pages.values(), panel.folder, *panel.optional_tabs.values()]
    demo.load(load, [panel.search, panel.sort, panel.folder], outputs, queue=False)


def _switch_checkpoint(backend: Backend, title: str) -> str:
    """Load checkpoint ``title`` through the queue (the top bar's dropdown follows); a line for the panel."""
    from modules.settings.registry import FrozenSettingsError
    from modules.ui.topbar import CHECKPOINT_KEY

    models = backend.models
    if models is None:
        return error_html("The models are still loading; try again in a few seconds.")
    current = models.current
    if current is not None and current.checkpoint.title == title:
        return info_html(f"{title} is loaded.")
    job = backend.jobs.submit(lambda job: models.load(title), label="load checkpoint")
    version = 0
    while not job.done:
        version = job.wait_for_change(version, timeout=1.0)
    if job.error is not None:
        return error_html(describe_error(job.error))
    if not backend.settings.frozen:
        try:
            backend.settings.set(CHECKPOINT_KEY, models.current.checkpoint.title)
        except (FrozenSettingsError, ValueError) as error:
            log.debug("sd_model_checkpoint not stored: %s", error)
    return info_html(f"{title} is loaded.")


def mount_routes(app: Any, backend: Backend) -> None:
    """``GET /sd_extra_networks/thumb?filename=``: a card picture, only from inside the model folders."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse

    from modules.models.network_meta import servable_preview

    @app.get(cards_mod.THUMB_ROUTE, include_in_schema=False)
    def thumb(filename: str = ""):
        paths = backend.paths
        roots = [*paths.checkpoints, paths.lora, paths.embeddings, paths.hypernetworks]
        target = servable_preview(filename, roots)
        if target is None:
            raise HTTPException(status_code=404, detail="No such preview in the model folders")
        return FileResponse(target, headers={"Cache-Control": "no-cache"})
