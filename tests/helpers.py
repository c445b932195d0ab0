"""Test helpers shared by several test modules (not fixtures: plain functions)."""

from __future__ import annotations

from pathlib import Path


def make_backend(data_dir: Path, args: list[str] | None = None, load_model: bool = True, preload: bool = False):
    """A Backend exactly as webui.py builds it, with its data under ``data_dir``, ready to generate
    (``preload``: with the flags extensions' preload.py files add, as webui.py parses them)."""
    import webui
    from modules.extensions.preload import collect_preload_hooks
    from modules.settings.cli import parse_flags

    argv = ["--data-dir", str(data_dir), *(args or [])]
    flags = parse_flags(argv, extra=collect_preload_hooks(argv) if preload else ())
    backend = webui.build_backend(flags)
    backend.start_background_init(load_model=False)
    assert backend.wait_ready(120), "backend did not start"
    if backend.models is None:
        raise RuntimeError(backend.status)
    if load_model:
        info = backend.models.startup_checkpoint()
        if info is not None:
            backend.jobs.run(lambda job: backend.models.load(info))
    return backend
