"""Gradio 3 layouts that current Gradio renders wrongly, straightened after an extension built its UI.

Gradio 3.41 (A1111's) let a ``gr.Tabs`` hold components besides its ``gr.Tab`` children (Image Browser keeps a
hidden ``gr.Textbox`` there). Current Gradio numbers a tab by its position among all the children, so one such
component shifts the numbering: a tab button repeats, the tab it hides never mounts and the extension's
JavaScript looks for elements that are not there. ``hoist_stray_tab_children`` moves each such component
out of the ``Tabs``, to just after it in the same parent, where it renders as it did in Gradio 3 (hidden
ones stay hidden; visible ones show below the tabs instead of beside them).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def hoist_stray_tab_children(root: Any) -> int:
    """Move every non-``Tab`` child of a ``Tabs`` below ``root`` to just after that ``Tabs``; returns how many."""
    from gradio.layouts import Tab, Tabs

    moved = 0
    for tabs in [block for block in walk_blocks(root) if isinstance(block, Tabs)]:
        stray = [child for child in tabs.children if not isinstance(child, Tab)]
        parent = getattr(tabs, "parent", None)
        if not stray or parent is None or tabs not in parent.children:
            continue
        tabs.children = [child for child in tabs.children if isinstance(child, Tab)]
        position = parent.children.index(tabs) + 1
        parent.children[position:position] = stray
        for child in stray:
            child.parent = parent
        moved += len(stray)
        log.debug("Moved %d component(s) out of gr.Tabs %s (Gradio 3 layout)", len(stray), tabs.elem_id or "")
    return moved


def walk_blocks(root: Any) -> list[Any]:
    """``root`` and every block below it, parents before children."""
    found = [root]
    for child in getattr(root, "children", None) or []:
        found.extend(walk_blocks(child))
    return found
