"""A1111's ``launch`` / ``modules.launch_utils`` for extension installers: ``is_installed``, ``run_pip``, ``run``,
``git_tag``, ``commit_hash``, ``args``.

``run_pip`` goes through ``modules.extensions.pip_guard``: the app's packages stay at their versions.
``args`` are the server's flags (inside the server), or those the installer passed in ``WEBUI_LAUNCH_ARGS``
(inside an ``install.py`` subprocess).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import os
import shlex
import subprocess
import sys
from typing import Any

from modules.extensions import bridge

log = logging.getLogger(__name__)

python = sys.executable
git = os.environ.get("GIT", "git")
index_url = os.environ.get("INDEX_URL", "")
default_command_live = os.environ.get("WEBUI_LAUNCH_LIVE_OUTPUT") == "1"
dir_repos = "repositories"
ARGS_ENV = "WEBUI_LAUNCH_ARGS"


def is_installed(package: str) -> bool:
    try:
        return importlib.metadata.distribution(package) is not None
    except importlib.metadata.PackageNotFoundError:
        try:
            return importlib.util.find_spec(package) is not None
        except (ModuleNotFoundError, ValueError):
            return False


def run(
    command: str | list[str],
    desc: str | None = None,
    errdesc: str | None = None,
    custom_env: dict | None = None,
    live: bool = default_command_live,
) -> str:  # noqa: E501
    """Run a shell command; its output, or RuntimeError naming ``errdesc`` with the output when it fails."""
    if desc:
        log.info(desc)
    result = subprocess.run(
        command,
        shell=isinstance(command, str),
        env=os.environ if custom_env is None else custom_env,
        capture_output=not live,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = "\n".join(filter(None, [result.stdout, result.stderr]))
        raise RuntimeError(
            f"{errdesc or 'Error running command'}.\nCommand: {command}\nError code: {result.returncode}\n{output}"
        )
    return result.stdout or ""


def run_pip(command: str, desc: str | None = None, live: bool = default_command_live) -> str:
    """``run_pip("install x", "x")``: pip under the app's constraints; RuntimeError when pip refuses."""
    from modules.extensions.pip_guard import install_guarded

    args = shlex.split(command) + ["--prefer-binary"]
    if index_url:
        args += ["--index-url", index_url]
    if desc:
        log.info("Installing %s", desc)
    code = install_guarded(args)
    if code != 0:
        raise RuntimeError(f"Couldn't install {desc or command} (pip exit code {code})")
    return ""


def run_python(code: str, desc: str | None = None, errdesc: str | None = None) -> str:
    return run([python, "-c", code], desc, errdesc)


def _git(*args: str) -> str:
    program_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        return subprocess.check_output([git, "-C", program_dir, *args], text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "<none>"


def commit_hash() -> str:
    return _git("rev-parse", "HEAD")


def git_tag() -> str:
    tag = _git("describe", "--tags")
    return tag if tag != "<none>" else commit_hash()[:8]


def _args() -> argparse.Namespace:
    context = bridge.current_or_fallback()
    if context is not None:
        return context.flags
    from modules.settings.cli import build_parser

    argv = json.loads(os.environ.get(ARGS_ENV, "[]") or "[]")
    known, _ = build_parser().parse_known_args(argv)
    return known


def __getattr__(name: str) -> Any:
    if name == "args":
        return _args()
    raise AttributeError(f"module 'launch' has no attribute {name!r}")
