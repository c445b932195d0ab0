"""The cards of the Extra Networks panel: which files each page lists, and their HTML.

A card is built from the model manager's lists (checkpoints, embeddings, LoRAs) plus what lies beside the
file (preview picture, ``name.json``). Filtering, sorting and the HTML are pure functions of the cards, so
they are tested without a browser; the page's script (``static/extra_networks.js``) only reacts to clicks.
"""

from __future__ import annotations

import dataclasses
import html
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.models.network_meta import find_preview, folder_of, hypernet_prompt, lora_prompt, read_user_metadata

if TYPE_CHECKING:
    from modules.app import Backend

PAGES = {
    "checkpoints": "Checkpoints",
    "textual_inversion": "Textual Inversion",
    "hypernetworks": "Hypernetworks",
    "lora": "Lora",
}
OPTIONAL_PAGES = ("hypernetworks",)  # shown only while their folder holds files, as in A1111
SORT_CHOICES = ["Path", "Name", "Date Modified"]
ALL_FOLDERS = "All"
THUMB_ROUTE = "/sd_extra_networks/thumb"


@dataclasses.dataclass(frozen=True)
class Card:
    """One file on a page: ``prompt`` is what a click inserts (for checkpoints: the title to switch to)."""

    page: str
    name: str
    path: Path
    folder: str
    prompt: str
    description: str
    mtime: float
    preview: Path | None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _root_of(path: Path, roots: Iterable[Path]) -> Path:
    for root in roots:
        if path.is_relative_to(root):
            return root
    return path.parent


def _card(page: str, name: str, path: Path, roots: Iterable[Path], prompt: str, metadata: dict) -> Card:
    return Card(
        page=page,
        name=name,
        path=path,
        folder=folder_of(path, _root_of(path, roots)),
        prompt=prompt,
        description=str(metadata.get("description") or ""),
        mtime=_mtime(path),
        preview=find_preview(path),
    )


def default_multiplier(settings: Any) -> float:
    """A1111's ``extra_networks_default_multiplier`` (1 unless the user set another)."""
    try:
        return float(settings.get("extra_networks_default_multiplier", 1.0))
    except (TypeError, ValueError):
        return 1.0


def collect_cards(backend: Backend, page: str) -> list[Card]:
    """The cards of ``page`` from the model manager's current lists ([] before the models exist)."""
    models = backend.models
    if models is None:
        return []
    paths = backend.paths
    cards = []
    if page == "checkpoints":
        for info in models.checkpoints():
            metadata = read_user_metadata(info.path)
            cards.append(_card(page, info.model_name, info.path, paths.checkpoints, info.title, metadata))
    elif page == "textual_inversion":
        for embedding in models.embeddings():
            metadata = read_user_metadata(embedding.path)
            cards.append(_card(page, embedding.name, embedding.path, [paths.embeddings], embedding.name, metadata))
    elif page == "lora":
        multiplier = default_multiplier(backend.settings)
        for info in models.loras():
            metadata = read_user_metadata(info.path)
            prompt = lora_prompt(info.alias, metadata, multiplier)
            cards.append(_card(page, info.name, info.path, [paths.lora], prompt, metadata))
    elif page == "hypernetworks":
        multiplier = default_multiplier(backend.settings)
        for info in models.networks.hypernetworks():
            metadata = read_user_metadata(info.path)
            prompt = hypernet_prompt(info.name, metadata, multiplier)
            cards.append(_card(page, info.name, info.path, [paths.hypernetworks], prompt, metadata))
    return cards


def visible_cards(cards: list[Card], search: str = "", sort: str = "Path", folder: str = ALL_FOLDERS) -> list[Card]:
    """The cards matching the search text (name, path, description) and folder, in the chosen order."""
    needle = (search or "").strip().lower()
    chosen = [
        card
        for card in cards
        if (not needle or needle in f"{card.name} {card.path.as_posix()} {card.description}".lower())
        and (folder in (None, "", ALL_FOLDERS) or card.folder == folder or card.folder.startswith(folder + "/"))
    ]
    keys = {
        "Name": lambda card: card.name.lower(),
        "Date Modified": lambda card: -card.mtime,
        "Path": lambda card: card.path.as_posix().lower(),
    }
    return sorted(chosen, key=keys.get(sort, keys["Path"]))


def folders(cards: Iterable[Card]) -> list[str]:
    """The folder filter's choices: All, then every sub-folder holding a card."""
    return [ALL_FOLDERS] + sorted({card.folder for card in cards if card.folder})


def preview_url(card: Card) -> str | None:
    if card.preview is None:
        return None
    query = urllib.parse.urlencode({"filename": str(card.preview), "mtime": int(_mtime(card.preview))})
    return f"{THUMB_ROUTE}?{query}"


def card_html(tab: str, card: Card) -> str:
    """One card; every text is escaped (file names and notes are user data)."""
    esc = html.escape
    url = preview_url(card)
    picture = (
        f'<img class="preview" src="{esc(url)}" alt="" loading="lazy">' if url else '<div class="no-preview"></div>'
    )
    description = f'<div class="description">{esc(card.description)}</div>' if card.description else ""
    return (
        f'<div class="card extra-network-card" data-tab="{esc(tab)}" data-page="{esc(card.page)}"'
        f' data-name="{esc(card.name)}" data-prompt="{esc(card.prompt)}" title="{esc(card.path.name)}">'
        f"{picture}"
        f'<span class="edit-button" title="Edit metadata">🛠️</span>'
        f'<div class="actions"><div class="name">{esc(card.name)}</div>{description}</div>'
        "</div>"
    )


def page_html(tab: str, page: str, cards: list[Card]) -> str:
    """All cards of a page, or A1111's hint where the folder has none."""
    if not cards:
        hint = "Nothing here. Add some content to the folder."
        return f'<div class="extra-network-cards empty" data-page="{page}">{hint}</div>'
    body = "".join(card_html(tab, card) for card in cards)
    return f'<div class="extra-network-cards" data-page="{page}">{body}</div>'
