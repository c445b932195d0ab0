"""Every string the interface shows, gathered from the Gradio page description (server side, no browser).

The page is described by the Blocks config the browser receives (``demo.get_config_file()``); a component's
``label``, ``info``, ``placeholder``, choice labels, button text and the text of its Markdown / HTML are what
the user reads. Components with an ignored element id (model and file names, user content: the ids the page
translator skips) or the class ``notranslate`` keep only their labels, info texts and placeholders, with
everything inside them. Text Gradio's own
frontend adds (upload hints, button tooltips) is listed in ``frontend_strings``; messages the server
composes at run time are found in the source by ``messages``. The result feeds the translator's template
(``tools/localization_template.py``) and the coverage test.
"""

from __future__ import annotations

import dataclasses
import html.parser
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.localization.lookup import is_translatable, without_emoji

log = logging.getLogger(__name__)

TRANSLATOR_JS = Path(__file__).resolve().parents[2] / "modules" / "ui" / "static" / "localization.js"
CHOICE_COMPONENTS = {"dropdown", "radio", "checkboxgroup"}
TEXT_VALUE_COMPONENTS = {"button", "uploadbutton", "downloadbutton", "duplicatebutton", "loginbutton"}
MARKUP_COMPONENTS = {"html": "html", "markdown": "markdown"}
SKIPPED_TAGS = {"script", "style", "textarea", "code", "pre", "kbd", "samp", "noscript"}
TRANSLATED_ATTRIBUTES = ("title", "placeholder", "aria-label")
NO_TRANSLATE_CLASS = "notranslate"
IgnoredIds = tuple[set[str], list[re.Pattern[str]]]


@dataclasses.dataclass(frozen=True)
class UiString:
    """One string and where it was found (``txt2img_steps.label``), for a translator's orientation."""

    text: str
    where: str


def ignored_ids(script: Path = TRANSLATOR_JS) -> IgnoredIds:
    """The element ids (and id patterns) the page translator leaves alone, read from the translator itself,
    so the page and the collector cannot disagree."""
    source = re.sub(r"//[^\n]*", "", script.read_text(encoding="utf-8"))
    ids_block = re.search(r"IGNORED_IDS\s*=\s*new Set\(\[(.*?)\]\)", source, re.S)
    patterns_block = re.search(r"IGNORED_ID_PATTERNS\s*=\s*\[(.*?)\];", source, re.S)
    ids = set(re.findall(r'"([^"]+)"', ids_block.group(1))) if ids_block else set()
    patterns = (
        [re.compile(p) for p in re.findall(r"/((?:[^/\\]|\\.)+)/", patterns_block.group(1))] if patterns_block else []
    )
    if not ids:
        log.warning("No IGNORED_IDS found in %s; model names may be listed as interface text", script)
    return ids, patterns


class _MarkupText(html.parser.HTMLParser):
    """Text nodes and translated attributes of an HTML fragment, as the page translator will see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)

    def _skipping(self) -> bool:
        return any(skipped for _, skipped in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        skipped = (
            tag in SKIPPED_TAGS
            or values.get("translate") == "no"
            or NO_TRANSLATE_CLASS in values.get("class", "").split()
        )
        if tag not in ("br", "img", "input", "hr", "meta", "link", "wbr", "source", "col", "area"):
            self._stack.append((tag, skipped))
        if not (skipped or self._skipping()):
            self.texts += [values[name].strip() for name in TRANSLATED_ATTRIBUTES if values.get(name, "").strip()]

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._skipping():
            self.texts.append(data.strip())


def html_texts(markup: str) -> list[str]:
    parser = _MarkupText()
    parser.feed(markup or "")
    parser.close()
    return parser.texts


def markdown_texts(text: str) -> list[str]:
    """Text nodes of Markdown as the page renders it (GFM-like: tables, HTML allowed)."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # a rough fallback: no inline markup is split out
        return [line.strip(" #*_>-") for line in (text or "").splitlines() if line.strip(" #*_>-")]
    return html_texts(MarkdownIt("commonmark", {"html": True}).enable("table").render(text or ""))


def _texts_of(component: dict[str, Any], labels_only: bool) -> Iterator[tuple[str, str]]:
    """(property, text) pairs a component shows; ``labels_only`` for an ignored one (its values are names)."""
    kind = component.get("type", "")
    props = component.get("props", {})
    for name in ("label", "info", "placeholder"):
        value = props.get(name)
        if isinstance(value, str) and value.strip():
            yield name, value.strip()
    if labels_only:
        return
    if kind in CHOICE_COMPONENTS:
        for choice in props.get("choices") or []:
            label = choice[0] if isinstance(choice, (list, tuple)) else choice
            if isinstance(label, str) and label.strip():
                yield "choices", label.strip()
    value = props.get("value")
    if kind in TEXT_VALUE_COMPONENTS and isinstance(value, str) and value.strip():
        yield "value", value.strip()
    if kind in MARKUP_COMPONENTS and isinstance(value, str):
        texts = html_texts(value) if MARKUP_COMPONENTS[kind] == "html" else markdown_texts(value)
        for text in texts:
            yield "value", text


def config_strings(config: dict[str, Any], ignored: IgnoredIds | None = None) -> list[UiString]:
    """The strings of a Blocks config (``demo.get_config_file()``), in page order.

    In an ignored subtree (see ``ignored_ids``) only labels, info texts and placeholders count, as on the page.
    """
    ids, patterns = ignored if ignored is not None else ignored_ids()
    components = {component["id"]: component for component in config.get("components", [])}
    found: list[UiString] = []

    def is_ignored(component: dict[str, Any]) -> bool:
        props = component.get("props", {})
        elem_id = props.get("elem_id") or ""
        classes = props.get("elem_classes") or []
        return (
            NO_TRANSLATE_CLASS in classes
            or elem_id in ids
            or any(pattern.search(elem_id) for pattern in patterns if elem_id)
        )

    def visit(node: dict[str, Any], ignored_above: bool) -> None:
        component = components.get(node.get("id"))
        ignored = ignored_above
        if component is not None:
            ignored = ignored or is_ignored(component)
            where = component.get("props", {}).get("elem_id") or f"{component.get('type')}#{component['id']}"
            for prop, text in _texts_of(component, labels_only=ignored):
                if is_translatable(text):
                    found.append(UiString(without_emoji(text), f"{where}.{prop}"))
        for child in node.get("children", []) or []:
            visit(child, ignored)

    visit(config.get("layout", {}), False)
    return found
