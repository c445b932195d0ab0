"""Rendering from inside a selectable script: ``process_images(p, **changes)``.

A selectable script (X/Y/Z plot, Prompt matrix...) receives the job's ``ProcessingState`` and renders many
image sets. Each set goes through the normal path (seeds, always-on scripts, hooks, saving) by calling the
pipeline's ``generate`` again *inside the same job* (the job queue has one worker, so submitting a new job
would wait forever). The copy never names a selectable script, so the call cannot recurse.

Changes may be given as ``GenerationParams`` fields, or made A1111-style by assigning to ``p.prompt``,
``p.seed``, ``p.steps``... before the call: the current values of ``p`` are the starting point.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from modules.extensions import bridge
from modules.processing.params import GenerationParams

log = logging.getLogger(__name__)

STATE_FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "subseed",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "sampler_name",
    "scheduler",
    "batch_size",
    "n_iter",
)


def params_from_state(p: Any, **changes: Any) -> GenerationParams:
    """``p.params`` with ``p``'s current values (styles already applied, seeds fixed) and ``changes``."""
    base: GenerationParams = p.params
    fields: dict[str, Any] = {name: getattr(p, name) for name in STATE_FIELDS}
    fields.update(styles=(), script_name=None, script_args=())
    overrides = dict(base.override_settings)
    overrides.update(changes.pop("override_settings", None) or {})
    fields["override_settings"] = overrides
    unknown = set(changes) - {f.name for f in dataclasses.fields(GenerationParams)}
    if unknown:
        raise TypeError(f"process_images: unknown GenerationParams fields {sorted(unknown)}")
    fields.update(changes)
    return dataclasses.replace(base, **fields)


def process_images(p: Any, **changes: Any) -> Any:
    """Render one image set like a normal generation, within the running job; returns a ``Processed``."""
    context = bridge.current()
    params = params_from_state(p, **changes)
    params.validate()
    from modules.processing.pipeline import generate  # heavy: torch

    return generate(context.backend_for_processing, params, p.job)
