"""Extension installers never change the app's packages (``modules/extensions/pip_guard.py``).

Wheels are built here by hand (a zip with METADATA/WHEEL/RECORD) and installed with ``--no-index``, so the
test needs no network: ``guard-probe[clash]``'s extra needs ``transformers<5`` (the app pins 5.x) and is left
out while the base package installs; ``guard-bad`` itself needs ``transformers<5`` and is refused, failing
its extension. ``pip freeze`` of the app's packages is the same before and after.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from modules.extensions import installer, pip_guard
from modules.extensions.discovery import Extension
from modules.extensions.metadata import read_metadata


def make_wheel(folder: Path, name: str, requires: list[str], extras: dict[str, list[str]]) -> Path:
    module = name.replace("-", "_")
    dist_info = f"{module}-1.0.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    for extra, needs in extras.items():
        metadata.append(f"Provides-Extra: {extra}")
        metadata += [f'Requires-Dist: {r}; extra == "{extra}"' for r in needs]
    files = {
        f"{module}/__init__.py": "VALUE = 1\n",
        f"{dist_info}/METADATA": "\n".join(metadata) + "\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    path = folder / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for relative, text in files.items():
            archive.writestr(relative, text)
    return path


def freeze_of(names: set[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if pip_guard.canonical(line.split("==")[0]) in names)


def extension(root: Path, name: str, install_py: str) -> Extension:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "install.py").write_text(textwrap.dedent(install_py), encoding="utf-8")
    return Extension(name, folder, False, read_metadata(folder))


def uninstall(*names: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", *names], capture_output=True, check=False)


def test_strip_extras_and_protected_set():
    assert pip_guard.strip_extras("pkg[a, b]>=1") == ("pkg>=1", ["a", "b"])
    assert pip_guard.strip_extras("plain==2") == ("plain==2", [])
    protected = pip_guard.protected_versions(["transformers"])
    assert protected["transformers"] == importlib.metadata.version("transformers")
    assert "huggingface-hub" in protected  # a dependency of a pinned package is protected too


def test_install_py_cannot_change_pins_conflicting_extras_are_left_out(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "guard-probe", [], {"clash": ["transformers<5"]})
    make_wheel(wheels, "guard-bad", ["transformers<5"], {})
    pip = f"[sys.executable, '-m', 'pip', 'install', '--no-index', '--find-links', {str(wheels)!r}"
    probe = extension(
        tmp_path / "extensions",
        "probe-ext",
        f"import subprocess, sys\nsubprocess.check_call({pip}, 'guard-probe[clash]'])\n",
    )
    bad = extension(
        tmp_path / "extensions",
        "bad-ext",
        f"import launch\nlaunch.run_pip(f'install --no-index --find-links {wheels} guard-bad', 'guard-bad')\n",
    )
    names = set(pip_guard.protected_versions(pip_guard.app_requirement_names()))
    before = freeze_of(names)
    try:
        record = installer.InstallRecord(tmp_path / "cache" / "installs.json")
        installer.run_installers([probe, bad], record, constraints_dir=tmp_path / "cache")
        assert importlib.metadata.version("guard-probe") == "1.0"
        assert not probe.failed and any("clash" in note and "transformers" in note for note in probe.notes)
        assert bad.failed and not bad.active and "guard-bad" in bad.status and "transformers" in bad.status
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version("guard-bad")
        assert freeze_of(names) == before
    finally:
        uninstall("guard-probe", "guard-bad")
