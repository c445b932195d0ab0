"""The mlsd preprocessor: M-LSD large built strictly in the released file's key layout, the decoding of its
tri-points map into segments (peaks, value and distance thresholds), the white-on-black drawing, and the
user's path through the ControlNet service with a weight file in the annotator folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, released_layout
from tests.annotator_weights import random_state as random_layout_state
from tests.checkpoint_factory import write_state_dict
from tests.helpers import make_backend

WEIGHTS = "mlsd/mlsd_large_512_fp32.pth"


@pytest.fixture(scope="module")
def mlsd():
    return controlnet_module("annotator_mlsd")


def random_state(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    state = random_layout_state("mlsd_large_512_fp32", seed, dtype)
    state["block23.conv3.weight"] = state["block23.conv3.weight"] * 25  # displacements of several pixels
    return state


def tp_map(height: int, width: int, peaks: dict[tuple[int, int], tuple[float, tuple[float, ...]]]) -> torch.Tensor:
    """A 9-channel tri-points map: centre logit -8 everywhere except ``{(y, x): (logit, displacement)}``."""
    tensor = torch.zeros(9, height, width)
    tensor[0] = -8.0
    for (y, x), (logit, displacement) in peaks.items():
        tensor[0, y, x] = logit
        tensor[1:5, y, x] = torch.tensor(displacement)
    return tensor


# --- decoding and drawing (pure) -------------------------------------------------------------------------


SEGMENTS = {
    (10, 12): (4.0, (-5.0, -3.0, 6.0, 4.0)),  # strong: (7, 7) -> (18, 14)
    (10, 13): (3.0, (0.0, -9.0, 0.0, 9.0)),  # next to a stronger centre: not a peak
    (10, 14): (3.5, (-2.5, 0.5, 2.5, 0.5)),  # two columns away, a peak of its own: (11.5, 10.5) -> (16.5, 10.5)
    (20, 30): (0.0, (0.0, -8.0, 0.0, 8.0)),  # score 0.5: (30, 12) -> (30, 28)
    (25, 5): (3.0, (-1.0, 0.0, 1.0, 0.0)),  # length 2: (4, 25) -> (6, 25)
}


def as_set(segments: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(round(float(v), 4) for v in row) for row in segments}


def test_decoding_finds_each_peak_and_its_end_points(mlsd):
    segments = mlsd.decode_segments(tp_map(32, 48, SEGMENTS), 0.1, 0.1)
    assert segments.shape == (4, 4)
    assert as_set(segments) == {(7, 7, 18, 14), (11.5, 10.5, 16.5, 10.5), (30, 12, 30, 28), (4, 25, 6, 25)}


def test_value_and_distance_thresholds_filter_strictly(mlsd):
    tp = tp_map(32, 48, SEGMENTS)
    assert (30, 12, 30, 28) not in as_set(mlsd.decode_segments(tp, 0.6, 0.1))  # score 0.5
    assert (30, 12, 30, 28) in as_set(mlsd.decode_segments(tp, 0.49, 0.1))
    assert (30, 12, 30, 28) not in as_set(mlsd.decode_segments(tp, 0.5, 0.1))  # "above", not "at least"
    assert (4, 25, 6, 25) not in as_set(mlsd.decode_segments(tp, 0.1, 2.0))  # length 2 is not longer than 2
    assert (4, 25, 6, 25) in as_set(mlsd.decode_segments(tp, 0.1, 1.9))
    assert as_set(mlsd.decode_segments(tp, 0.1, 15.0)) == {(30, 12, 30, 28)}  # 16 long; the strong one is 13
    assert len(mlsd.decode_segments(tp, 0.99, 0.1)) == 0  # sigmoid(4) = 0.982
    assert as_set(mlsd.decode_segments(tp, 0.1, 0.1, candidates=1)) == {(7, 7, 18, 14)}  # best first


def test_drawing_is_white_one_pixel_lines_truncated_like_int(mlsd):
    segments = np.array(
        [
            [2.9, 3.7, 10.2, 3.1],  # -> (2, 3) to (10, 3)
            [-0.9, 8.0, -0.9, 12.9],  # -0.9 truncates to 0, not -1: column 0, rows 8..12
            [np.nan, 0.0, 5.0, 5.0],  # not drawable: skipped
            [5.0, 20.0, 500.0, 20.0],  # beyond the map: clipped by the drawing
        ]
    )
    canvas = mlsd.draw_segments(segments, 24, 16)
    assert canvas.shape == (24, 16) and canvas.dtype == np.uint8
    assert set(np.unique(canvas)) == {0, 255}
    assert np.flatnonzero(canvas[3]).tolist() == list(range(2, 11))
    assert np.flatnonzero(canvas[:, 0]).tolist() == list(range(8, 13))
    assert np.flatnonzero(canvas[20]).tolist() == list(range(5, 16))
    assert int((canvas > 0).sum()) == 9 + 5 + 11


def test_network_input_is_rgb_and_a_ones_channel_in_minus_one_to_one(mlsd):
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 0] = (255, 0, 255)
    tensor = mlsd.network_input(image)
    assert tensor.shape == (1, 4, 2, 3) and tensor.dtype == torch.float32
    assert tensor[0, :3, 0, 0].tolist() == [1.0, -1.0, 1.0]
    assert torch.allclose(tensor[0, 3], torch.full((2, 3), 1 / 127.5 - 1))


def white_runs(row: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row > 0, [0]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


# --- the network -----------------------------------------------------------------------------------------


def test_network_loads_the_released_layout_strictly(mlsd):
    state = random_state()
    network = mlsd.build(WEIGHTS, state).eval()
    assert {k: list(v.shape) for k, v in network.state_dict().items()} == released_layout("mlsd_large_512_fp32")
    with torch.inference_mode():
        out = network(torch.zeros(1, 4, 64, 128))
    assert out.shape == (1, 9, 32, 64)  # the tri-points map at half resolution
    mlsd.build(WEIGHTS, {f"module.{k}": v for k, v in state.items()})  # DataParallel prefix accepted
    mlsd.build(WEIGHTS, {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    with pytest.raises(RuntimeError, match="block23.conv3.weight"):
        mlsd.build(WEIGHTS, {k: v for k, v in state.items() if k != "block23.conv3.weight"})


def test_detect_scales_half_resolution_segments_and_keeps_the_input_size(mlsd):
    """A head that predicts every pixel as the centre of a horizontal 8 px segment (16 px at full size)."""
    state = random_state()
    state["block23.conv3.weight"] = torch.zeros(16, 64, 1, 1)
    state["block23.conv3.bias"] = torch.tensor([0.0] * 7 + [2.0, -4.0, 0.0, 4.0, 0.0] + [0.0] * 4)
    network = mlsd.build(WEIGHTS, state).eval()
    image = np.full((64, 64, 3), 128, np.uint8)  # all centres score alike: any 200 of them, none cropped away
    with torch.inference_mode():
        lines = mlsd.detect([network], image, 0.1, 7.9)
        too_short = mlsd.detect([network], image, 0.1, 8.0)
        too_weak = mlsd.detect([network], image, 0.9, 0.1)  # sigmoid(2) = 0.88
    assert lines.shape == (64, 64, 3) and lines.dtype == np.uint8
    assert (lines[..., 0] == lines[..., 1]).all() and (lines[..., 1] == lines[..., 2]).all()
    rows = np.flatnonzero(lines[..., 0].any(axis=1))
    assert len(rows) > 0 and (rows % 2 == 0).all()  # centres sit on even rows once doubled; lines are horizontal
    inner_runs = [
        stop - start for row in rows for start, stop in white_runs(lines[row, :, 0]) if 0 < start < stop < 100
    ]
    assert inner_runs and min(inner_runs) >= 17  # 2 x 8 px long, both ends drawn (runs at the borders are cut)
    assert not too_short.any() and not too_weak.any()


def test_detect_pads_by_repeating_the_border_like_a1111(mlsd):
    """Any size runs; it sees what A1111's resize_image_with_pad shows it: edges repeated up to a multiple of 64."""
    network = mlsd.build(WEIGHTS, random_state()).eval()
    rng = np.random.default_rng(0)
    image = (rng.random((70, 100, 3)) * 255).astype(np.uint8)
    padded = np.pad(image, [[0, 58], [0, 28], [0, 0]], mode="edge")
    with torch.inference_mode():
        lines = mlsd.detect([network], image, 0.1, 0.1)
        reference = mlsd.detect([network], padded, 0.1, 0.1)
        on_black = mlsd.detect([network], np.pad(image, [[0, 58], [0, 28], [0, 0]]), 0.1, 0.1)
    assert lines.shape == (70, 100, 3) and lines.any()
    assert (lines == reference[:70, :100]).all()
    assert (lines != on_black[:70, :100]).any()  # the padding matters, so the check above means something


# --- the user's path ---------------------------------------------------------------------------------------


def sample_image(width: int = 80, height: int = 60) -> Image.Image:
    image = Image.new("RGB", (width, height), (230, 230, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 40, 40), outline=(20, 40, 200), width=2)
    draw.line((0, height - 5, width, 5), fill=(0, 0, 0), width=3)
    return image


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    backend = make_backend(tmp_path_factory.mktemp("mlsd"), load_model=False)
    install_extensions(backend)
    return backend.offers.find("controlnet"), backend.settings


def test_mlsd_runs_only_with_its_weight_file(service, tmp_path):
    controlnet, settings = service
    settings.update({"control_net_modules_path": str(tmp_path)}, save=False)
    try:
        assert "mlsd" not in controlnet.module_names()
        with pytest.raises(ValueError, match=r"mlsd/mlsd_large_512_fp32\.pth"):
            controlnet.detect("mlsd", sample_image(), 96)
        path = write_state_dict(random_state(dtype=torch.float16), tmp_path / WEIGHTS, fmt="ckpt", wrap=False)
        assert "mlsd" in controlnet.module_names()
        detected, res, a, b = controlnet.detect("mlsd", sample_image(), 96)
        assert (res, a, b) == (96, 0.1, 0.1)
        assert detected.shape == (96, 128, 3) and detected.dtype == np.uint8
        assert set(np.unique(detected)) == {0, 255}  # white lines on black, and some were found
        blank, *_ = controlnet.detect("mlsd", sample_image(), 96, threshold_a=1.5)  # no sigmoid exceeds 1.5
        assert not blank.any()

        state = random_state(dtype=torch.float16)
        state["block23.conv3.bias"][8:12] += 3.0  # other displacements: other lines
        write_state_dict(state, path, fmt="ckpt", wrap=False)
        changed, *_ = controlnet.detect("mlsd", sample_image(), 96)
        assert (changed != detected).any()

        other = {"norm": torch.zeros(1, 3, 1, 1), "block1.convs.0.weight": torch.zeros(64, 3, 3, 3)}
        write_state_dict(other, path, fmt="ckpt", wrap=False)  # a HED-like file under the MLSD name
        with pytest.raises(ValueError, match=r"mlsd_large_512_fp32\.pth"):
            controlnet.detect("mlsd", sample_image(), 96)
    finally:
        settings.update({"control_net_modules_path": ""}, save=False)
