"""Jobs as data: what the front process sends to a replica, built from the front's own state.

A ``JobSpec`` holds only plain values (frozen parameters, the settings snapshot, model names and hashes), never
closures or live objects, so it crosses a process or machine boundary by pickling alone. The replica checks
the names and hashes against its own models folder and refuses a mismatch (``ModelMismatch``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from modules.processing.params import GenerationParams
from modules.processing.prompt_parser import extract_extra_networks

# Settings a replica must never act on: the front saves images and grids itself.
REPLICA_SETTINGS = {"samples_save": False, "grid_save": False, "return_grid": False}


class ModelMismatch(ValueError):
    """A replica's file for a checkpoint/VAE/LoRA is missing or has a different hash than the front's."""


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """One model file as the front knows it: its list name and full sha256 (None when not hashed)."""

    kind: str  # "checkpoint" | "vae" | "lora"
    name: str
    sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """One piece of a generation job for one replica.

    ``iterations`` are the batch indices (of ``params.n_iter``) this piece runs; None means the whole job
    (selected scripts, which loop over the pipeline themselves, are never split).
    """

    job_id: str
    params: GenerationParams
    settings: Mapping[str, Any]
    checkpoint: ModelRef
    vae: ModelRef | None = None
    loras: tuple[ModelRef, ...] = ()
    iterations: tuple[int, ...] | None = None

    @property
    def model_id(self) -> str:
        """The multiplexing key: replicas holding this checkpoint get the request first."""
        return self.checkpoint.sha256 or self.checkpoint.name


def lora_names(params: GenerationParams) -> list[str]:
    """LoRA names called in the prompt (``<lora:name:weight>``), in order, without repeats.

    >>> lora_names(GenerationParams(prompt="a <lora:ink:0.5> cat <lora:ink:1>, <lora:fog:1>"))
    ['ink', 'fog']
    """
    names: list[str] = []
    for call in extract_extra_networks(params.prompt)[1]:
        if call.kind == "lora" and call.name not in names:
            names.append(call.name)
    return names


def split_iterations(params: GenerationParams) -> list[tuple[int, ...] | None]:
    """The pieces of a job: one per batch (``n_iter``), or the whole job when a selected script runs it.

    >>> split_iterations(GenerationParams(n_iter=3))
    [(0,), (1,), (2,)]
    >>> split_iterations(GenerationParams(n_iter=3, script_name="x/y/z plot"))
    [None]
    """
    if params.script_name:
        return [None]
    return [(index,) for index in range(params.n_iter)]


def replica_settings(front_settings: Mapping[str, Any], checkpoint_title: str) -> dict[str, Any]:
    """The settings a replica runs with: the front's values, its checkpoint, and no saving of its own."""
    values = dict(front_settings)
    values["sd_model_checkpoint"] = checkpoint_title
    values.update(REPLICA_SETTINGS)
    return values


def strip_checkpoint_override(params: GenerationParams) -> GenerationParams:
    """The parameters without a per-request checkpoint override: the spec names the checkpoint instead."""
    if "sd_model_checkpoint" not in params.override_settings:
        return params
    overrides = {k: v for k, v in params.override_settings.items() if k != "sd_model_checkpoint"}
    return dataclasses.replace(params, override_settings=overrides)


def check_hash(ref: ModelRef, local_sha256: str | None, local_name: str) -> None:
    """Raise ModelMismatch when both sides know a hash and they differ."""
    if ref.sha256 and local_sha256 and ref.sha256 != local_sha256:
        raise ModelMismatch(
            f"{ref.kind} {ref.name!r}: this worker's file {local_name!r} has sha256 {local_sha256[:10]}, "
            f"the front's has {ref.sha256[:10]}; sync the models folders"
        )
