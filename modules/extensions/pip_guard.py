"""Extensions install their requirements with pip; the app's own packages must never change.

Every pip run an extension causes (``launch.run_pip``, or ``install.py`` calling ``python -m pip`` itself)
gets a constraints file (``PIP_CONSTRAINT``) that fixes each package of the app's requirements, and of
everything those depend on, to the version installed now. A requirement that needs another version fails
in pip's resolver instead of replacing it. ``install_guarded`` then makes the one exception A1111 users rely
on: when the conflict comes from optional *extras* of a requirement (``dynamicprompts[magicprompt]`` needs
transformers below 5), the base package is installed without them and the dropped extras are reported.

How ``install.py``'s own ``python -m pip`` is reached: the installer puts ``pipshim/`` first on its
``PYTHONPATH``; its ``pip`` package runs ``install_guarded`` and the real pip in a child process.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PROGRAM_DIR = Path(__file__).resolve().parent.parent.parent
SHIM_DIR = Path(__file__).resolve().parent / "pipshim"
REPORT_ENV = "WEBUI_PIP_REPORT"
SHIM_ACTIVE_ENV = "WEBUI_PIP_SHIM_DEPTH"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRAS = re.compile(r"^(\s*[A-Za-z0-9][A-Za-z0-9._-]*)\s*\[([^\]]*)\](.*)$", re.S)
CONFLICT_MARKERS = ("ResolutionImpossible", "conflicting dependencies", "Cannot install", "No matching distribution")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def app_requirement_names(requirements: Path = PROGRAM_DIR / "requirements.txt") -> list[str]:
    names = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = _NAME.match(line) if line and not line.startswith("-") else None
        if match:
            names.append(match.group(1))
    return names


def _dependencies(dist: importlib.metadata.Distribution) -> list[str]:
    """Names a distribution needs (extras and non-matching platform markers left out)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None:
            try:
                if not requirement.marker.evaluate({"extra": ""}):
                    continue
            except Exception:  # an unusual marker: count the dependency, constraining more is safe
                pass
        names.append(requirement.name)
    return names


def protected_versions(roots: Iterable[str]) -> dict[str, str]:
    """Installed version of every root package and of everything it depends on (canonical name -> version)."""
    found: dict[str, str] = {}
    pending = list(roots)
    while pending:
        name = canonical(pending.pop())
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist.version
        pending.extend(_dependencies(dist))
    return found


def write_constraints(path: Path, versions: dict[str, str] | None = None) -> Path:
    """A pip constraints file pinning the app's packages (and their dependencies) to what is installed."""
    versions = versions if versions is not None else protected_versions(app_requirement_names())
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by the WebUI: extensions may add packages, never change these."]
    lines += [f"{name}=={version}" for name, version in sorted(versions.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def strip_extras(requirement: str) -> tuple[str, list[str]]:
    """``"pkg[a,b]~=1.0"`` -> ``("pkg~=1.0", ["a", "b"])``; a requirement without extras is returned as is.

    >>> strip_extras("dynamicprompts[attentiongrabber,magicprompt]~=0.31.0")
    ('dynamicprompts~=0.31.0', ['attentiongrabber', 'magicprompt'])
    """
    match = _EXTRAS.match(requirement)
    if not match:
        return requirement, []
    extras = [e.strip() for e in match.group(2).split(",") if e.strip()]
    return f"{match.group(1)}{match.group(3)}", extras


def conflict_details(output: str, protected: Iterable[str] = ()) -> str:
    """The lines of pip's resolver error a user needs: what depends on what, and the pinned packages named."""
    keep = [
        line.strip()
        for line in output.splitlines()
        if " depends on " in line or "requested" in line or "Cannot install" in line or "No matching" in line
    ]
    mentioned = sorted({name for name in protected if re.search(rf"\b{re.escape(name)}\b", output, re.I)})
    detail = "; ".join(dict.fromkeys(keep)) or output.strip().splitlines()[-1:][0] if output.strip() else ""
    if mentioned:
        detail += f" (the app pins {', '.join(mentioned)})"
    return detail


def report(message: str) -> None:
    """Tell the installer that started us (``WEBUI_PIP_REPORT``), and the log."""
    log.warning(message)
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"message": message}) + "\n")


def _real_pip(args: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "pip", *args], env=env, capture_output=True, text=True, check=False)
    output = (result.stdout or "") + (result.stderr or "")
    sys.stdout.write(result.stdout or "")
    sys.stderr.write(result.stderr or "")
    return result.returncode, output


def child_env(constraints: Path | None = None) -> dict[str, str]:
    """This environment without the shim on ``PYTHONPATH`` (so ``-m pip`` is the real pip), constraints kept."""
    env = dict(os.environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != SHIM_DIR]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    if constraints is not None:
        env["PIP_CONSTRAINT"] = str(constraints)
    return env


def install_guarded(args: Sequence[str], constraints: Path | None = None) -> int:
    """Run ``pip *args`` under the constraints; on a conflict from extras, retry without them. pip's exit code."""
    env = child_env(constraints)
    if not env.get("PIP_CONSTRAINT"):
        env["PIP_CONSTRAINT"] = str(write_constraints(Path(env.get("TMPDIR", "/tmp")) / "webui-pip-constraints.txt"))
    code, output = _real_pip(args, env)
    if code == 0 or not args or args[0] != "install" or not any(m in output for m in CONFLICT_MARKERS):
        return code
    protected = [line.split("==")[0] for line in Path(env["PIP_CONSTRAINT"]).read_text().splitlines()[1:]]
    detail = conflict_details(output, protected)
    stripped = [strip_extras(arg) if not arg.startswith("-") else (arg, []) for arg in args]
    dropped = {base: extras for base, extras in stripped if extras}
    if not dropped:
        report(f"pip refused {' '.join(args[1:])}: it would change packages the app pins: {detail}")
        return code
    code, output = _real_pip([base for base, _ in stripped], env)
    for base, extras in dropped.items():
        if code == 0:
            report(
                f"installed {base} without its extras {', '.join(extras)}: they need versions the app pins "
                f"differently: {detail}"
            )
        else:
            report(f"pip refused {base}: it would change packages the app pins: {conflict_details(output, protected)}")
    return code
