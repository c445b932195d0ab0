"""The full list of interface strings: the built page (``collect``), Gradio's own frontend text
(``FRONTEND_STRINGS``), tooltips set by the page scripts, and run-time messages from the source (``messages``).

``interface_strings(backend)`` builds the UI exactly as the server does (without serving it) and returns
them in page order. The translator's template and the zh_CN coverage test both start here.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.localization.collect import UiString, config_strings
from tools.localization.messages import source_messages, ui_source_files

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[2] / "modules" / "ui" / "static"

# Text Gradio's frontend shows on its own (English locale), for the components this interface uses, and the
# page's run-time texts that no component declares. Keys with {placeholders} are patterns.
FRONTEND_STRINGS = (
    # uploads and files
    "Drop Image Here",
    "- or -",
    "or",
    "Click to Upload",
    "Drop File Here",
    "Click to upload or drop files",
    "Upload file",
    "File upload",
    "Upload an image",
    "Drop an image file here to upload",
    "Paste from clipboard",
    "Paste from Clipboard",
    "Paste",
    "Upload",
    "Uploading...",
    "Download",
    "Download All",
    "Clear",
    "Remove",
    "Remove {item}",
    "Remove Image",
    "Empty value",
    "Empty",
    "Edit",
    "Image",
    "Files",
    "Loading",
    "Loading...",
    "Webcam",
    "Textbox",
    "Checkbox",
    "Dropdown",
    "Number",
    "Radio",
    "Slider",
    # image editor
    "Brush",
    "Erase",
    "Pan",
    "Undo",
    "Redo",
    "undo",
    "redo",
    "Zoom in",
    "Zoom out",
    "Clear canvas",
    "Show Layers",
    "Layer",
    "Layers",
    "Layer {number}",
    "Add Layer",
    "select the draw tool to start",
    "Crop",
    "Confirm crop",
    "Resize",
    "Color",
    "Brush Size",
    "Eraser Size",
    "Brush color",
    "Brush radius",
    "Select brush color",
    "Fit to screen",
    "Save changes",
    "Start drawing",
    "Use brush",
    # gallery and image buttons
    "Fullscreen",
    "Exit fullscreen mode",
    "Share",
    "Close",
    "Preview",
    "Thumbnail {index} of {total}",
    # sliders, tabs, queue and connection status
    "Reset to default value",
    "number input for {label}",
    "range slider for {label}",
    "More tabs",
    "processing |",
    "queue: {position} |",
    "In queue: {position} of {size}",
    "Error",
    "Warning",
    "Info",
    "Connection errored out.",
    "Could not connect to the server.",
    "Lost connection due to leaving page. Rejoining queue...",
    "Waiting for file(s) to finish uploading, please retry.",
    # the page's own texts that no component declares (progress bar, time taken, start-up)
    "The server is still starting; try again in a few seconds.",
    "Waiting…",
    "Waiting… position {position} in queue",
    "{percent}% ETA: {eta}",
    "Batch {batch}",
    "Step {step}",
    "Batch {batch} · Step {step}",
    "Time taken: {time}",
    "Interrupted. Time taken: {time}",
    "Interrupting...",
    "{count} setting(s) changed: {keys}.",
    "{count} setting(s) changed: {keys}. Press Reload UI for them to take effect.",
    "{count} setting(s) changed: {keys}. Restart the program for them to take effect.",
    "{count} setting(s) changed: {keys}. Press Reload UI for them to take effect. "
    "Restart the program for them to take effect.",
)

# A tooltip table in a page script: ``[/element id pattern/, "text"]`` pairs.
TOOLTIP_PAIR = re.compile(r'\[\s*/(?:[^/\\\n]|\\.)+/\s*,\s*"((?:[^"\\]|\\.)*)"\s*\]')


def script_tooltips(static_dir: Path = STATIC_DIR) -> list[UiString]:
    """Tooltip texts the page scripts set as ``title`` (A1111's hints)."""
    found = []
    for path in sorted(static_dir.glob("*.js")):
        source = path.read_text(encoding="utf-8")
        for match in TOOLTIP_PAIR.finditer(source):
            text = json.loads('"' + match.group(1).replace("\\'", "'") + '"')
            found.append(UiString(text, f"{path.name}:tooltip"))
    return found


def build_collection_backend(args: list[str] | None = None) -> Any:
    """A Backend as ``webui.py`` builds it (extensions and languages installed), not started, not serving."""
    import webui
    from modules.settings.cli import parse_flags

    backend = webui.build_backend(parse_flags(list(args or [])))
    if backend.extensions is None:
        try:
            from modules.extensions.manager import install_extensions

            install_extensions(backend)
        except ImportError:
            log.info("No extension subsystem: extension strings are not collected")
    if backend.localization is None:
        from modules.localization.service import install_localization

        install_localization(backend)
    return backend


def interface_strings(backend: Backend, demo: Any = None) -> list[UiString]:
    """Every string of the interface built for ``backend`` (``demo``: an already built UI to reuse)."""
    if demo is None:
        from modules.ui.blocks import build_ui

        demo = build_ui(backend)
    strings = config_strings(demo.get_config_file())
    strings += [UiString(text, "gradio frontend") for text in FRONTEND_STRINGS]
    strings += script_tooltips()
    from modules.localization.service import active_extension_dirs

    strings += source_messages(ui_source_files(backend.paths.program, active_extension_dirs(backend)))
    return strings
