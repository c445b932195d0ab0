"""The one error type model loading raises, so callers can show its message to a user as it is."""

from __future__ import annotations

from pathlib import Path


class ModelLoadError(Exception):
    """A file could not be used as the requested kind of model; the message names the file and the reason.

    Raised before the previously loaded model is touched whenever possible, so a failed switch leaves the
    old model loaded and usable.
    """

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)
