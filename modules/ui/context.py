"""What the tab builders share while the page is assembled.

Tabs are built one after another, but some controls reach across tabs: "Send to img2img" fills the img2img
tab, PNG Info fills txt2img. Each tab registers the fields an infotext can fill (``SendTarget``) and the
buttons that send something (``SendRequest``); ``paste.wire_send_buttons`` connects them once every tab
exists. The context also holds the little UI state shared by all browser tabs of this server (the last
generation's infotext, A1111's ``params.txt``), so nothing lives in module globals.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.app import Backend

# How a field gets its value from a parsed infotext: an infotext key, or a function of the parsed dict
# returning the value (or None to leave the field as it is).
FieldSource = str | Callable[[dict[str, Any]], Any]


@dataclasses.dataclass
class PasteField:
    component: Any  # a Gradio component
    source: FieldSource
    kind: str = ""  # "seed" / "size": skipped by send-to when the send_seed / send_size settings are off


@dataclasses.dataclass
class SendTarget:
    """A place an image and/or an infotext can be sent to: one tab, or one img2img mode."""

    name: str  # "txt2img", "img2img", "inpaint", "extras"
    tab_id: str  # id of the top-level tab to select
    fields: list[PasteField] = dataclasses.field(default_factory=list)
    image: Any = None  # component receiving a sent image
    mode_tabs: Any = None  # gr.Tabs holding the sub-tab to select (img2img modes, extras modes)
    mode_id: str | None = None
    mode_state: Any = None  # gr.State holding the current mode, set together with mode_tabs
    mode_value: Any = None  # the value mode_state takes when this target is selected


@dataclasses.dataclass
class SendRequest:
    """A button that sends (image, infotext) produced by ``get(*inputs)`` to the target named ``target``."""

    button: Any
    target: str
    inputs: list[Any]
    get: Callable[..., tuple[Any, str]]


class UiContext:
    """Built once per ``build_ui`` call and passed to every tab builder."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tabs: gr.Tabs | None = None
        self.targets: dict[str, SendTarget] = {}
        self.send_requests: list[SendRequest] = []
        self._lock = threading.Lock()
        self._last_infotext = ""

    def add_target(self, target: SendTarget) -> SendTarget:
        self.targets[target.name] = target
        return target

    def add_send_button(self, button: Any, target: str, inputs: list[Any], get: Callable[..., tuple[Any, str]]) -> None:
        self.send_requests.append(SendRequest(button, target, inputs, get))

    @property
    def last_infotext(self) -> str:
        """Infotext of the last finished generation on this server (what ↙ reads when the prompt is empty)."""
        with self._lock:
            return self._last_infotext

    @last_infotext.setter
    def last_infotext(self, text: str) -> None:
        with self._lock:
            self._last_infotext = text or ""
