"""The program's own extension API beyond the A1111 names: what an extension may import from ``modules``.

Extensions written for this program (ControlNet among them) import ``modules.scripts`` and
``modules.script_callbacks`` (the A1111 surface) and this module; nothing else under ``modules``. The names
below are stable re-exports, so the modules behind them can move without breaking an extension.

- errors an extension raises or catches: ``InvalidParams`` (a generation's parameters cannot run: answered
  422 / shown on the page), ``ModelLoadError`` (a weight file that cannot be read);
- ``OptionInfo``: a setting an extension declares in its ``on_ui_settings`` callback;
- file helpers for the extension's own model folders: ``scan_files`` (cached folder listing),
  ``printable_name`` (a file name safe for the page and JSON), ``legacy_model_hash`` (A1111's old short hash),
  ``open_state_dict`` / ``unwrap_state_dict`` (read .safetensors / .ckpt / .pth safely).

The current extension's context (settings, paths, device, the job queue: ``submit_job`` / ``run_job``) is
``modules.scripts.current_extension()``.
"""

from __future__ import annotations

from modules.models.errors import ModelLoadError
from modules.models.folder_scan import scan_files
from modules.models.hashing import legacy_model_hash
from modules.models.safe_text import printable_name
from modules.models.statedict import open_state_dict, unwrap_state_dict
from modules.processing.params import InvalidParams
from modules.settings.registry import OptionInfo

__all__ = [
    "InvalidParams",
    "ModelLoadError",
    "OptionInfo",
    "legacy_model_hash",
    "open_state_dict",
    "printable_name",
    "scan_files",
    "unwrap_state_dict",
]
