"""VAE use and VAE swapping.

``decode_latents`` / ``encode_images`` are what processing calls: they scale latents by the model's latent
factor, run the VAE in its dtype and, when an fp16 VAE overflows into NaN (common with the SDXL VAE), run
again in float32, keep the VAE in float32 from then on and log it (A1111's "Automatically revert VAE to
32-bit floats"; ``--no-half-vae`` starts that way).

``load_vae_weights`` swaps in the weights of a VAE file by copying them into the model's existing VAE
module: the UNet, text encoders and the VAE module object stay the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.models import conversion
from modules.models.arch_config import vae_config_from_shapes
from modules.models.detection import detect
from modules.models.errors import ModelLoadError
from modules.models.statedict import open_state_dict

if TYPE_CHECKING:
    import torch

    from modules.models.sd_model import SDModel

log = logging.getLogger(__name__)

_SHAPE_KEYS = ("block_out_channels", "latent_channels", "layers_per_block", "in_channels", "out_channels")


def _upcast(model: SDModel, what: str) -> None:
    import torch

    log.warning(
        "The VAE produced NaNs while %s in %s; it was switched to float32 and the step redone "
        "(start with --no-half-vae to avoid the retry)",
        what,
        str(model.vae_dtype).removeprefix("torch."),
    )
    model.vae.to(torch.float32)
    model.vae_dtype = torch.float32


def _vae_device(model: SDModel) -> torch.device:
    return model.device


def decode_latents(model: SDModel, latents: torch.Tensor, auto_upcast: bool = True) -> torch.Tensor:
    """Latents ``[B, 4, h, w]`` -> images ``[B, 3, 8h, 8w]`` float32 in [0, 1] on the model's device."""
    import torch

    with torch.no_grad():
        scaled = latents.to(_vae_device(model), torch.float32) / model.arch.latent_scale
        images = model.vae.decode(scaled.to(model.vae_dtype)).sample
        if not torch.isfinite(images).all():
            if auto_upcast and model.vae_dtype != torch.float32:
                _upcast(model, "decoding")
                images = model.vae.decode(scaled).sample
            if not torch.isfinite(images).all():
                log.error("VAE decode produced NaN/inf values; they are replaced by black")
                images = torch.nan_to_num(images, nan=-1.0, posinf=1.0, neginf=-1.0)
        return ((images.float() + 1) / 2).clamp(0, 1)


def encode_images(
    model: SDModel,
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    auto_upcast: bool = True,
    *,
    per_image: bool = True,
) -> torch.Tensor:
    """Images ``[B, 3, H, W]`` in [0, 1] -> scaled latents ``[B, 4, H/8, W/8]`` (sampled, as A1111 does).

    The posterior's noise comes from ``generator`` (a CPU generator: A1111 samples the encoder's distribution
    on the CPU from its global generator, which its seeds set; callers pass one seeded the same way so the
    same request gives the same latents). ``per_image``: one draw per image, as A1111 encodes a batch image by
    image; otherwise one draw for the whole batch (A1111's inpainting conditioning). Without a generator the
    noise comes from torch's global generator.
    """
    import torch

    with torch.no_grad():
        pixels = images.to(_vae_device(model), torch.float32) * 2 - 1

        def draw(shape: Any) -> torch.Tensor:
            if not per_image or shape[0] == 1:
                return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
            return torch.cat([torch.randn((1, *shape[1:]), generator=generator) for _ in range(shape[0])])

        def run(noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
            posterior = model.vae.encode(pixels.to(model.vae_dtype)).latent_dist
            if noise is None:
                noise = draw(posterior.mean.shape)
            noise = noise.to(posterior.mean.device)
            return posterior.mean.float() + posterior.std.float() * noise, noise

        latents, noise = run(None)
        if not torch.isfinite(latents).all() and auto_upcast and model.vae_dtype != torch.float32:
            _upcast(model, "encoding")
            latents, _ = run(noise)
        return latents * model.arch.latent_scale


def read_vae_file(path: Path, vae: Any, dtype: Any, allow_unsafe_pickle: bool = False) -> dict[str, Any]:
    """The weights of a standalone VAE file as a state dict for ``vae``; ModelLoadError when they do not fit."""
    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        detection = detect(state_file.shapes)
        if detection.kind != "vae":
            raise ModelLoadError(path, f"is not a VAE file (recognised: {detection.description})")
        config = vae_config_from_shapes(state_file.shapes, "")
        wanted = {key: vae.config[key] for key in _SHAPE_KEYS}
        found = {key: config[key] for key in _SHAPE_KEYS}
        if {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in wanted.items()} != {
            k: list(v) if isinstance(v, (list, tuple)) else v for k, v in found.items()
        }:
            raise ModelLoadError(path, f"this VAE does not fit the loaded model (VAE {found}, model {wanted})")
        plan = conversion.vae_plan(state_file.shapes, dict(vae.config), prefix="")
        device = next(vae.parameters()).device
        if device.type == "meta":
            import torch

            device = torch.device("cpu")
        tensors = state_file.read(conversion.source_keys(plan), lambda key: dtype, device)
        return conversion.materialize(plan, tensors)
    finally:
        state_file.close()


def put_vae_state(vae: Any, state: dict[str, Any], path: Path) -> None:
    """Copy ``state`` into ``vae`` (or assign, when the VAE is still on ``meta``); same module object."""
    is_meta = any(p.is_meta for p in vae.parameters())
    missing, unexpected = vae.load_state_dict(state, strict=False, assign=is_meta)
    if missing or unexpected:
        raise ModelLoadError(
            path, f"VAE weights do not fit (missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]})"
        )
    if is_meta:
        vae.requires_grad_(False)
        vae.eval()
