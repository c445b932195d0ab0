"""Extensions → Backup/Restore: A1111's "config states", JSON snapshots of which extensions are installed,
enabled and at which commit, kept in ``<data>/config_states``.

Restoring sets which installed extensions are enabled as the snapshot had them (then the usual restart);
extensions the snapshot lists that are no longer installed, or are now at another commit, are named in the
answer, since bringing those back needs the network.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[^\w\- ]")


def states_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "config_states"


def current_state(manager: Any, name: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The snapshot of the installed extensions (A1111's ``extensions`` entries) and of this program."""
    from modules.processing.outputs import VERSION

    now = now or datetime.datetime.now()
    extensions = {}
    for ext in manager.extensions:
        git = ext.git()
        extensions[ext.name] = {
            "name": ext.name,
            "path": str(ext.path),
            "enabled": bool(ext.enabled),
            "is_builtin": bool(ext.is_builtin),
            "remote": git.remote or None,
            "commit_hash": git.commit_hash or None,
            "commit_date": git.commit_date or None,
            "branch": git.branch or None,
            "have_info_from_repo": bool(git.commit_hash),
        }
    return {
        "name": name,
        "created_at": now.timestamp(),
        "webui": {"remote": None, "commit_hash": None, "commit_date": None, "branch": None, "version": VERSION},
        "extensions": extensions,
    }


def save_state(manager: Any, data_dir: Path, name: str) -> Path:
    """Write the snapshot as ``<time>_<name>.json``; returns its path."""
    from modules.settings.store import write_json_atomic

    now = datetime.datetime.now()
    clean = _UNSAFE_NAME.sub("_", (name or "").strip())[:64] or "Config"
    path = states_dir(data_dir) / f"{now.strftime('%Y%m%d-%H%M%S')}_{clean}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, current_state(manager, clean, now))
    return path


def list_states(data_dir: Path) -> dict[str, Path]:
    """``"name: 2024-01-01 12:00:00" -> path`` of the saved snapshots, newest first; unreadable files skipped."""
    found: list[tuple[float, str, Path]] = []
    folder = states_dir(data_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            created = float(data.get("created_at", 0))
            label = f"{data.get('name', path.stem)}: {datetime.datetime.fromtimestamp(created):%Y-%m-%d %H:%M:%S}"
        except (OSError, ValueError, TypeError, AttributeError) as error:
            log.warning("Skipping config state %s: %s", path, error)
            continue
        found.append((created, label, path))
    return {label: path for _, label, path in sorted(found, reverse=True)}


def restore_plan(state: dict[str, Any], manager: Any) -> tuple[list[str], list[str]]:
    """(names of installed extensions to enable, notes on what cannot be restored offline)."""
    wanted = state.get("extensions") or {}
    installed = {ext.name: ext for ext in manager.extensions}
    enabled = [name for name, entry in wanted.items() if name in installed and entry.get("enabled", True)]
    enabled += [name for name in installed if name not in wanted and installed[name].enabled]
    notes = [f"{name} is not installed" for name in wanted if name not in installed]
    for name, entry in wanted.items():
        if name in installed and entry.get("commit_hash"):
            now = installed[name].git().commit_hash
            if now and now != entry["commit_hash"]:
                notes.append(f"{name} is at {now[:8]}, the backup had {entry['commit_hash'][:8]}")
    return enabled, notes
