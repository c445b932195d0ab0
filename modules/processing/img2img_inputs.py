"""img2img and inpainting inputs turned into what the sampler needs: init latents, masks, conditioning.

The image work (resize modes, mask blur, "only masked" crops, overlays) is in ``modules.images.ops``; this
module adds the latent-space side as A1111 does: VAE encoding, the "latent noise"/"latent nothing" fills,
the latent blend mask and the extra channels of 9-channel inpainting models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.images import ops
from modules.models.vae import encode_images
from modules.processing.params import GenerationParams
from modules.upscaling.upscalers import latent_upscale


@dataclasses.dataclass
class Img2ImgInputs:
    init_latent: torch.Tensor  # [B, 4, h, w], scaled
    latent_mask: torch.Tensor | None  # [B or 1, 1, h, w], 1 = repaint
    image_conditioning: torch.Tensor | None  # [B, 5, h, w] for 9-channel models
    overlays: list[Image.Image | None]  # pasted back over each decoded image
    paste_to: Any  # "only masked" paste location or None
    init_images: list[Image.Image]  # after resizing (for "Init image hash" and infotext)


def pil_to_tensor(images: list[Image.Image]) -> torch.Tensor:
    arrays = [np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def tensor_to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """Decoded images ``[B, 3, H, W]`` in [0, 1] → 8-bit RGB PIL images, truncating as A1111 does."""
    array = pixels.clamp(0, 1).to(torch.float32).mul(255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(image) for image in array]


def _mask_tensor(mask: Image.Image, height: int, width: int, round_values: bool = True) -> torch.Tensor:
    """Latent-resolution blend mask as A1111: the mask resized to latent size, values 0..1, rounded to 0 or 1
    unless ``round_values`` is False (A1111's ``p.mask_round``, turned off by soft inpainting)."""
    small = mask.convert("L").resize((width // 8, height // 8), Image.LANCZOS)
    array = np.asarray(small, dtype=np.float32) / 255.0
    return torch.from_numpy(np.around(array) if round_values else array)[None, None]


def prepare(
    model: Any,
    params: GenerationParams,
    batch_size: int,
    seeds_noise: torch.Tensor,
    upscaler=None,
    mask_weight: float = 1.0,
    encoder: torch.Generator | None = None,
    fill_seed: int | None = None,
    mask_round: bool = True,
) -> Img2ImgInputs:
    """Resize, mask, fill and encode the init image(s) of ``params`` for one batch.

    ``encoder`` supplies the VAE encoder's noise: first one draw per init image, then one for the
    inpainting conditioning's batch, in A1111's order (see ``encoder_generator`` below). "Latent noise" fill
    uses ``seeds_noise`` and then reseeds ``encoder`` with ``fill_seed``, as A1111's global generator is.
    ``mask_round`` False keeps the soft values of the latent mask (see ``_mask_tensor``) and of a sketch
    mask's alpha (A1111's ``create_binary_mask``)."""
    width, height = params.width, params.height
    masks = None
    if params.mask is not None:
        blur_x = params.mask_blur_x if params.mask_blur_x is not None else params.mask_blur
        blur_y = params.mask_blur_y if params.mask_blur_y is not None else params.mask_blur
        masks = ops.prepare_inpaint_masks(
            params.mask,
            width=width,
            height=height,
            resize_mode=params.resize_mode,
            invert=bool(params.inpainting_mask_invert),
            blur_x=blur_x,
            blur_y=blur_y,
            only_masked=params.inpaint_full_res,
            padding=params.inpaint_full_res_padding,
            round_alpha=mask_round,
        )
    sources = list(params.init_images)
    images, overlays = [], []
    for index in range(batch_size):
        source = sources[index % len(sources)]
        image, overlay = ops.prepare_init_image(
            source,
            masks,
            width=width,
            height=height,
            resize_mode=params.resize_mode,
            fill=masks is not None and params.inpainting_fill == 0,
            upscaler=upscaler,
        )
        images.append(image)
        overlays.append(overlay)

    pixels = pil_to_tensor(images)
    init_latent = encode_images(model, pixels, encoder)
    if params.resize_mode == 3 and masks is None:  # "Just resize (latent upscale)"
        init_latent = latent_upscale(init_latent, "Latent", width, height)

    latent_mask = None
    if masks is not None:
        latent_mask = _mask_tensor(masks.latent_mask, height, width, mask_round).to(init_latent)
        if params.inpainting_fill == 2:  # latent noise
            init_latent = init_latent * (1 - latent_mask) + seeds_noise.to(init_latent) * latent_mask
            if encoder is not None and fill_seed is not None:
                encoder.manual_seed(int(fill_seed))  # A1111 drew that noise after seeding its global generator
        elif params.inpainting_fill == 3:  # latent nothing
            init_latent = init_latent * (1 - latent_mask)

    image_conditioning = None
    if model.arch.unet_in_channels == 9:
        image_conditioning = inpainting_conditioning(
            model, pixels, masks.latent_mask if masks else None, mask_weight, init_latent, encoder, mask_round
        )
    return Img2ImgInputs(
        init_latent, latent_mask, image_conditioning, overlays, masks.paste_to if masks is not None else None, images
    )


def inpainting_conditioning(
    model: Any,
    pixels: torch.Tensor,
    mask: Image.Image | None,
    strength: float,
    init_latent: torch.Tensor,
    generator: torch.Generator | None = None,
    round_mask: bool = True,
) -> torch.Tensor:
    """[mask, masked-image latents] for 9-channel models; ``strength`` is "Conditional mask weight"; the mask
    is rounded to 0/1 unless ``round_mask`` is False (soft inpainting)."""
    batch, _, height, width = pixels.shape
    if mask is None:
        mask_pixels = torch.ones((1, 1, height, width))
    else:
        mask_pixels = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)[None, None]
        mask_pixels = torch.round(mask_pixels) if round_mask else mask_pixels
    # A1111 blends in [-1, 1]: the masked area becomes 0 there, i.e. mid grey, not black
    masked = ((pixels * 2 - 1) * (1.0 - mask_pixels * strength) + 1) / 2
    masked_latents = encode_images(model, masked, generator, per_image=False)
    small_mask = torch.nn.functional.interpolate(mask_pixels, size=init_latent.shape[-2:])
    return torch.cat([small_mask.expand(batch, -1, -1, -1), masked_latents], dim=1).to(init_latent)


def txt2img_conditioning(
    model: Any, batch: int, height: int, width: int, like: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """9-channel models in txt2img: everything masked over a grey image (A1111's txt2img_image_conditioning),
    each image of the batch encoded with its own draw from ``generator``."""
    grey = torch.full((batch, 3, height, width), 0.5)
    masked = encode_images(model, grey, generator)
    mask = torch.ones((batch, 1, height // 8, width // 8))
    return torch.cat([mask.to(masked), masked], dim=1).to(like)


def encoder_generator(seed: int) -> torch.Generator:
    """The CPU generator the VAE encoder's noise comes from, seeded with ``seed``.

    A1111 samples the encoder on torch's global generator, which its noise code last seeded with the last
    seed of the batch (txt2img, hires fix) or, for img2img's init images, of the previous job; seeding with
    the request's own last seed gives what A1111 gives when the request is repeated, and makes every request
    reproducible.
    """
    return torch.Generator("cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
