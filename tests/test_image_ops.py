"""img2img / inpainting image operations (A1111 1.10 behaviour): resize modes, masks, crop region, overlay."""

import numpy as np
import pytest
from PIL import Image

from modules.images import ops

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def stripes(widths_colors, height):
    """Vertical stripes: [(width, colour), ...] left to right."""
    rows = np.concatenate([np.tile(np.array(c, np.uint8), (height, w, 1)) for w, c in widths_colors], axis=1)
    return Image.fromarray(rows)


def noise(width, height, seed=0, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4}[mode]
    data = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(data, mode)


def square_mask(size, box):
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("src,dst", [((80, 40), (64, 64)), ((40, 80), (64, 48)), ((50, 50), (64, 64))])
def test_every_resize_mode_gives_target_size_and_keeps_mode(mode, src, dst):
    for colour_mode in ("RGB", "L"):
        image = noise(*src).convert(colour_mode)
        result = ops.resize_image(mode, image, *dst)
        assert result.size == dst
        assert result.mode == colour_mode


def test_just_resize_stretches_whole_image():
    result = np.array(ops.resize_image(0, stripes([(40, RED), (40, BLUE)], 40), 64, 64))
    assert tuple(result[32, 4]) == RED and tuple(result[32, 60]) == BLUE


def test_crop_and_resize_keeps_aspect_and_crops_centre():
    # 80x40 -> 64x32 at the height of 32, centre 32 columns = the middle green stripe (16..48)
    image = stripes([(20, RED), (40, GREEN), (20, BLUE)], 40)
    result = np.array(ops.resize_image(1, image, 32, 32)).astype(int)
    assert np.abs(result[:, 2:-2] - np.array(GREEN)).max() <= 2
    # a tall target crops top and bottom: a 40x80 image with a marked centre row band stays centred
    tall = Image.new("RGB", (40, 80), RED)
    tall.paste(GREEN, (0, 30, 40, 50))
    out = np.array(ops.resize_image(1, tall, 40, 40)).astype(int)
    assert (np.abs(out[10:30] - np.array(GREEN)).max(axis=-1) <= 2).all()
    assert (np.abs(out[:5] - np.array(RED)).max(axis=-1) <= 2).all()


def test_resize_and_fill_centres_and_stretches_edges():
    # columns vary, rows constant: the stretched top/bottom bands equal the edge rows
    gradient = np.tile(np.linspace(0, 255, 80).astype(np.uint8)[None, :, None], (40, 1, 3))
    result = np.array(ops.resize_image(2, Image.fromarray(gradient), 64, 64)).astype(int)
    fitted = np.array(Image.fromarray(gradient).resize((64, 32), Image.Resampling.LANCZOS)).astype(int)
    assert (result[16:48] == fitted).all()  # centred, 16 rows of fill above and below
    assert np.abs(result[:16] - result[16]).max() <= 1
    assert np.abs(result[48:] - result[47]).max() <= 1
    # a tall image gets left/right bands from its edge columns
    tall = stripes([(10, RED), (20, GREEN), (10, BLUE)], 80)
    out = np.array(ops.resize_image(2, tall, 64, 64)).astype(int)
    assert (np.abs(out[:, :16] - np.array(RED)).max(axis=-1) <= 2).all()
    assert (np.abs(out[:, 48:] - np.array(BLUE)).max(axis=-1) <= 2).all()


def test_resize_uses_upscaler_only_to_enlarge_colour_images():
    calls = []

    def fake_upscaler(image, scale):
        calls.append(scale)
        return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.NEAREST)

    ops.resize_image(0, noise(16, 16), 64, 32, upscaler=fake_upscaler)
    assert calls == [4.0]
    ops.resize_image(0, noise(64, 64), 32, 32, upscaler=fake_upscaler)  # shrinking
    ops.resize_image(0, noise(16, 16).convert("L"), 64, 64, upscaler=fake_upscaler)  # masks: Lanczos
    assert calls == [4.0]
    with pytest.raises(ValueError):
        ops.resize_image(4, noise(8, 8), 8, 8)


def test_flatten_fills_transparency_with_background():
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 4, 8))
    flat = np.array(ops.flatten(image, "#00ff00"))
    assert tuple(flat[0, 0]) == GREEN and tuple(flat[0, 7]) == RED
    assert ops.flatten(noise(4, 4)).mode == "RGB"


def test_mask_blur_zero_keeps_binary_mask_and_invert_flips_it():
    mask = square_mask((32, 32), (8, 8, 24, 24))
    prepared = np.array(ops.prepare_mask(mask, invert=False, blur_x=0, blur_y=0))
    assert set(np.unique(prepared)) == {0, 255}
    assert (prepared == np.array(mask)).all()
    inverted = np.array(ops.prepare_mask(mask, invert=True, blur_x=0, blur_y=0))
    assert (inverted == 255 - np.array(mask)).all()


def test_mask_blur_softens_along_its_axis_only():
    mask = square_mask((64, 64), (24, 24, 40, 40))
    blurred = np.array(ops.prepare_mask(mask, blur_x=4, blur_y=0))
    assert 0 < blurred[32, 22] < 255  # left of the square: soft
    assert blurred[20, 32] == 0  # above the square: untouched
    both = np.array(ops.prepare_mask(mask, blur_x=4, blur_y=4))
    assert 0 < both[22, 32] < 255


def test_rgba_sketch_mask_uses_alpha_channel():
    layer = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 200), (4, 4, 12, 12))
    mask = np.array(ops.mask_to_l(layer))
    assert mask[8, 8] == 255 and mask[0, 0] == 0
    assert set(np.unique(mask)) == {0, 255}
    assert np.array(ops.mask_to_l(layer, round_alpha=False))[8, 8] == 200
    # an opaque RGB(A) mask is read by its grey value
    assert np.array(ops.mask_to_l(Image.new("RGBA", (4, 4), (255, 255, 255, 255))))[0, 0] == 255


def test_crop_region_pads_and_clamps():
    mask = square_mask((64, 64), (10, 20, 30, 40))
    assert ops.crop_region(mask) == (10, 20, 30, 40)
    assert ops.crop_region(mask, 4) == (6, 16, 34, 44)
    assert ops.crop_region(mask, 50) == (0, 0, 64, 64)
    assert ops.crop_region(Image.new("L", (8, 8))) is None
    assert ops.masked_region(Image.new("L", (8, 8)), 4, 64, 64) is None


def test_expand_crop_region_to_target_aspect():
    # A1111's example: a 128x32 region processed at 512x512 becomes 128x128, centred vertically
    assert ops.expand_crop_region((100, 200, 228, 232), 512, 512, 512, 512) == (100, 152, 228, 280)
    # at the top border the region slides down instead of leaving the image
    assert ops.expand_crop_region((100, 0, 228, 32), 512, 512, 512, 512) == (100, 0, 228, 128)
    # at the right border a tall region widens leftwards
    assert ops.expand_crop_region((500, 100, 512, 200), 512, 512, 512, 512) == (412, 100, 512, 200)
    # wider target: 64x64 region for 768x512 becomes 96x64
    x1, y1, x2, y2 = ops.expand_crop_region((200, 200, 264, 264), 768, 512, 1024, 1024)
    assert (x2 - x1, y2 - y1) == (96, 64) and (x1 + x2) / 2 == 232
    # the region cannot exceed the image when the aspect does not fit
    assert ops.expand_crop_region((0, 0, 64, 16), 64, 128, 64, 64) == (0, 0, 64, 64)


def test_masked_region_combines_padding_and_aspect():
    mask = square_mask((256, 256), (100, 100, 120, 110))
    x1, y1, x2, y2 = ops.masked_region(mask, 8, 64, 64)
    assert (x2 - x1, y2 - y1) == (36, 36)
    assert x1 <= 92 and x2 >= 128 and y1 <= 92 and y2 >= 118


def test_overlay_keeps_unmasked_pixels_exactly_whole_picture():
    original, decoded = noise(64, 64, seed=1), noise(64, 64, seed=2)
    masks = ops.prepare_inpaint_masks(square_mask((64, 64), (16, 16, 48, 48)), width=64, height=64)
    init, overlay = ops.prepare_init_image(original, masks, width=64, height=64, fill=True)
    assert init.size == (64, 64) and overlay.mode == "RGBA"
    result = np.array(ops.apply_overlay(decoded, None, overlay))
    keep = np.array(masks.overlay_mask) == 0
    assert keep.sum() > 0 and (result[keep] == np.array(original)[keep]).all()
    core = np.array(masks.overlay_mask) == 255
    assert (result[core] == np.array(decoded)[core]).all()


def test_overlay_keeps_unmasked_pixels_exactly_only_masked():
    original = noise(96, 80, seed=3)
    mask = square_mask(original.size, (40, 30, 60, 44))
    masks = ops.prepare_inpaint_masks(mask, width=64, height=64, only_masked=True, padding=4, blur_x=2, blur_y=2)
    assert masks.crop_box is not None and masks.paste_to[2] == masks.paste_to[3]  # square crop for 64x64
    init, overlay = ops.prepare_init_image(original, masks, width=64, height=64)
    assert init.size == (64, 64) and overlay.size == original.size
    decoded = noise(64, 64, seed=4)  # what the VAE would give for the crop
    result = ops.apply_overlay(decoded, masks.paste_to, overlay)
    assert result.size == original.size
    keep = np.array(masks.overlay_mask) == 0
    assert (np.array(result)[keep] == np.array(original)[keep]).all()
    x, y, w, h = masks.paste_to
    assert (np.array(result)[y + h // 2, x + w // 2] != np.array(original)[y + h // 2, x + w // 2]).any()
    # a blank mask with "Only masked" means plain img2img
    assert ops.prepare_inpaint_masks(Image.new("L", (32, 32)), width=64, height=64, only_masked=True) is None


def test_uncrop_places_resized_crop_on_transparent_canvas():
    canvas = ops.uncrop(Image.new("RGB", (16, 16), RED), (64, 48), (8, 4, 32, 32))
    data = np.array(canvas)
    assert canvas.size == (64, 48) and canvas.mode == "RGBA"
    assert tuple(data[20, 24]) == (*RED, 255) and data[0, 0, 3] == 0


def test_fill_masked_bleeds_surroundings_into_mask():
    image = stripes([(32, RED), (32, BLUE)], 64)
    image.paste(GREEN, (40, 16, 56, 48))  # to be filled
    mask = square_mask((64, 64), (40, 16, 56, 48))
    filled = np.array(ops.fill_masked(image, mask)).astype(int)
    assert filled[32, 48, 1] < 60 and filled[32, 48, 2] > 150  # green gone, blue-ish from around it
    unmasked = np.array(mask) == 0
    assert (filled[unmasked] == np.array(image)[unmasked]).all()


def test_sketch_helpers():
    background = Image.new("RGB", (32, 32), (128, 128, 128))
    layer = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (8, 8, 16, 16))
    combined = np.array(ops.combine_sketch(background, layer))
    assert tuple(combined[10, 10]) == RED and tuple(combined[0, 0]) == (128, 128, 128)

    sketch = Image.fromarray(combined)
    image, mask = ops.inpaint_sketch(sketch, background, mask_alpha=0, mask_blur=0)
    mask_data = np.array(mask)
    assert mask_data[10, 10] == 255 and mask_data[0, 0] == 0 and mask_data[20, 20] == 0
    assert (np.array(image) == combined).all()
    _, half = ops.inpaint_sketch(sketch, background, mask_alpha=50, mask_blur=4)
    assert 120 <= np.array(half)[10, 10] <= 135
