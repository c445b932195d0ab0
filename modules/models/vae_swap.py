"""Putting a VAE file's weights into a loaded model, with a fall-back to the checkpoint's own VAE.

The ``ModelManager`` decides *which* VAE a model should use (``sd_vae``, A1111's rules in ``registry``);
this class does the swap. A VAE file that cannot be used where the user did not insist on it (a
``<checkpoint>.vae.pt`` picked automatically, a stored setting) is not fatal: the checkpoint's own VAE is
used and a warning is reported. A refused file is remembered by path, size and mtime, so it is not read
again at every job until it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from modules.models.errors import ModelLoadError
from modules.models.registry import VaeInfo

log = logging.getLogger(__name__)


def _file_key(vae_info: VaeInfo) -> tuple[str, int, float]:
    try:
        stat = vae_info.path.stat()
        return str(vae_info.path), stat.st_size, stat.st_mtime
    except OSError:
        return str(vae_info.path), -1, 0.0


class VaeSwapper:
    """Copies VAE weights into models; ``warn`` receives one sentence per refused file."""

    def __init__(self, allow_unsafe_pickle: bool, warn: Callable[[str], None]) -> None:
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self.warn = warn
        self._refused: dict[tuple[str, int, float], str] = {}  # file key -> reason

    def forget_refusals(self) -> None:
        """Give every file a new chance (after a rescan)."""
        self._refused.clear()

    def apply(self, model: Any, vae_info: VaeInfo | None, force: bool = False) -> None:
        """Put ``vae_info``'s weights (None: the checkpoint's own) into ``model``; ModelLoadError if unusable."""
        from modules.models.loader import checkpoint_vae_state
        from modules.models.vae import put_vae_state, read_vae_file

        current = model.vae_info
        if not force and (
            current is vae_info or (current is not None and vae_info is not None and current.path == vae_info.path)
        ):
            return
        if vae_info is None:
            path = model.checkpoint.path
            state = checkpoint_vae_state(path, model.vae, model.vae_dtype, self.allow_unsafe_pickle)
        else:
            path = vae_info.path
            state = read_vae_file(path, model.vae, model.vae_dtype, self.allow_unsafe_pickle)
        put_vae_state(model.vae, state, path)
        model.vae_info = vae_info
        log.info("VAE: %s", vae_info.name if vae_info else "from the checkpoint")

    def apply_or_own(self, model: Any, vae_info: VaeInfo | None, force: bool = False) -> None:
        """``apply``; a VAE file that fails falls back to the checkpoint's own VAE with a warning."""
        has_own = model.arch.text_config.get("has_vae", True)
        if vae_info is not None and has_own and _file_key(vae_info) in self._refused:
            vae_info = None  # refused before and unchanged since: not read at every job
        try:
            self.apply(model, vae_info, force)
        except ModelLoadError as error:
            if vae_info is None or not has_own:
                raise
            self._refused[_file_key(vae_info)] = error.reason
            warning = f"VAE {vae_info.name} was not used ({error}); using the checkpoint's own VAE instead"
            log.warning(warning)
            self.warn(warning)
            self.apply(model, None, force=True)
