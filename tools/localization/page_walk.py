"""Walks the running page in a browser and reads what the page translator saw: every tab, nested tabs and
accordion opened once, then ``webuiLocalization.seen()`` / ``missing()`` read.

This complements ``collect`` (the server-side list): it also sees what Gradio's frontend adds by itself and
what the server fills in after the page loaded. Used by the browser tests and by
``tools/localization_template.py --browser``; needs Playwright and a Chromium (test dependencies only).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

log = logging.getLogger(__name__)

READY_JS = "() => window.webuiLocalization && window.webuiLocalization.ready"

# Click every tab button (in the visible tab list, not Gradio's hidden measuring copy) and every closed
# accordion that is visible now; returns how many it clicked, so the caller repeats until nothing is new.
OPEN_NEXT_JS = """
(visited) => {
    const seen = new Set(visited);
    const visible = (el) => el.offsetParent !== null;
    const candidates = [];
    for (const toggle of document.querySelectorAll('.label-wrap')) {
        const block = toggle.closest('[id]');
        candidates.push(['acc:' + (block ? block.id : '') + ':' + toggle.textContent.trim(), toggle, true]);
    }
    // Nested tab lists come later in the document than their parents: visit the innermost first.
    const lists = Array.from(document.querySelectorAll('[role="tablist"]')).reverse();
    for (const list of lists) {
        for (const button of list.querySelectorAll('button[role="tab"]')) {
            const key = 'tab:' + (button.id || button.dataset.tabId || button.textContent.trim());
            candidates.push([key, button, false]);
        }
    }
    for (const [key, element, isAccordion] of candidates) {
        if (seen.has(key) || !visible(element) || element.getAttribute('aria-disabled') === 'true') continue;
        if (!isAccordion || !element.classList.contains('open')) element.click();
        return [key];
    }
    return [];
}
"""


@dataclasses.dataclass
class PageStrings:
    seen: list[str]  # every string the translator looked up
    missing: list[str]  # looked up and not found in the active language


def wait_translator(page: Any, timeout_ms: int = 30_000) -> None:
    page.wait_for_selector("#tabs", timeout=timeout_ms)
    page.wait_for_function(READY_JS, timeout=timeout_ms)


def walk(page: Any, url: str | None = None, settle_ms: int = 150, max_steps: int = 400) -> PageStrings:
    """Open ``url`` (or use the page as it is), visit every tab and accordion once, return the strings."""
    if url is not None:
        page.goto(url)
    wait_translator(page)
    page.wait_for_timeout(500)
    visited: list[str] = []
    seen: set[str] = set(page.evaluate("() => webuiLocalization.seen()"))
    for _ in range(max_steps):
        clicked = page.evaluate(OPEN_NEXT_JS, visited)
        if not clicked:
            break
        visited += clicked
        page.wait_for_timeout(settle_ms)
        seen.update(page.evaluate("() => webuiLocalization.seen()"))
    else:
        log.warning("Page walk stopped after %d steps", max_steps)
    missing = page.evaluate("() => webuiLocalization.missing()")
    return PageStrings(sorted(seen), sorted(missing))
