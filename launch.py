"""Start the WebUI: make sure the virtual environment and requirements exist, then run webui.py in it.

    python launch.py [flags]        start the server (see --help)
    python launch.py --test [args]  install test requirements too, then run the whole test suite

The requirement check compares installed versions with importlib.metadata and costs milliseconds when
everything is in place; pip only runs when something is missing or has the wrong version. Nothing heavy is
imported here.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / "venv"
REQUIREMENTS = ROOT / "requirements.txt"
TEST_REQUIREMENTS = ROOT / "requirements-test.txt"
RAY_REQUIREMENTS = ROOT / "requirements-ray.txt"  # optional extra: --workers ray, and the test suite
DEFAULT_TORCH_COMMAND = "pip install torch==2.13.0"
# Installed without their declared dependencies, because those dependencies include torchvision, which
# cannot be installed here and which we never import:
# - open_clip_torch carries the standard CLIP BPE vocabulary (open_clip/bpe_simple_vocab_16e6.txt.gz) that
#   the offline tokenizers are built from; its Python code is never imported.
# - spandrel and spandrel-extra-arches recognise upscaler and face-restorer files (ESRGAN, SwinIR, DAT,
#   HAT, GFPGAN, CodeFormer, ...). Only their LaMa and RestoreFormer modules import torchvision, at package
#   import; modules/upscaling/spandrel_loader.py imports them with a placeholder and refuses those two.
#   Their other dependency, einops, is pinned in requirements.txt.
NO_DEPS_REQUIREMENTS = ["open_clip_torch==3.3.0", "spandrel==0.4.2", "spandrel-extra-arches==0.2.0"]

_REQ_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(==\s*([^\s;#]+))?")


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV_DIR / "Scripts" / "python.exe"
    return VENV_DIR / "bin" / "python"


def parse_requirements(path: Path) -> list[tuple[str, str | None]]:
    """(name, pinned version or None) for each requirement line; comments and options are skipped."""
    result = []
    if not path.exists():
        return result
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _REQ_LINE.match(line)
        if match:
            name = re.sub(r"\[.*\]", "", match.group(1))
            result.append((name, match.group(3)))
    return result


def missing_requirements(requirements: list[tuple[str, str | None]]) -> list[str]:
    """Requirements that are absent or at another version than the pin (local builds like +cpu count)."""
    missing = []
    for name, version in requirements:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{name}=={version}" if version else name)
            continue
        if version and installed.split("+", 1)[0] != version:
            missing.append(f"{name}=={version}")
    return missing


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    print("Running:", " ".join(shlex.quote(part) for part in command), flush=True)
    subprocess.run(command, check=True)


def install_requirements(with_tests: bool, with_ray: bool = False) -> None:
    """Install what is missing; the check alone is fast enough to run on every start."""
    requirements = parse_requirements(REQUIREMENTS)
    torch_pins = [(name, version) for name, version in requirements if name == "torch"]
    if missing_requirements(torch_pins):
        torch_command = os.environ.get("TORCH_COMMAND", DEFAULT_TORCH_COMMAND)
        parts = shlex.split(torch_command)
        if parts and parts[0] == "pip":
            parts = parts[1:]
        pip(*parts)
    if missing_requirements(requirements):
        pip("install", "-r", str(REQUIREMENTS))
    no_deps = [parse_requirements_line(line) for line in NO_DEPS_REQUIREMENTS]
    if missing_requirements(no_deps):
        pip("install", "--no-deps", *NO_DEPS_REQUIREMENTS)
    if with_tests:
        if missing_requirements(parse_requirements(TEST_REQUIREMENTS)):
            pip("install", "-r", str(TEST_REQUIREMENTS))
        ensure_chromium()
    if (with_tests or with_ray) and missing_requirements(parse_requirements(RAY_REQUIREMENTS)):
        pip("install", "-r", str(RAY_REQUIREMENTS))


def parse_requirements_line(line: str) -> tuple[str, str | None]:
    match = _REQ_LINE.match(line)
    return match.group(1), match.group(3)


def ensure_chromium() -> None:
    """Browser tests drive Debian's Chromium; install it through apt-get when it is missing."""
    if Path("/usr/bin/chromium").exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print("Browser tests need /usr/bin/chromium (Debian package 'chromium'); apt-get is not available.")
        return
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else [])
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("Installing Debian's chromium for the browser tests (apt-get)...", flush=True)
    subprocess.run([*prefix, apt, "-qq", "update"], check=False, env=env)
    subprocess.run(
        [
            *prefix,
            apt,
            "-qq",
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "fonts-noto-cjk",
            "fonts-noto-color-emoji",
        ],
        check=True,
        env=env,
    )


def ensure_venv(argv: list[str]) -> None:
    """Re-run this script with venv/'s Python (creating venv/ first) unless already in a virtualenv."""
    if in_virtualenv() or "--skip-venv" in argv:
        return
    python = venv_python()
    if not python.exists():
        print(f"Creating virtual environment in {VENV_DIR}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *argv])


def run_tests(pytest_args: list[str]) -> int:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1"
    )
    command = [sys.executable, "-m", "pytest", *pytest_args]
    print("Running:", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def _wants_ray(argv: list[str]) -> bool:
    """True for ``--workers ray`` / ``--workers=ray``."""
    # strict=False: neighbouring pairs: one fewer than the arguments
    return "--workers=ray" in argv or any(a == "--workers" and b == "ray" for a, b in zip(argv, argv[1:], strict=False))


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    testing = "--test" in argv
    if testing:
        index = argv.index("--test")
        launcher_args, pytest_args = argv[:index], argv[index + 1 :]
    else:
        sys.path.insert(0, str(ROOT))
        from modules.extensions.preload import collect_preload_hooks
        from modules.settings.cli import parse_flags

        parse_flags(argv, extra=collect_preload_hooks(argv))  # --help and unknown flags end here
        launcher_args, pytest_args = argv, []
    ensure_venv(argv)
    if "--skip-install" not in launcher_args:
        install_requirements(with_tests=testing, with_ray=_wants_ray(launcher_args))
        print(f"Requirements checked in {time.perf_counter() - started:.2f} s", flush=True)
    if testing:
        return run_tests(pytest_args)
    sys.path.insert(0, str(ROOT))
    import webui

    return webui.main(argv)


A1111_NAMES = ("is_installed", "run_pip", "run", "run_python", "git_tag", "commit_hash", "args", "python", "index_url")


def __getattr__(name: str):  # A1111's installer API for extensions' install.py (modules/a1111/launch_utils.py)
    if name not in A1111_NAMES:
        raise AttributeError(f"module 'launch' has no attribute {name!r}")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from modules.a1111 import launch_utils

    return getattr(launch_utils, name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
