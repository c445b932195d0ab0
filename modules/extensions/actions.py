"""What the Extensions tab (and any other front end) can do: apply enabled state, install, update, restart.

Each action first checks the insecure-access rule (``installer.check_access``) and returns a message for the
user; nothing here knows about Gradio. "Apply and restart UI" writes A1111's two settings and then restarts
the server process when the composition root registered a ``restart`` service (``webui.py`` does); when it
did not (tests, embedded use) the choice is saved and the message says a restart is needed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modules.extensions import installer
from modules.extensions.discovery import discover
from modules.extensions.options import DISABLE_ALL_CHOICES

log = logging.getLogger(__name__)

RESTART_DELAY = 0.5  # seconds: lets the HTTP answer reach the browser before the process is replaced


def apply_and_restart(manager: Any, enabled: Iterable[str], disable_all: str = "none") -> str:
    """Save which extensions are enabled (folder names) and restart (or say that a restart is needed)."""
    installer.check_access(manager.backend.flags)
    if disable_all not in DISABLE_ALL_CHOICES:
        raise ValueError(f"disable_all must be one of {', '.join(DISABLE_ALL_CHOICES)}, not {disable_all!r}")
    enabled = set(enabled)
    disabled = [ext.name for ext in manager.extensions if ext.name not in enabled]
    manager.backend.settings.update({"disabled_extensions": disabled, "disable_all_extensions": disable_all})
    for ext in manager.extensions:
        ext.enabled = ext.name not in disabled
    restart = manager.backend.restart
    if callable(restart):
        manager.before_reload()
        threading.Timer(RESTART_DELAY, restart).start()
        return "Saved. Restarting the server; the page reloads when it is back."
    return "Saved. Restart the server to load or unload the changed extensions."


def refresh_list(manager: Any) -> None:
    """Add folders that appeared since start-up (installed from URL); they load at the next restart."""
    backend = manager.backend
    known = {ext.name for ext in manager.extensions}
    for ext in discover(backend.paths, backend.settings, backend.flags):
        if ext.name not in known:
            ext.status = "installed; restart to load"
            manager.extensions.append(ext)


def install_from_url(manager: Any, url: str, branch: str = "", dirname: str = "") -> str:
    installer.check_access(manager.backend.flags)
    paths = manager.backend.paths
    remotes = [ext.git().remote for ext in manager.extensions]
    target = installer.install_from_url(Path(paths.extensions), Path(paths.data) / "tmp", url, branch, dirname, remotes)
    if (target / "install.py").is_file() and not getattr(manager.backend.flags, "skip_install", False):
        from modules.extensions.pip_guard import write_constraints

        constraints = write_constraints(Path(paths.data) / "cache" / "pip-constraints.txt")
        error, _notes = installer.run_install_script(target, constraints=constraints)
        if error:
            refresh_list(manager)
            return f"Installed into {target}, but {error}"
    refresh_list(manager)
    return f"Installed into {target}. Use Installed tab to restart."


def check_for_updates(manager: Any) -> dict[str, str]:
    installer.check_access(manager.backend.flags)
    statuses = {}
    for ext in manager.extensions:
        if ext.git().remote:
            statuses[ext.name] = installer.check_for_update(ext.path)
    manager.update_status.update(statuses)
    return statuses


def update_extensions(manager: Any, names: Iterable[str]) -> str:
    """Update the named git extensions to their remote's latest commit; restart to load the new code."""
    installer.check_access(manager.backend.flags)
    done, failed = [], []
    for name in names:
        ext = manager.get(name)
        if ext is None or not ext.git().remote:
            continue
        try:
            installer.update(ext.path)
            ext.git(refresh=True)
            manager.update_status[name] = "latest"
            done.append(name)
        except Exception as error:  # GitPython raises many types; report them all per extension
            log.warning("Updating %s failed: %s", name, error)
            failed.append(f"{name} ({error})")
    parts = [f"Updated: {', '.join(done)}. Restart to load the new code." if done else "Nothing updated."]
    if failed:
        parts.append(f"Failed: {'; '.join(failed)}")
    return " ".join(parts)
