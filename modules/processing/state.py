"""Mutable state of one running generation (A1111's ``p``), shared by the core and scripts.

``GenerationParams`` is what was asked and never changes; ``ProcessingState`` is what the run works with:
the final prompts and seeds per image, the infotext extras, the hooks of this job and the effective
settings. Scripts (extensions) receive it in their ``process``/``postprocess`` hooks, as A1111 scripts
receive ``p``, and may change prompts, seeds and ``extra_generation_params`` before sampling starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from modules.processing.hooks import HookRegistry
from modules.processing.params import GenerationParams


@dataclasses.dataclass
class ProcessingState:
    params: GenerationParams
    settings: Any  # SettingsView: shared settings with this request's overrides
    model: Any  # SDModel
    hooks: HookRegistry
    # the model the job started on: the infotext's "Model" even after a refiner or hires checkpoint took over
    job_model: Any = None
    job: Any = None
    sampler_name: str = ""
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    prompt: str = ""
    negative_prompt: str = ""
    all_prompts: list[str] = dataclasses.field(default_factory=list)
    all_negative_prompts: list[str] = dataclasses.field(default_factory=list)
    all_seeds: list[int] = dataclasses.field(default_factory=list)
    all_subseeds: list[int] = dataclasses.field(default_factory=list)
    seed: int = -1
    subseed: int = -1
    extra_generation_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    clip_skip: int = 1
    iteration: int = 0
    job_timestamp: str = ""
    # set while a batch runs
    prompts: list[str] = dataclasses.field(default_factory=list)
    negative_prompts: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    subseeds: list[int] = dataclasses.field(default_factory=list)
    script_args: dict[str, tuple] = dataclasses.field(default_factory=dict)
    # A1111's names: scripts set mask_round False to keep the latent mask soft (soft inpainting); paste_to is
    # where the batch's "Only masked" crop goes back (None otherwise)
    mask_round: bool = True
    paste_to: Any = None
    # filled by the run
    images: list[Any] = dataclasses.field(default_factory=list)
    infotexts: list[str] = dataclasses.field(default_factory=list)
    saved_paths: list[str] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)
    # the prompt's LoRAs and hypernetworks (job_networks.JobNetworks): applied to each model the job switches to
    networks: Any = None

    @property
    def is_img2img(self) -> bool:
        return self.params.is_img2img

    @property
    def sd_model(self) -> Any:
        """A1111's name for the model, for ported scripts."""
        return self.model
