"""Soft inpainting (A1111's built-in extension): its maths against hand-computed values, and inpainting through
the HTTP API with it on and off (alwayson_scripts "soft inpainting", A1111's argument order)."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from modules.builtin_scripts._soft_inpainting import (
    SoftInpaintingSettings,
    composite_mask,
    difference_scale,
    gaussian_kernel,
    latent_blend,
    modified_keep_weight,
    smootherstep,
    weighted_histogram_filter,
)
from modules.builtin_scripts.soft_inpainting import SLIDERS, settings_from_args
from modules.processing.params import InvalidParams
from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build, decode

# ----------------------------------------------------------------------------------------------- maths


def test_keep_weight_is_the_mask_raised_to_sigma_power_times_strength():
    settings = SoftInpaintingSettings(mask_blend_power=0.5, mask_blend_scale=1.0)
    mask = torch.tensor([0.0, 0.25, 0.5, 1.0])
    # exponent 4 ** 0.5 * 1 = 2
    assert torch.allclose(modified_keep_weight(mask, 4.0, settings), torch.tensor([0.0, 0.0625, 0.25, 1.0]))
    # a low sigma lets the denoiser through: exponent 0.01 ** 0.5 = 0.1
    assert torch.allclose(modified_keep_weight(mask, 0.01, settings)[1], torch.tensor(0.25**0.1))


def test_latent_blend_ends_are_the_inputs_and_the_middle_keeps_the_length():
    original = torch.tensor([3.0, 0.0, 0.0, 0.0]).view(1, 4, 1, 1)
    current = torch.tensor([0.0, 4.0, 0.0, 0.0]).view(1, 4, 1, 1)
    for t, expected in ((0.0, original), (1.0, current)):
        result = latent_blend(original, current, torch.full((1, 1, 1, 1), t), 4.0)
        assert torch.allclose(result, expected, atol=1e-4)
    half = torch.full((1, 1, 1, 1), 0.5)
    # power 1: the length is the mean of 3 and 4 (3.5) along the linear mix (1.5, 2) of length 2.5
    assert torch.allclose(latent_blend(original, current, half, 1.0).flatten()[:2], torch.tensor([2.1, 2.8]), atol=1e-4)
    # power 2: the length is the quadratic mean sqrt((9 + 16) / 2)
    quadratic = latent_blend(original, current, half, 2.0)
    assert math.isclose(float(quadratic.norm()), math.sqrt(12.5), rel_tol=1e-4)


def test_gaussian_kernel_is_one_at_the_centre_and_tapers():
    kernel, center = gaussian_kernel(stddev_radius=1.5, max_radius=2)
    assert kernel.shape == (5, 5) and center == 2 and kernel[2, 2] == pytest.approx(1.0)
    zero = math.exp(-9 / 2.25)
    assert kernel[0, 0] == pytest.approx((math.exp(-8 / 2.25) - zero) / (1 - zero))
    assert np.allclose(kernel, kernel.T) and np.allclose(kernel, kernel[::-1])


def test_weighted_histogram_filter_mean_median_and_soft_maximum():
    image = np.arange(9, dtype=np.float32).reshape(3, 3)
    flat = np.ones((3, 3))
    mean = weighted_histogram_filter(image, flat, 1, 0.0, 1.0)
    assert mean[1, 1] == pytest.approx(4.0) and mean[0, 0] == pytest.approx((0 + 1 + 3 + 4) / 4)
    median = weighted_histogram_filter(image, flat, 1, 0.5, 0.5)
    assert median[1, 1] == pytest.approx(4.0)
    top = weighted_histogram_filter(image, flat, 1, 0.9, 1.0)  # window [8, 9] of the stack of 9
    assert top[1, 1] == pytest.approx(8.0) and top[0, 0] == pytest.approx(4.0)


def _reference_filter(image, kernel, center, low_fraction, high_fraction, min_width=1.0):
    """The filter written out one pixel at a time, as a check on the vectorised one."""
    out = np.zeros_like(image, dtype=np.float64)
    rows, cols = image.shape
    for y in range(rows):
        for x in range(cols):
            stack = []
            for ky in range(kernel.shape[0]):
                for kx in range(kernel.shape[1]):
                    yy, xx = y + ky - center, x + kx - center
                    if 0 <= yy < rows and 0 <= xx < cols:
                        stack.append((float(image[yy, xx]), float(kernel[ky, kx])))
            stack.sort(key=lambda item: item[0])
            total = sum(weight for _, weight in stack)
            low, high = total * low_fraction, total * high_fraction
            if high - low < min_width:
                middle = (low + high) / 2
                low, high = middle - min_width / 2, middle + min_width / 2
                if high > total:
                    low, high = total - min_width, total
                if low < 0:
                    low, high = 0.0, min_width
            bottom, value, weight_sum = 0.0, 0.0, 0.0
            for item_value, weight in stack:
                top = bottom + weight
                overlap = min(high, top) - max(low, bottom)
                if overlap > 0:
                    value, weight_sum = value + item_value * overlap, weight_sum + overlap
                bottom = top
            out[y, x] = value / weight_sum if weight_sum else 0.0
    return out


@pytest.mark.parametrize("window", [(0.9, 1.0), (0.25, 0.75), (0.0, 1.0)])
def test_weighted_histogram_filter_matches_the_pixel_by_pixel_definition(window):
    image = np.random.default_rng(5).random((7, 9)).astype(np.float32)
    kernel, center = gaussian_kernel(1.5, 2)
    fast = weighted_histogram_filter(image, kernel, center, *window)
    assert np.allclose(fast, _reference_filter(image, kernel, center, *window), atol=1e-5)


def test_smootherstep_fixes_the_ends_and_the_middle():
    assert smootherstep(np.array([0.0, 0.5, 1.0])).tolist() == [0.0, 0.5, 1.0]


def test_mask_influence_scales_the_difference_threshold():
    mask = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    neutral = difference_scale(mask, SoftInpaintingSettings(composite_mask_influence=0.0))
    assert np.allclose(neutral, 0.5 / 0.50001)
    following = difference_scale(mask, SoftInpaintingSettings(composite_mask_influence=1.0))
    assert following[0, 0, 0] == pytest.approx(1 / 0.00001, rel=1e-2) and following[0, 0, 1] == pytest.approx(0.0)


def test_composite_mask_keeps_the_original_where_nothing_changed():
    original = torch.zeros(1, 4, 12, 12)
    processed = original.clone()
    processed[..., :3] = 5.0  # the three left columns moved far
    (mask,) = composite_mask(original, processed, torch.zeros(1, 1, 12, 12), SoftInpaintingSettings())
    assert mask.dtype == np.uint8 and mask.shape == (12, 12)
    assert (mask[:, :3] > 250).all() and (mask[:, 6:] == 0).all()
    # a threshold above the change keeps the original there too
    (lenient,) = composite_mask(
        original, processed, torch.zeros(1, 1, 12, 12), SoftInpaintingSettings(composite_difference_threshold=8)
    )
    assert (lenient[:, :3] < mask[:, :3]).all()


def test_latent_mask_keeps_its_soft_values_when_rounding_is_off():
    from modules.processing.img2img_inputs import _mask_tensor

    grey = Image.new("L", (64, 64), 96)  # 0.376: rounds to 0
    assert float(_mask_tensor(grey, 64, 64).max()) == 0.0
    soft = _mask_tensor(grey, 64, 64, round_values=False)
    assert soft.shape == (1, 1, 8, 8) and torch.allclose(soft, torch.full_like(soft, 96 / 255), atol=1e-3)


def test_slider_values_are_checked_with_their_names():
    assert settings_from_args((2, 1, 4, 0.5, 1, 3)).composite_difference_contrast == 3.0
    with pytest.raises(InvalidParams, match="Difference threshold"):
        settings_from_args((1, 0.5, 4, 0, "lots"))
    with pytest.raises(InvalidParams, match="Transition contrast boost"):
        settings_from_args((1, 0.5, 0))


# ------------------------------------------------------------------------------------------------- API

SIZE = (128, 64)
KEYS = [
    "Soft inpainting enabled: True",
    "Soft inpainting schedule bias: 1",
    "Soft inpainting preservation strength: 0.5",
    "Soft inpainting transition contrast boost: 4",
    "Soft inpainting mask influence: 0",
    "Soft inpainting difference threshold: 0.5",
    "Soft inpainting difference contrast: 2",
]


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("soft-inpainting")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "tiny.safetensors", seed=0)
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return Image.linear_gradient("L").resize(SIZE).convert("RGB")


def _inpaint(api, original, soft_args=None):
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, (0, 0, 32, SIZE[1]))  # the left quarter, blurred: a soft edge
    body = {
        "prompt": "a stone",
        "steps": 4,
        "width": SIZE[0],
        "height": SIZE[1],
        "seed": 3,
        "sampler_name": "Euler",
        "denoising_strength": 0.75,
        "init_images": [_b64(original)],
        "mask": _b64(mask),
        "mask_blur": 8,
        "inpaint_full_res": False,
    }
    if soft_args is not None:
        body["alwayson_scripts"] = {"soft inpainting": {"args": soft_args}}
    answer = api.post("/sdapi/v1/img2img", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    image = np.asarray(decode(result["images"][0]).convert("RGB"), dtype=np.float64)
    return image, json.loads(result["info"])["infotexts"][0]


def test_script_info_lists_a1111s_arguments(api):
    assert "soft inpainting" in [title.lower() for title in api.get("/sdapi/v1/scripts").json()["img2img"]]
    info = api.get("/sdapi/v1/script-info").json()
    entry = next(item for item in info if item["name"] == "soft inpainting" and item["is_img2img"])
    assert entry["is_alwayson"]
    assert [arg["label"] for arg in entry["args"]] == ["Soft inpainting", *(s.label for s in SLIDERS)]
    assert [arg["value"] for arg in entry["args"]] == [False, 1.0, 0.5, 4.0, 0.0, 0.5, 2.0]
    assert [(arg["minimum"], arg["maximum"]) for arg in entry["args"][1:]] == [
        (0, 8),
        (0, 8),
        (1, 32),
        (0, 1),
        (0, 8),
        (0, 8),
    ]


def test_soft_inpainting_changes_the_result_and_writes_a1111s_keys(api, original):
    hard, hard_text = _inpaint(api, original)
    soft, soft_text = _inpaint(api, original, [True, 1, 0.5, 4, 0, 0.5, 2])
    for key in KEYS:
        assert key in soft_text, soft_text
    assert "Soft inpainting" not in hard_text
    assert np.abs(soft - hard).mean() > 1.0  # the feature did something
    source = np.asarray(original, dtype=np.float64)
    # far from the mask the latents never moved: the composite shows the original pixels
    assert np.abs(soft[:, 96:] - source[:, 96:]).max() <= 1
    # switched off explicitly: the same picture as without the script
    off, off_text = _inpaint(api, original, [False, 1, 0.5, 4, 0, 0.5, 2])
    assert np.array_equal(off, hard) and "Soft inpainting" not in off_text


def test_preservation_strength_blends_the_original_in_while_denoising(api, original):
    source = np.asarray(original, dtype=np.float64)
    strong, _ = _inpaint(api, original, [True, 1, 8, 4, 0, 0.5, 2])
    weak, _ = _inpaint(api, original, [True, 1, 0, 4, 0, 0.5, 2])  # exponent 0: nothing is kept
    assert np.abs(strong - source).mean() < np.abs(weak - source).mean() - 10


def test_difference_threshold_only_moves_the_composite_towards_the_original(api, original):
    source = np.asarray(original, dtype=np.float64)
    strict, strict_text = _inpaint(api, original, [True, 1, 0.5, 4, 0, 0, 2])
    lenient, _ = _inpaint(api, original, [True, 1, 0.5, 4, 0, 8, 2])
    assert "Soft inpainting difference threshold: 0" in strict_text
    # the same sampled picture, shown over more of the original: never further from it, closer on average
    assert (np.abs(lenient - source) <= np.abs(strict - source) + 2).all()
    assert np.abs(lenient - source).mean() < np.abs(strict - source).mean() - 5


def test_a_bad_value_is_a_client_error_naming_the_slider(api, original):
    mask = Image.new("L", SIZE, 255)
    answer = api.post(
        "/sdapi/v1/img2img",
        json={
            "steps": 1,
            "width": SIZE[0],
            "height": SIZE[1],
            "init_images": [_b64(original)],
            "mask": _b64(mask),
            "alwayson_scripts": {"soft inpainting": {"args": [True, 1, 0.5, 0]}},
        },
    )
    assert 400 <= answer.status_code < 500 and "Transition contrast boost" in answer.text
