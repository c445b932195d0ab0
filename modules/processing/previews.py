"""Cheap live previews: latents → RGB with a fixed linear map, no VAE call.

The factors are the well-known least-squares fits of the SD 1.x/2.x and SDXL latent spaces to RGB (the
"Approx cheap" method); good enough to see composition while sampling, at almost no cost.
"""

from __future__ import annotations

import torch
from PIL import Image

_SD_FACTORS = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)


def approx_rgb(latents: torch.Tensor, sdxl: bool = False) -> list[Image.Image]:
    """One PIL image per latent in the batch, 8× smaller than the final image."""
    factors = torch.tensor(_SDXL_FACTORS if sdxl else _SD_FACTORS, dtype=torch.float32)
    rgb = torch.einsum("bchw,cr->brhw", latents.detach().float().cpu(), factors)
    rgb = ((rgb + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8)
    return [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in rgb]
