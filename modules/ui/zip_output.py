"""The 🗃️ button of the output panel: the shown images saved to ``log/images`` and packed into one zip.

As A1111's "Zip" button: every shown image (grid included) is saved like 💾 does, then a zip of them is
written beside them, named after A1111's default ``[datetime]_[[model_name]]_[seed]-[seed_last]``, and both
are offered in the download box.
"""

from __future__ import annotations

import datetime
import html
import logging
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.ui.common import describe_error, error_html, tool_button

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

ZIP_SYMBOL = "\U0001f5c3\ufe0f"  # 🗃️
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def zip_name(when: datetime.datetime, model_name: str | None, seeds: Sequence[int]) -> str:
    """``20240101123456_[model]_12-15.zip``: A1111's default zip file name pattern, made filename-safe."""
    parts = [when.strftime("%Y%m%d%H%M%S")]
    if model_name:
        parts.append(f"[{_UNSAFE.sub('_', model_name)}]")
    if seeds:
        parts.append(f"{seeds[0]}-{seeds[-1]}")
    return "_".join(parts) + ".zip"


def write_zip(target: Path, files: Sequence[Path]) -> Path:
    """A zip of ``files`` (flat, by file name) at ``target``."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.name)
    return target


def build(tab: str) -> gr.Button:
    return tool_button(ZIP_SYMBOL, f"save_zip_{tab}")


def wire(backend: Backend, button: gr.Button, result: Any, download: Any, message: Any) -> None:
    """🗃️: save all shown images and a zip of them; both are offered for download."""
    from modules.processing.infotext import parse_infotext
    from modules.ui.save_log import save_to_log

    def make_zip(shown: Any):
        if shown is None or not shown.images:
            return gr.update(visible=False), error_html("Nothing to save: generate an image first.")
        try:
            indices = list(range(len(shown.images)))
            paths = save_to_log(
                backend, shown.images, shown.infotexts, shown.seeds, shown.index_of_first_image, indices
            )
            model = parse_infotext(shown.infotext(None)).get("Model") if shown.infotext(None) else None
            name = zip_name(datetime.datetime.now(), model, shown.seeds)
            archive = write_zip(paths[0].parent / name, paths)
        except (OSError, IndexError) as error:
            return gr.update(visible=False), error_html(f"Could not save: {describe_error(error)}")
        log.info("Saved %s", archive)
        files = [str(archive), *(str(path) for path in paths)]
        return gr.update(value=files, visible=True), f'<div class="info">Saved: {html.escape(archive.name)}</div>'

    button.click(make_zip, result, [download, message], show_progress="hidden")
