"""The loaded-model record every other subsystem works with.

A checkpoint file becomes one ``SDModel``: diffusers' ``UNet2DConditionModel`` and ``AutoencoderKL`` plus a
text conditioner, with the facts about the architecture that processing needs (prediction type, latent
scale, whether it is an inpainting model). Processing, the UI, the API and extensions only see this record.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # heavy imports stay out of start-up
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel


@dataclasses.dataclass(frozen=True)
class ModelArch:
    """What a state dict is, inferred from its keys and shapes (see ``modules.models.detection``)."""

    family: str  # "sd1" | "sd2" | "sdxl" | "sdxl_refiner"
    prediction: str = "epsilon"  # "epsilon" | "v_prediction"
    unet_in_channels: int = 4  # 4 normal, 9 inpainting, 8 instruct-pix2pix
    latent_scale: float = 0.18215  # SD1/SD2 0.18215, SDXL 0.13025
    unet_config: dict = dataclasses.field(default_factory=dict, compare=False)  # diffusers UNet config
    vae_config: dict = dataclasses.field(default_factory=dict, compare=False)  # diffusers VAE config
    text_config: dict = dataclasses.field(default_factory=dict, compare=False)  # per text encoder configs

    @property
    def is_inpainting(self) -> bool:
        return self.unet_in_channels == 9

    @property
    def is_sdxl(self) -> bool:
        return self.family in ("sdxl", "sdxl_refiner")

    @property
    def label(self) -> str:
        names = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "sdxl_refiner": "SDXL refiner"}
        text = names.get(self.family, self.family)
        if self.is_inpainting:
            text += " inpainting"
        if self.unet_in_channels == 8:
            text += " instruct-pix2pix"
        if self.prediction == "v_prediction":
            text += " (v-prediction)"
        return text


@dataclasses.dataclass
class Conditioning:
    """Text conditioning for a batch: cross-attention states and, for SDXL, the pooled embedding."""

    crossattn: torch.Tensor  # [batch, tokens (77*k), dim]
    pooled: torch.Tensor | None = None  # [batch, dim] for SDXL
    embeddings_used: tuple[str, ...] = ()  # textual-inversion embeddings found in the prompts (TI hashes)


class TextConditioner(Protocol):
    """Turns A1111 prompt text (attention syntax, embeddings, BREAK) into ``Conditioning``."""

    def encode(self, prompts: list[str], clip_skip: int = 1) -> Conditioning: ...

    def count_tokens(self, prompt: str) -> tuple[int, int]:
        """(tokens used, current limit) as the UI counter shows it: ``12/75``, ``80/150``."""
        ...


@dataclasses.dataclass
class SDModel:
    """A loaded checkpoint: diffusers modules plus what is needed to run them."""

    arch: ModelArch
    checkpoint: Any  # modules.models.registry.CheckpointInfo
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    conditioner: TextConditioner
    device: torch.device
    dtype: torch.dtype  # UNet / text encoder dtype
    vae_dtype: torch.dtype
    scheduler_config: dict  # diffusers scheduler kwargs: num_train_timesteps, beta_*, prediction_type
    vae_info: Any = None  # the VAE file in use (None: the checkpoint's own)
    text_encoders: list = dataclasses.field(default_factory=list)  # transformers CLIP models, in context order
    unet_ldm_names: dict = dataclasses.field(default_factory=dict)  # LDM module path -> diffusers module path
    offloader: Any = None  # modules.models.offload.Offloader under --medvram/--lowvram
