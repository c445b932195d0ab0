"""Finding extensions on disk and describing them: folder, metadata, enabled state, git version.

Every folder in ``extensions-builtin/`` (shipped with the program) and ``<data-dir>/extensions/`` is an
extension, listed built-in first and then by name, as A1111 does; a later folder whose canonical name
(``metadata.ini`` ``Name=``, else the folder name) is already taken is skipped. Whether it is loaded follows
A1111's keys ``disabled_extensions`` / ``disable_all_extensions`` and the flags ``--disable-all-extensions``
/ ``--disable-extra-extensions``. Git details (remote, commit, date) are read lazily, only when a caller asks.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.extensions.metadata import ExtensionMetadata, read_metadata

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GitInfo:
    remote: str = ""
    branch: str = ""
    commit_hash: str = ""
    commit_date: int = 0

    @property
    def version(self) -> str:
        return self.commit_hash[:8]


@dataclasses.dataclass(eq=False)
class Extension:
    """One extension folder and what happened to it at start-up (``status``, ``errors``)."""

    name: str  # the folder name: the key used in ``disabled_extensions``
    path: Path
    is_builtin: bool
    metadata: ExtensionMetadata
    enabled: bool = True  # the user's choice (not in disabled_extensions)
    active: bool = True  # will be / was loaded (enabled, and not switched off by disable_all or flags)
    status: str = "not loaded"
    errors: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # warnings that did not stop it (pip extras left out)
    _git: GitInfo | None = dataclasses.field(default=None, repr=False)

    @property
    def canonical_name(self) -> str:
        return self.metadata.canonical_name

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def fail(self, message: str) -> None:
        self.errors.append(message)
        self.status = "failed: " + "; ".join(self.errors)

    def git(self, refresh: bool = False) -> GitInfo:
        """Remote URL, branch, commit of a git checkout (empty when the folder is not a git repository)."""
        if self._git is None or refresh:
            self._git = read_git_info(self.path)
        return self._git

    def api_item(self) -> dict[str, Any]:
        """A1111's ``/sdapi/v1/extensions`` entry."""
        git = self.git()
        return {
            "name": self.name,
            "remote": git.remote,
            "branch": git.branch,
            "commit_hash": git.commit_hash,
            "version": git.version,
            "commit_date": git.commit_date,
            "enabled": self.enabled,
        }


def read_git_info(path: Path) -> GitInfo:
    if not (path / ".git").exists():
        return GitInfo()
    try:
        import git

        repo = git.Repo(path)
        try:
            head = repo.head.commit
            commit_hash, commit_date = head.hexsha, int(head.committed_date)
        except ValueError:  # no commit yet
            commit_hash, commit_date = "", 0
        remote = next(iter(repo.remote().urls), "") if repo.remotes else ""
        branch = "" if repo.head.is_detached else repo.active_branch.name
        return GitInfo(remote, branch, commit_hash, commit_date)
    except Exception as error:  # GitPython raises many types; a broken checkout must not break the list
        log.warning("Extension %s: could not read git information (%s)", path.name, error)
        return GitInfo()


def extension_roots(paths: Any) -> list[tuple[Path, bool]]:
    """(folder, is_builtin) to scan, built-in first."""
    return [(Path(paths.builtin_extensions), True), (Path(paths.extensions), False)]


def discover(paths: Any, settings: Any, flags: Any) -> list[Extension]:
    """Every extension folder, in load order, with ``enabled`` / ``active`` set from settings and flags."""
    disabled = set(settings.get("disabled_extensions") or [])
    disable_all = str(settings.get("disable_all_extensions") or "none")
    all_off = bool(getattr(flags, "disable_all_extensions", False)) or disable_all == "all"
    extra_off = bool(getattr(flags, "disable_extra_extensions", False)) or disable_all == "extra"
    found: list[Extension] = []
    taken: dict[str, Path] = {}
    builtin_folders: dict[str, Path] = {}
    for root, builtin in extension_roots(paths):
        if not root.is_dir():
            continue
        for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            metadata = read_metadata(directory)
            covering = taken.get(metadata.canonical_name) or builtin_folders.get(directory.name.lower())
            if not builtin and covering is not None and covering in builtin_folders.values():
                ext = Extension(directory.name, directory, False, metadata, True, False)
                ext.fail(
                    f"not loaded: the built-in extension {covering.name} covers it (same name); {covering.name} is used"
                )
                log.warning("Extension %s is not loaded: the built-in %s covers it", directory.name, covering.name)
                found.append(ext)
                continue
            if metadata.canonical_name in taken:
                log.warning(
                    "Extension %s duplicates %s (same name %r); it is skipped",
                    directory,
                    taken[metadata.canonical_name],
                    metadata.canonical_name,
                )
                continue
            taken[metadata.canonical_name] = directory
            if builtin:
                builtin_folders[directory.name.lower()] = directory
            enabled = directory.name not in disabled
            active = enabled and not all_off and not (extra_off and not builtin)
            status = "enabled" if active else ("disabled" if not enabled else "disabled by the disable-all setting")
            found.append(Extension(directory.name, directory, builtin, metadata, enabled, active, status))
    _check_requirements(found)
    return found


def _check_requirements(extensions: list[Extension]) -> None:
    """An extension whose ``Requires=`` names an extension that is not active cannot load."""
    active = {ext.canonical_name for ext in extensions if ext.active} | {
        ext.name.lower() for ext in extensions if ext.active
    }
    for ext in extensions:
        if not ext.active:
            continue
        missing = [name for name in ext.metadata.requires if name.lower() not in active]
        if missing:
            ext.active = False
            ext.fail(f"requires {', '.join(missing)}, which is not installed or not enabled")
            log.error(
                "Extension %s requires %s, which is not installed or not enabled; it is not loaded",
                ext.name,
                ", ".join(missing),
            )


def active_extension_dirs(backend: Backend) -> list[Path]:
    """Folders of the extensions loaded (or to be loaded) in this run, in load order (for localizations)."""
    manager = backend.extensions
    if manager is not None and hasattr(manager, "extensions"):
        return [ext.path for ext in manager.extensions if ext.active]
    return [ext.path for ext in discover(backend.paths, backend.settings, backend.flags) if ext.active]
