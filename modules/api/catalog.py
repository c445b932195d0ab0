"""What the listing routes return: models, VAEs, LoRAs, embeddings, samplers, upscalers, styles, memory...

Plain functions from the Backend to A1111's JSON shapes, so the route table in ``routes`` stays one line per
route. Lists we have nothing for (Real-ESRGAN models) are empty: clients call them all and expect a list.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.processing.samplers import list_samplers, list_schedulers

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)


def samplers() -> list[dict[str, Any]]:
    # A1111's SamplerItem.options is dict[str, str]: its pydantic 1 turned True into "True".
    return [{**item.api_item(), "options": {k: str(v) for k, v in item.options.items()}} for item in list_samplers()]


def schedulers() -> list[dict[str, Any]]:
    return [item.api_item() for item in list_schedulers()]


def upscalers(backend: Backend) -> list[dict[str, Any]]:
    items = []
    for entry in backend.upscalers.list():
        items.append(
            {
                "name": entry.name,
                "model_name": entry.path.parent.name if entry.kind == "model" and entry.path else None,
                "model_path": str(entry.path) if entry.path else None,
                "model_url": None,
                "scale": entry.scale,
            }
        )
    return items


def face_restorers(backend: Backend) -> list[dict[str, Any]]:
    """A1111's list: CodeFormer and GFPGAN with the folder each reads its weights from."""
    from modules.models.safe_text import printable_name

    return [{"name": name, "cmd_dir": printable_name(folder)} for name, folder in backend.face_restorers.folders()]


def latent_upscale_modes(backend: Backend) -> list[dict[str, str]]:
    return [{"name": name} for name in backend.upscalers.latent_modes()]


def sd_models(backend: Backend) -> list[dict[str, Any]]:
    items = []
    for info in backend.require_models().checkpoints():
        yaml_path = getattr(info, "yaml_path", None)
        items.append(
            {
                "title": info.title,
                "model_name": info.model_name,
                "hash": info.short_hash,
                "sha256": info.sha256,
                "filename": str(info.path),
                "config": str(yaml_path) if yaml_path is not None and Path(yaml_path).is_file() else None,
            }
        )
    return items


def sd_vaes(backend: Backend) -> list[dict[str, str]]:
    return [{"model_name": info.name, "filename": str(info.path)} for info in backend.require_models().vaes()]


def loras(backend: Backend) -> list[dict[str, Any]]:
    items = []
    for lora in backend.require_models().loras():
        name = getattr(lora, "name", None) or Path(str(lora.path)).stem
        metadata = getattr(lora, "metadata", None)
        items.append(
            {
                "name": name,
                "alias": getattr(lora, "alias", None) or name,
                "path": str(lora.path),
                "metadata": dict(metadata) if isinstance(metadata, dict) else {},
            }
        )
    return items


def hypernetworks(backend: Backend) -> list[dict[str, str]]:
    """A1111's ``[{name, path}]`` of the hypernetworks folder, scanned at each call (also while models load)."""
    from modules.models.networks import scan_hypernetworks

    found = scan_hypernetworks(getattr(backend.paths, "hypernetworks", None))
    return [{"name": info.name, "path": str(info.path)} for info in found]


def _embedding_item(embedding: Any) -> dict[str, Any]:
    widths = embedding.widths() if hasattr(embedding, "widths") else {}
    return {
        "step": getattr(embedding, "step", None),
        "sd_checkpoint": getattr(embedding, "sd_checkpoint", None),
        "sd_checkpoint_name": getattr(embedding, "sd_checkpoint_name", None),
        "shape": int(next(iter(widths.values()), 0)),
        "vectors": int(getattr(embedding, "count", 0) or 0),
    }


def embeddings(backend: Backend) -> dict[str, dict[str, Any]]:
    """``{"loaded": {name: item}, "skipped": {name: item}}``: which embeddings suit the loaded model.

    With no model loaded every embedding counts as loaded (A1111 would list none before its first load).
    """
    manager = backend.require_models()
    model = manager.current
    conditioner = getattr(model, "conditioner", None)
    widths = conditioner.encoder_widths() if hasattr(conditioner, "encoder_widths") else None
    loaded: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for embedding in manager.embeddings():
        fits = widths is None or not hasattr(embedding, "fits") or embedding.fits(widths)
        (loaded if fits else skipped)[embedding.name] = _embedding_item(embedding)
    return {"loaded": loaded, "skipped": skipped}


def prompt_styles(backend: Backend) -> list[dict[str, str]]:
    database = backend.styles
    database.reload()  # styles.csv may have been edited by hand
    return [
        {"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
        for s in (database.get(name) for name in database.names())
        if s is not None
    ]


def extensions(backend: Backend) -> list[dict[str, Any]]:
    """Installed extensions; from the extension registry when there is one, else from the folders."""
    registry = backend.extensions
    if registry is not None and hasattr(registry, "api_items"):
        return list(registry.api_items())
    from modules.extensions.preload import extension_dirs

    disabled = set(backend.settings.get("disabled_extensions") or [])
    return [
        {
            "name": d.name,
            "remote": "",
            "branch": "",
            "commit_hash": "",
            "version": "",
            "commit_date": 0,
            "enabled": d.name not in disabled,
        }
        for d in extension_dirs(backend.paths.data)
    ]


def memory() -> dict[str, Any]:
    """RAM of this process's machine and, when torch is already loaded and sees a GPU, CUDA statistics."""
    try:
        import psutil

        process = psutil.Process(os.getpid())
        rss = process.memory_info().rss
        total = psutil.virtual_memory().total
        ram: dict[str, Any] = {"free": total - rss, "used": rss, "total": total}
    except (ImportError, OSError) as error:
        ram = {"error": str(error)}
    torch = sys.modules.get("torch")  # never import torch just to answer this
    if torch is None or not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "unavailable"}}
    try:
        free, total = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()

        def pair(name: str) -> dict[str, int]:
            return {"current": stats.get(f"{name}.all.current", 0), "peak": stats.get(f"{name}.all.peak", 0)}

        cuda = {
            "system": {"free": free, "used": total - free, "total": total},
            "active": pair("active_bytes"),
            "allocated": pair("allocated_bytes"),
            "reserved": pair("reserved_bytes"),
            "inactive": pair("inactive_split_bytes"),
            "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)},
        }
    except RuntimeError as error:
        cuda = {"error": str(error)}
    return {"ram": ram, "cuda": cuda}
