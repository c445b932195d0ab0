"""seg_ufade20k: UniFormer-S + UPerNet built strictly in the released mmseg checkpoint's key layout, the pure
pre-processing steps of A1111's path (64-padding, keep-ratio test scale, channel order and normalisation), the
upsampled arg-max and the ADE20K palette, and the user's path through the ControlNet service."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, released_layout
from tests.annotator_weights import random_state as random_layout_state
from tests.helpers import make_backend

WEIGHTS = "uniformer/upernet_global_small.pth"
SKY = 2  # ADE20K class index of "sky"


@pytest.fixture(scope="module")
def uniformer():
    return controlnet_module("annotator_uniformer")


def random_state(seed: int = 0, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    return random_layout_state("upernet_global_small", seed, dtype)


def write_mmseg_checkpoint(state: dict[str, torch.Tensor], path: Path) -> Path:
    """As mmcv's runner saves it: {"meta": {...}, "state_dict": OrderedDict}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"mmcv_version": "1.3.0", "CLASSES": ("wall", "building", "sky"), "PALETTE": [[120, 120, 120]] * 3}
    torch.save({"meta": meta, "state_dict": collections.OrderedDict(state)}, path)
    return path


# --- pure steps ---------------------------------------------------------------------------------------------


def test_palette_colours_each_class_as_ade20k(uniformer):
    palette = uniformer.ADE20K_PALETTE
    assert palette.shape == (150, 3) and palette.dtype == np.uint8
    labels = np.array([[0, 1, 2], [4, 12, 149]])
    expected = [[[120, 120, 120], [180, 120, 120], [6, 230, 230]], [[4, 200, 3], [150, 5, 61], [92, 0, 255]]]
    assert uniformer.colorize(labels).tolist() == expected  # wall, building, sky / tree, person, flag (RGB)


def test_keep_ratio_resize_fits_the_2048_by_512_test_scale(uniformer):
    assert uniformer.scaled_size(512, 512) == (512, 512)
    assert uniformer.scaled_size(128, 128) == (512, 512)  # small pictures are enlarged to a 512 short side
    assert uniformer.scaled_size(128, 192) == (512, 768)
    assert uniformer.scaled_size(1024, 768) == (683, 512)  # 682.67 rounds half up
    assert uniformer.scaled_size(320, 1408) == (465, 2048)  # the long side limit wins


def test_network_input_swaps_channels_and_normalises_as_a1111(uniformer):
    red = np.zeros((64, 128, 3), np.uint8)
    red[:, :, 0] = 255
    tensor = uniformer.network_input(red, torch.device("cpu"), torch.float32)
    assert tensor.shape == (1, 3, 512, 1024)  # short side enlarged to 512
    # A1111 hands mmseg RGB where it expects BGR: red arrives in the network's last channel
    assert torch.allclose(tensor[0, 0], torch.tensor((0 - 123.675) / 58.395))
    assert torch.allclose(tensor[0, 1], torch.tensor((0 - 116.28) / 57.12))
    assert torch.allclose(tensor[0, 2], torch.tensor((255 - 103.53) / 57.375))


def test_upsampled_argmax_picks_the_class_of_each_region(uniformer):
    logits = torch.zeros(1, 150, 4, 4)
    logits[0, 5, :, :2] = 3.0  # class 5 on the left half
    logits[0, 140, :, 2:] = 3.0  # class 140 on the right half
    labels = uniformer.upsampled_argmax(logits, (16, 16), (12, 20)).numpy()
    assert labels.shape == (12, 20)
    assert (labels[:, :9] == 5).all() and (labels[:, 11:] == 140).all()
    assert not uniformer.upsampled_argmax(torch.zeros(1, 150, 3, 3), (6, 6), (6, 6)).any()  # ties: lowest class


def test_upsampled_argmax_in_chunks_equals_one_full_argmax(uniformer):
    logits = torch.randn(1, 150, 7, 9, generator=torch.Generator().manual_seed(1))
    full = uniformer._resize(uniformer._resize(logits, (28, 36)), (30, 40))[0].argmax(dim=0)
    for chunk in (7, 16, 150):
        assert torch.equal(uniformer.upsampled_argmax(logits, (28, 36), (30, 40), chunk=chunk), full)


def test_network_has_the_released_layout_and_loads_strictly(uniformer):
    layout = released_layout("upernet_global_small")
    assert len(layout) == 414
    state = {key: torch.zeros(shape) for key, shape in layout.items()}
    network = uniformer.build(WEIGHTS, state)
    assert {key: list(value.shape) for key, value in network.state_dict().items()} == layout
    # a DataParallel prefix, no training-only auxiliary head and no BatchNorm counters are fine too
    trimmed = {f"module.{k}": v for k, v in state.items() if not k.startswith("auxiliary_head.")}
    trimmed = {k: v for k, v in trimmed.items() if not k.endswith("num_batches_tracked")}
    assert not hasattr(uniformer.build(WEIGHTS, trimmed), "auxiliary_head")
    state["decode_head.conv_seg.weight"] = torch.zeros(19, 512, 1, 1)  # a Cityscapes head: wrong file
    with pytest.raises(RuntimeError, match="conv_seg"):
        uniformer.build(WEIGHTS, state)


# --- through the service ------------------------------------------------------------------------------------


def picture() -> Image.Image:
    image = Image.new("RGB", (120, 90), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 60, 120, 90), fill=(70, 140, 40))
    draw.ellipse((30, 20, 80, 70), fill=(200, 60, 30))
    return image


def test_seg_ufade20k_through_the_service(tmp_path, uniformer):
    backend = make_backend(tmp_path / "data")
    install_extensions(backend)
    service = backend.offers.find("controlnet")
    folder = tmp_path / "annotators"
    folder.mkdir()
    backend.settings.update({"control_net_modules_path": str(folder)}, save=False)

    assert "seg_ufade20k" not in service.module_names()
    with pytest.raises(ValueError, match=r"uniformer/upernet_global_small\.pth"):
        service.detect("seg_ufade20k", picture(), 96)

    state = random_state()
    path = write_mmseg_checkpoint(state, folder / WEIGHTS)
    assert "seg_ufade20k" in service.module_names()
    detected, res, *_ = service.detect("seg_ufade20k", picture(), 96)
    assert res == 96 and detected.shape == (96, 128, 3) and detected.dtype == np.uint8
    colours = {tuple(c) for c in detected.reshape(-1, 3).tolist()}
    assert colours <= {tuple(c) for c in uniformer.ADE20K_PALETTE.tolist()}
    assert len(colours) > 1  # random weights: several classes, not one flat colour

    state["decode_head.conv_seg.bias"][SKY] = 1000.0  # the classifier now says "sky" everywhere
    write_mmseg_checkpoint(state, path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    sky, *_ = service.detect("segmentation", picture(), 96)  # A1111's old name for the same preprocessor
    assert sky.shape == (96, 128, 3) and (sky == np.array([6, 230, 230], np.uint8)).all()

    torch.save({"block1.convs.0.weight": torch.zeros(64, 3, 3, 3)}, path)  # another network's file
    with pytest.raises(ValueError, match="upernet_global_small.pth"):
        service.detect("seg_ufade20k", picture(), 96)
