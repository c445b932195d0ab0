"""The one error type model loading raises, so callers can show its message to a user as it is."""

from __future__ import annotations

from pathlib import Path

from modules.models.safe_text import plain_sentence, printable_path


class ModelLoadError(Exception):
    """A file could not be used as the requested kind of model; the message names the file and the reason.

    Raised before the previously loaded model is touched whenever possible, so a failed switch leaves the
    old model loaded and usable. The message is one printable line (no library traceback, no ANSI codes,
    file names that are not UTF-8 shown with replacement characters), fit to show in the page or an API answer.
    """

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = plain_sentence(reason, 600)
        shown = printable_path(path)
        super().__init__(f"{shown}: {self.reason}" if path is not None else self.reason)
