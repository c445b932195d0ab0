"""Changing what is installed: ``install.py`` runs, install from a git URL, updates, restarts.

Every action that changes installed code is refused while the server is reachable from other machines
(``--listen``, ``--share``, ``--server-name``) unless ``--enable-insecure-extension-access`` is given, as in
A1111: anyone who can reach the page could otherwise run code on this computer.

``install.py`` runs with this Python in a subprocess (its working folder is the extension, ``PYTHONPATH``
holds the program folder so ``import launch`` works). It runs at start-up only when the file changed since
its last successful run (A1111 runs it every time; the result is the same and start-up stays fast).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from modules.settings.cli import is_non_local

log = logging.getLogger(__name__)

ACCESS_DENIED = (
    "extension access disabled because of command line flags: the server is reachable from other "
    "machines (--listen, --share or --server-name); start it with --enable-insecure-extension-access "
    "to allow installing, updating, enabling and disabling extensions"
)
INSTALL_TIMEOUT = 900
_DIRNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")


class ExtensionAccessDenied(PermissionError):
    pass


def check_access(flags: Any) -> None:
    """Raise ExtensionAccessDenied (A1111's message and the way out) when changes are not allowed."""
    if is_non_local(flags) and not getattr(flags, "enable_insecure_extension_access", False):
        raise ExtensionAccessDenied(ACCESS_DENIED)


def access_allowed(flags: Any) -> bool:
    try:
        check_access(flags)
    except ExtensionAccessDenied:
        return False
    return True


# --- install.py -------------------------------------------------------------------------------------------------


def run_install_script(
    directory: Path, timeout: float = INSTALL_TIMEOUT, constraints: Path | None = None
) -> tuple[str | None, list[str]]:
    """Run ``directory/install.py``: (None on success, else an error message with the end of its output;
    what the pip guard reported, e.g. extras left out because they conflict with the app's pins)."""
    import tempfile

    from modules.extensions import pip_guard

    script = directory / "install.py"
    program_dir = Path(__file__).resolve().parent.parent.parent
    env = dict(os.environ)
    path_parts = [str(pip_guard.SHIM_DIR), str(program_dir), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, path_parts))
    env.setdefault("WEBUI_EXTENSION_DIR", str(directory))
    env["WEBUI_LAUNCH_ARGS"] = json.dumps(sys.argv[1:])
    if constraints is not None:
        env["PIP_CONSTRAINT"] = str(constraints)
    with tempfile.TemporaryDirectory(prefix="webui-install-") as scratch:
        report_file = Path(scratch) / "pip-report.jsonl"
        env[pip_guard.REPORT_ENV] = str(report_file)
        try:
            result = subprocess.run(
                [sys.executable, str(script)],
                cwd=directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"install.py did not finish within {int(timeout)} s", []
        except OSError as error:
            return f"install.py could not be started: {error}", []
        notes = _read_report(report_file)
    if result.stdout.strip():
        log.info("Extension %s install.py: %s", directory.name, result.stdout.strip()[-2000:])
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        reason = "; ".join(notes) if notes else tail
        return f"install.py failed with exit code {result.returncode}: {reason}", []
    return None, notes


def _read_report(path: Path) -> list[str]:
    if not path.is_file():
        return []
    notes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            notes.append(str(json.loads(line)["message"]))
        except (ValueError, KeyError, TypeError):
            continue
    return notes


class InstallRecord:
    """Which install.py versions already ran successfully (a small JSON file in the data folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._data = {}

    @staticmethod
    def digest(script: Path) -> str:
        return hashlib.sha256(script.read_bytes()).hexdigest()

    def is_current(self, script: Path) -> bool:
        return self._data.get(str(script.resolve())) == self.digest(script)

    def mark(self, script: Path) -> None:
        self._data[str(script.resolve())] = self.digest(script)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
        except OSError as error:
            log.warning("Could not record install.py run in %s: %s", self.path, error)


def run_installers(
    extensions: list[Any], record: InstallRecord, force: bool = False, constraints_dir: Path | None = None
) -> None:
    """Run each active extension's install.py when needed, with pip held to the app's installed packages
    (``pip_guard``); a failure marks that extension failed, what pip left out is noted on it."""
    constraints = None
    for ext in extensions:
        script = ext.path / "install.py"
        if not ext.active or not script.is_file() or (not force and record.is_current(script)):
            continue
        if constraints is None:
            from modules.extensions.pip_guard import write_constraints

            folder = constraints_dir or Path(record.path).parent
            constraints = write_constraints(folder / "pip-constraints.txt")
        log.info("Extension %s: running install.py", ext.name)
        error, notes = run_install_script(ext.path, constraints=constraints)
        for note in notes:
            log.warning("Extension %s: %s", ext.name, note)
            ext.notes.append(note)
        if error is None:
            record.mark(script)
        else:
            log.error("Extension %s: %s", ext.name, error)
            ext.fail(error)
            ext.active = False


# --- git ----------------------------------------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """For duplicate checks: ``https://x/y.git/`` and ``https://x/y`` are the same remote."""
    return url.strip().rstrip("/").removesuffix(".git").lower()


def dirname_from_url(url: str) -> str:
    """The folder a clone goes to: the last path part without ``.git``.

    >>> dirname_from_url("https://github.com/a/sd-webui-x.git/"), dirname_from_url("git@host:b/y.git")
    ('sd-webui-x', 'y')
    """
    tail = url.strip().rstrip("/").replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git")


def install_from_url(
    extensions_dir: Path,
    tmp_dir: Path,
    url: str,
    branch: str = "",
    dirname: str = "",
    known_remotes: list[str] | None = None,
) -> Path:
    """Clone ``url`` into ``extensions_dir/<dirname>`` and return the new folder; ValueError says what is wrong."""
    url = (url or "").strip()
    if not url:
        raise ValueError("No URL specified")
    name = (dirname or "").strip() or dirname_from_url(url)
    if not name or not _DIRNAME.match(name) or name in (".", ".."):
        raise ValueError(f"Invalid folder name {name!r}: use letters, digits, '.', '_', '-' and spaces")
    target = extensions_dir / name
    if target.exists():
        raise ValueError(f"Extension directory already exists: {target}")
    if normalize_url(url) in {normalize_url(r) for r in known_remotes or [] if r}:
        raise ValueError(f"Extension with this URL is already installed: {url}")
    import git

    staging = tmp_dir / name
    shutil.rmtree(staging, ignore_errors=True)
    options = ["--filter=blob:none"] + (["--branch", branch.strip()] if branch and branch.strip() else [])
    try:
        git.Repo.clone_from(url, staging, multi_options=options)
    except git.GitCommandError as error:
        shutil.rmtree(staging, ignore_errors=True)
        detail = (error.stderr or str(error)).strip().splitlines()
        raise ValueError(f"git clone failed: {detail[-1] if detail else error}") from error
    extensions_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(target))
    return target


def check_for_update(path: Path) -> str:
    """ "latest", "behind" or "unknown" (offline, not a git checkout) after fetching the remote."""
    import git

    try:
        repo = git.Repo(path)
        if not repo.remotes or repo.head.is_detached:
            return "unknown"
        remote = repo.remote()
        remote.fetch()
        tracking = f"{remote.name}/{repo.active_branch.name}"
        return "latest" if repo.head.commit.hexsha == repo.commit(tracking).hexsha else "behind"
    except (git.GitCommandError, git.InvalidGitRepositoryError, ValueError) as error:
        log.warning("Checking %s for updates failed: %s", path.name, error)
        return "unknown"


def update(path: Path) -> str:
    """Move the checkout to its remote branch's latest commit (A1111: fetch + reset --hard); the new hash."""
    import git

    repo = git.Repo(path)
    remote = repo.remote()
    remote.fetch()
    repo.git.reset("--hard", f"{remote.name}/{repo.active_branch.name}")
    return repo.head.commit.hexsha


def reexec_server() -> None:
    """Replace this process with a fresh one started the same way (the "restart" of Apply and restart UI)."""
    log.info("Restarting: %s %s", sys.executable, " ".join(sys.argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])
