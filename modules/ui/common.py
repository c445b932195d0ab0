"""Small pieces every tab uses: tool buttons, text-to-HTML, time formatting, user-facing error text."""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

# Symbols A1111 puts on its small buttons (kept identical: users and localization files know them).
REFRESH_SYMBOL = "\U0001f504"  # 🔄
RANDOM_SYMBOL = "\U0001f3b2\ufe0f"  # 🎲️
REUSE_SYMBOL = "\u267b\ufe0f"  # ♻️
SWAP_SYMBOL = "\u21c5"  # ⇅
PASTE_SYMBOL = "\u2199\ufe0f"  # ↙️
CLEAR_SYMBOL = "\U0001f5d1\ufe0f"  # 🗑️
APPLY_STYLE_SYMBOL = "\U0001f4cb"  # 📋
SAVE_STYLE_SYMBOL = "\U0001f4be"  # 💾
FOLDER_SYMBOL = "\U0001f4c2"  # 📂
SAVE_SYMBOL = "\U0001f4be"  # 💾
SEND_IMG2IMG_SYMBOL = "\U0001f5bc\ufe0f"  # 🖼️
SEND_INPAINT_SYMBOL = "\U0001f3a8\ufe0f"  # 🎨️
SEND_EXTRAS_SYMBOL = "\U0001f4d0"  # 📐


def tool_button(symbol: str, elem_id: str, tooltip: str = "", **kwargs: Any) -> gr.Button:
    """A square one-symbol button (A1111's ToolButton); the tooltip is set by ui.js from ``TOOLTIPS``."""
    return gr.Button(symbol, elem_id=elem_id, elem_classes=["tool"], size="sm", min_width=40, scale=0, **kwargs)


def text_html(text: str, css_class: str = "") -> str:
    """Plain text as escaped HTML paragraphs, newlines kept."""
    body = "<br>".join(html.escape(line) for line in (text or "").split("\n"))
    attr = f' class="{css_class}"' if css_class else ""
    return f"<p{attr}>{body}</p>" if text else ""


def error_html(message: str) -> str:
    return f'<div class="error">{html.escape(message)}</div>'


def info_html(message: str) -> str:
    return f'<div class="info">{html.escape(message)}</div>'


def describe_error(error: BaseException) -> str:
    """One line a user can act on, never a traceback: the message, or the type when there is none."""
    text = str(error).strip()
    if isinstance(error, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    first_line = text.splitlines()[0] if text else ""
    return first_line or type(error).__name__


def format_seconds(seconds: float) -> str:
    """A1111's progress-bar time: ``12s``, ``3:05``, ``1:02:03``."""
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def models_unavailable_message(backend: Backend) -> str | None:
    """Why nothing can be generated right now (still starting, no checkpoints), or None when ready."""
    models = backend.models
    if models is None:
        return backend.status or "The server is still starting; try again in a few seconds."
    checkpoints = models.checkpoints()
    if not checkpoints:
        return models.status
    return None


def is_local_request(request: gr.Request | None) -> bool:
    """True when the browser runs on this machine (the only case where opening a folder makes sense)."""
    client = getattr(request, "client", None) if request is not None else None
    host = getattr(client, "host", None) or ""
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
