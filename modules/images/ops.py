"""Pure image operations behind img2img, inpainting and the sketch tabs.

A1111 spreads these over images.py, masking.py, processing.py and img2img.py; users notice when any of them
differ (a crop that is off by a pixel, a mask edge that is softer, an unmasked pixel that changed), so the
behaviour follows A1111 1.10 closely. Everything here takes and returns PIL images; nothing reads settings:
defaults that A1111 takes from options (background colour, img2img upscaler) are parameters.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

log = logging.getLogger(__name__)

LANCZOS = Image.Resampling.LANCZOS
RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")

Box = tuple[int, int, int, int]  # (x1, y1, x2, y2), x2/y2 exclusive
PasteLoc = tuple[int, int, int, int]  # (x, y, w, h)
# Upscales an image by a factor (A1111's Upscaler.upscale); get one from UpscalerRegistry.scaler(name).
ScaleFn = Callable[[Image.Image, float], Image.Image]


def _resize(image: Image.Image, width: int, height: int, upscaler: ScaleFn | None) -> Image.Image:
    """Resize to exactly width x height, letting the upscaler do the enlarging part (never for masks)."""
    if upscaler is not None and image.mode != "L":
        scale = max(width / image.width, height / image.height)
        if scale > 1.0:
            image = upscaler(image, scale)
    if image.size != (width, height):
        image = image.resize((width, height), resample=LANCZOS)
    return image


def resize_image(
    mode: int, image: Image.Image, width: int, height: int, upscaler: ScaleFn | None = None
) -> Image.Image:
    """Bring ``image`` to width x height with A1111's img2img resize mode.

    0 Just resize (stretch), 1 Crop and resize (cover, centre crop), 2 Resize and fill (fit, centre, fill the
    borders by stretching the edge rows/columns), 3 Just resize (latent upscale): for images the same as 0.
    ``upscaler`` enlarges (A1111: ``upscaler_for_img2img``); None means Lanczos. The image mode is kept.
    """
    width, height = int(width), int(height)
    if mode not in (0, 1, 2, 3):
        raise ValueError(f"resize mode must be 0-3, got {mode!r}")
    if mode in (0, 3):
        return _resize(image, width, height, upscaler)

    ratio = width / height
    src_ratio = image.width / image.height
    if mode == 1:
        src_w = width if ratio > src_ratio else max(1, image.width * height // image.height)
        src_h = height if ratio <= src_ratio else max(1, image.height * width // image.width)
        resized = _resize(image, src_w, src_h, upscaler)
        left, top = src_w // 2 - width // 2, src_h // 2 - height // 2
        return resized.crop((left, top, left + width, top + height))

    src_w = width if ratio < src_ratio else max(1, image.width * height // image.height)
    src_h = height if ratio >= src_ratio else max(1, image.height * width // image.width)
    resized = _resize(image, src_w, src_h, upscaler)
    result = Image.new(resized.mode, (width, height))
    left, top = width // 2 - src_w // 2, height // 2 - src_h // 2
    result.paste(resized, (left, top))
    # The bands are the edge row/column stretched by PIL's resize of a zero-thickness box, as A1111 does.
    if ratio < src_ratio:
        bottom = height - top - src_h
        if top > 0:
            result.paste(resized.resize((width, top), box=(0, 0, width, 0)), (0, 0))
        if bottom > 0:
            edge = resized.resize((width, bottom), box=(0, src_h, width, src_h))
            result.paste(edge, (0, top + src_h))
    elif ratio > src_ratio:
        right = width - left - src_w
        if left > 0:
            result.paste(resized.resize((left, height), box=(0, 0, 0, height)), (0, 0))
        if right > 0:
            edge = resized.resize((right, height), box=(src_w, 0, src_w, height))
            result.paste(edge, (left + src_w, 0))
    return result


def flatten(image: Image.Image, bgcolor: str = "#ffffff") -> Image.Image:
    """Replace transparency with ``bgcolor`` (A1111 ``img2img_background_color``); always returns RGB."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, bgcolor)
        background.alpha_composite(image)
        image = background
    return image.convert("RGB")


# ----------------------------------------------------------------------------------------------- masks


def mask_to_l(mask: Image.Image, round_alpha: bool = True) -> Image.Image:
    """A user mask as mode L (white = repaint).

    An RGBA mask whose alpha is not fully opaque is a sketch layer: its alpha is the mask (thresholded at
    128 when ``round_alpha``, A1111's ``create_binary_mask``). Anything else is converted to grey.
    """
    if mask.mode == "RGBA" and mask.getextrema()[-1] != (255, 255):
        alpha = mask.getchannel("A")
        return alpha.point(lambda v: 255 if v > 128 else 0) if round_alpha else alpha
    return mask.convert("L")


def _gaussian_1d(mask: Image.Image, sigma: int, horizontal: bool) -> Image.Image:
    import cv2  # only inpainting needs OpenCV; keep importing this module cheap

    size = 2 * int(2.5 * sigma + 0.5) + 1
    kernel = (size, 1) if horizontal else (1, size)
    return Image.fromarray(cv2.GaussianBlur(np.array(mask), kernel, sigma))


def prepare_mask(
    mask_image: Image.Image, invert: bool = False, blur_x: int = 4, blur_y: int = 4, round_alpha: bool = True
) -> Image.Image:
    """A1111's mask preparation: to L, optional invert ("Inpaint not masked"), separable gaussian blur."""
    mask = mask_to_l(mask_image, round_alpha)
    if invert:
        mask = ImageOps.invert(mask)
    if blur_x > 0:
        mask = _gaussian_1d(mask, blur_x, horizontal=True)
    if blur_y > 0:
        mask = _gaussian_1d(mask, blur_y, horizontal=False)
    return mask


def crop_region(mask: Image.Image, pad: int = 0) -> Box | None:
    """Bounding box of the non-zero mask pixels grown by ``pad`` and clamped; None for a blank mask."""
    box = mask.convert("L").getbbox()
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, mask.width), min(y2 + pad, mask.height)


def expand_crop_region(region: Box, width: int, height: int, image_width: int, image_height: int) -> Box:
    """Grow ``region`` on its short side to the width:height aspect ratio, shifted back inside the image."""
    x1, y1, x2, y2 = region
    ratio = width / height
    wide = (x2 - x1) / (y2 - y1) > ratio  # grow the height, else the width
    if wide:
        lo, hi, limit, grow = y1, y2, image_height, int((x2 - x1) / ratio - (y2 - y1))
    else:
        lo, hi, limit, grow = x1, x2, image_width, int((y2 - y1) * ratio - (x2 - x1))
    lo -= grow // 2
    hi += grow - grow // 2
    if hi >= limit:
        lo, hi = lo - (hi - limit), limit
    if lo < 0:
        lo, hi = 0, hi - lo
    hi = min(hi, limit)
    return (x1, lo, x2, hi) if wide else (lo, y1, hi, y2)


def masked_region(mask: Image.Image, padding: int, width: int, height: int) -> Box | None:
    """The "Only masked" crop: mask bounding box + padding, widened to the target aspect; None if blank."""
    region = crop_region(mask, padding)
    if region is None:
        return None
    return expand_crop_region(region, width, height, mask.width, mask.height)


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Masked content "fill": masked pixels get colours bled in from the surroundings by repeated blurs."""
    mask = mask.convert("L")
    if mask.size != image.size:
        mask = mask.resize(image.size, resample=LANCZOS)
    kept = Image.new("RGBa", image.size)
    kept.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask))
    result = Image.new("RGBA", image.size)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = kept.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            result.alpha_composite(blurred)
    return result.convert("RGB")


def create_overlay(original: Image.Image, mask: Image.Image) -> Image.Image:
    """RGBA copy of ``original`` that is opaque where the mask is black (kept) and clear where it is white."""
    overlay = Image.new("RGBa", original.size)
    overlay.paste(original.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    return overlay.convert("RGBA")


def uncrop(image: Image.Image, dest_size: tuple[int, int], paste_loc: PasteLoc) -> Image.Image:
    """Put a processed crop back at ``paste_loc`` (x, y, w, h) on a transparent canvas of ``dest_size``."""
    x, y, w, h = paste_loc
    canvas = Image.new("RGBA", dest_size)
    canvas.paste(resize_image(1, image, w, h), (x, y))
    return canvas


def apply_overlay(image: Image.Image, paste_loc: PasteLoc | None, overlay: Image.Image | None) -> Image.Image:
    """Composite the decoded image under the overlay so unmasked pixels equal the input exactly."""
    if overlay is None:
        return image
    if paste_loc is not None:
        image = uncrop(image, overlay.size, paste_loc)
    composed = image.convert("RGBA")
    composed.alpha_composite(overlay)
    return composed.convert("RGB")


@dataclasses.dataclass(frozen=True)
class InpaintMasks:
    """The masks one inpainting run needs, derived once from the user's mask (A1111 img2img ``init``)."""

    latent_mask: Image.Image  # processing size (width x height): latent blend mask and "fill" mask
    overlay_mask: Image.Image  # mask for create_overlay, at the (resized) init image's size
    crop_box: Box | None  # "Only masked": region of the init image that is processed
    paste_to: PasteLoc | None  # where the processed crop goes back (for apply_overlay / uncrop)


def prepare_inpaint_masks(
    mask: Image.Image,
    *,
    width: int,
    height: int,
    resize_mode: int = 0,
    invert: bool = False,
    blur_x: int = 4,
    blur_y: int = 4,
    only_masked: bool = False,
    padding: int = 32,
    round_alpha: bool = True,
) -> InpaintMasks | None:
    """All mask work before encoding; None when "Only masked" gets a blank mask (A1111 then does img2img)."""
    mask = prepare_mask(mask, invert, blur_x, blur_y, round_alpha)
    if only_masked:
        box = masked_region(mask, padding, width, height)
        if box is None:
            log.info('Unable to perform "Only masked" inpainting because the mask is blank; doing img2img')
            return None
        x1, y1, x2, y2 = box
        latent_mask = resize_image(2, mask.crop(box), width, height)
        return InpaintMasks(latent_mask, mask, box, (x1, y1, x2 - x1, y2 - y1))
    latent_mask = resize_image(resize_mode, mask, width, height)
    doubled = np.clip(np.array(latent_mask, dtype=np.float32) * 2, 0, 255).astype(np.uint8)
    return InpaintMasks(latent_mask, Image.fromarray(doubled), None, None)


def prepare_init_image(
    image: Image.Image,
    masks: InpaintMasks | None,
    *,
    width: int,
    height: int,
    resize_mode: int = 0,
    fill: bool = False,
    upscaler: ScaleFn | None = None,
    bgcolor: str = "#ffffff",
) -> tuple[Image.Image, Image.Image | None]:
    """The init image ready for the VAE, plus the overlay to paste back after decoding (None without mask).

    ``fill`` is masked content "fill" (index 0); latent noise / nothing are latent-space work for the caller.
    With resize mode 3 the image keeps its size: the caller resizes the latent.
    """
    image = flatten(image, bgcolor)
    if (masks is None or masks.crop_box is None) and resize_mode != 3:
        image = resize_image(resize_mode, image, width, height, upscaler)
    if masks is None:
        return image, None
    overlay_mask = masks.overlay_mask
    if overlay_mask.size != image.size:
        overlay_mask = resize_image(resize_mode, overlay_mask, image.width, image.height)
    overlay = create_overlay(image, overlay_mask)
    if masks.crop_box is not None:
        image = resize_image(2, image.crop(masks.crop_box), width, height, upscaler)
    if fill:
        image = fill_masked(image, masks.latent_mask)
    return image, overlay


# --------------------------------------------------------------------------------------------- sketches


def combine_sketch(background: Image.Image, sketch: Image.Image) -> Image.Image:
    """Draw an RGBA sketch layer over the background (the Sketch tab's init image); returns RGB."""
    base = background.convert("RGBA")
    layer = sketch.convert("RGBA")
    if layer.size != base.size:
        layer = layer.resize(base.size, resample=LANCZOS)
    base.alpha_composite(layer)
    return base.convert("RGB")


def sketch_difference_mask(sketch: Image.Image, original: Image.Image, mask_alpha: float = 0.0) -> Image.Image:
    """Mask of the pixels the user painted (any channel differs), dimmed by "Mask transparency" percent."""
    painted = np.any(np.array(sketch.convert("RGB")) != np.array(original.convert("RGB")), axis=-1)
    mask = Image.fromarray(painted.astype(np.uint8) * 255, "L")
    return ImageEnhance.Brightness(mask).enhance(1 - mask_alpha / 100)


def inpaint_sketch(
    sketch: Image.Image, original: Image.Image | None, mask_alpha: float = 0.0, mask_blur: int = 4
) -> tuple[Image.Image, Image.Image]:
    """A1111's Inpaint sketch: (init image with the softened strokes, mask of the strokes)."""
    original = original or sketch
    if original.size != sketch.size:
        original = original.resize(sketch.size, resample=LANCZOS)
    mask = sketch_difference_mask(sketch, original, mask_alpha)
    blur = ImageFilter.GaussianBlur(mask_blur)
    image = Image.composite(sketch.convert("RGB").filter(blur), original.convert("RGB"), mask.filter(blur))
    return image, mask
