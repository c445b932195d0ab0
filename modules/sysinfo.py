"""The system information A1111's Settings → Sysinfo downloads, with A1111's top-level keys where they apply.

Secrets are left out: the environment is reduced to variables that shape how the program runs, and settings
whose name says they hold a password, token or key are replaced by a marker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

ENVIRONMENT_WHITELIST = (
    "GIT",
    "INDEX_URL",
    "WEBUI_LAUNCH_LIVE_OUTPUT",
    "GRADIO_ANALYTICS_ENABLED",
    "PYTHONPATH",
    "TORCH_INDEX_URL",
    "TORCH_COMMAND",
    "REQS_FILE",
    "XFORMERS_PACKAGE",
    "CLIP_PACKAGE",
    "OPENCLIP_PACKAGE",
    "ASSETS_REPO",
    "STABLE_DIFFUSION_REPO",
    "K_DIFFUSION_REPO",
    "BLIP_REPO",
    "ASSETS_COMMIT_HASH",
    "STABLE_DIFFUSION_COMMIT_HASH",
    "K_DIFFUSION_COMMIT_HASH",
    "BLIP_COMMIT_HASH",
    "COMMANDLINE_ARGS",
    "IGNORE_CMD_ARGS_ERRORS",
    "CUDA_VISIBLE_DEVICES",
    "HF_HUB_OFFLINE",
)
SECRET_WORDS = ("auth", "password", "token", "secret", "key")
REDACTED = "<hidden>"


def redact_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Settings with anything that looks like a credential hidden (keys naming auth, password, token…)."""
    return {
        key: REDACTED if any(word in key.lower() for word in SECRET_WORDS) else value for key, value in values.items()
    }


def redact_commandline(argv: list[str]) -> list[str]:
    """The command line with the value after ``--gradio-auth``/``--api-auth`` (and ``--x=secret`` forms) hidden."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
            continue
        name = arg.split("=", 1)[0].lower()
        secret = arg.startswith("--") and any(word in name for word in SECRET_WORDS)
        if secret and "=" in arg:
            shown.append(f"{arg.split('=', 1)[0]}={REDACTED}")
        else:
            shown.append(arg)
            hide_next = secret
    return shown


def _checksum(data: dict[str, Any]) -> str:
    """A1111's ``Checksum``: sha256 of the report without the checksum itself, to spot hand edits."""
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ram() -> dict[str, Any]:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return {"total": f"{pages * size / 2**30:.1f}GB"}
    except (ValueError, OSError, AttributeError):
        return {}


def _torch_info() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {}
    return {
        "torch_version": torch.__version__,
        "is_cuda_available": torch.cuda.is_available(),
        "cuda_runtime_version": torch.version.cuda,
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def _packages() -> list[str]:
    names = sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in importlib_metadata.distributions())
    return [name for name in names if not name.startswith("None==")]


def _extensions(backend: Backend) -> tuple[list[dict], list[dict]]:
    manager = backend.extensions
    active, inactive = [], []
    for extension in getattr(manager, "extensions", None) or []:
        entry = {"name": extension.name, "path": str(extension.path), "builtin": extension.is_builtin}
        (active if extension.active else inactive).append(entry)
    return active, inactive


def gather(backend: Backend) -> dict[str, Any]:
    """The report as a dict (A1111's keys: Platform, Python, Version, Commandline, Torch env info, …)."""
    from modules.processing.outputs import VERSION

    paths = backend.paths
    active, inactive = _extensions(backend)
    models = backend.models
    report: dict[str, Any] = {
        "Platform": platform.platform(),
        "Python": platform.python_version(),
        "Version": VERSION,
        "Commit": "",
        "Git status": "",
        "Script path": str(paths.program),
        "Data path": str(paths.data),
        "Extensions dir": str(paths.extensions),
        "Commandline": redact_commandline(list(sys.argv)),
        "Torch env info": _torch_info(),
        "Exceptions": list(getattr(models, "warnings", []) or []) + list(backend.warnings),
        "CPU": {"model": platform.processor() or platform.machine(), "count logical": os.cpu_count()},
        "RAM": _ram(),
        "Extensions": active,
        "Inactive extensions": inactive,
        "Environment": {key: os.environ[key] for key in ENVIRONMENT_WHITELIST if key in os.environ},
        "Config": redact_settings(dict(backend.settings.data())),
        "Startup": {"status": backend.status},
        "Packages": _packages(),
    }
    report["Checksum"] = _checksum(report)
    return report


def mount_routes(app: Any, backend: Backend) -> None:
    """``/internal/sysinfo`` (JSON) and ``/internal/sysinfo-download`` (the same as a file), as A1111."""
    from fastapi.responses import Response

    def body() -> str:
        return json.dumps(gather(backend), indent=4, ensure_ascii=False, default=str)

    @app.get("/internal/sysinfo", include_in_schema=False)
    def sysinfo():
        return Response(body(), media_type="application/json")

    @app.get("/internal/sysinfo-download", include_in_schema=False)
    def sysinfo_download():
        from datetime import datetime

        name = f"sysinfo-{datetime.now().strftime('%Y-%m-%d-%H-%M')}.json"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(body(), media_type="application/json", headers=headers)
