"""depth_midas and normal_midas: the normal-from-depth and depth normalisation steps on synthetic depths whose
answer is known, MiDaS DPT-Hybrid built strictly in the released file's key layout, and the user's path through
the ControlNet service with a full-size random-weight ``dpt_hybrid-midas-501f0c75.pt`` in the annotator folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, released_layout
from tests.checkpoint_factory import write_state_dict
from tests.helpers import make_backend

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "annotators"
REFERENCE_DEPTH = FIXTURES / "midas_reference_depth.json"  # the reference implementation's output, see the file
WEIGHTS = "midas/dpt_hybrid-midas-501f0c75.pt"
FLAT = [255, 127, 127]  # the encoded normal (0, 0, 1) in (z, y, x) order: background and flat ground


@pytest.fixture(scope="module")
def midas():
    return controlnet_module("annotator_midas")


def random_state(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Weights in the released file's layout (from the fixture, not from the module), scaled to stay finite."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in released_layout("dpt_hybrid-midas-501f0c75").items():
        if len(shape) == 4:
            value = torch.randn(shape, generator=generator) / float(np.prod(shape[1:])) ** 0.5
        elif len(shape) == 2:
            value = torch.randn(shape, generator=generator) / shape[1] ** 0.5
        elif key.endswith("weight"):
            value = 1 + 0.2 * torch.randn(shape, generator=generator)
        else:
            value = 0.1 * torch.randn(shape, generator=generator)
        state[key] = value.to(dtype)
    state["scratch.output_conv.4.weight"] = state["scratch.output_conv.4.weight"].abs()  # final ReLU stays open
    return state


def encoded(normal: tuple[float, float, float]) -> list[int]:
    """What the map stores for a normal (x, y, z): its unit vector as n * 127.5 + 127.5, in (z, y, x) order."""
    unit = np.array(normal) / np.linalg.norm(normal)
    return [int(v) for v in (unit * 127.5 + 127.5)[::-1]]


# --- depth and normal maps (pure) --------------------------------------------------------------------------


def test_normal_of_a_plane_follows_its_slope_in_z_y_x_order(midas):
    columns, rows = np.meshgrid(np.arange(48, dtype=np.float32), np.arange(32, dtype=np.float32))
    slope = math.pi / 2  # a 3x3 Sobel sees 8 x slope = 4 pi, twice the constant z of 2 pi
    rising_right = midas.normal_from_depth(slope * columns, 0.0)
    rising_down = midas.normal_from_depth(slope * rows, 0.0)
    assert rising_right.shape == (32, 48, 3) and rising_right.dtype == np.uint8
    assert encoded((4 * math.pi, 0, 2 * math.pi)) == [184, 127, 241]
    assert (rising_right[1:-1, 1:-1] == [184, 127, 241]).all()  # blue holds x, red holds z
    assert (rising_down[1:-1, 1:-1] == [184, 241, 127]).all()  # green holds y
    assert (midas.normal_from_depth(-slope * columns, 0.0)[1:-1, 1:-1] == [184, 127, 13]).all()  # falling: x < 0
    assert (midas.normal_from_depth(np.full((16, 16), 3.0, np.float32), 0.0) == FLAT).all()


def test_normal_is_flat_where_the_normalised_depth_is_below_the_background_threshold(midas):
    columns = np.tile(np.arange(101, dtype=np.float32), (8, 1))  # normalised depth = column / 100
    normal = midas.normal_from_depth(columns * math.pi / 4, 0.4)  # 8 x slope = 2 pi: a 45 degree tilt
    tilted = encoded((2 * math.pi, 0, 2 * math.pi))
    assert tilted == [217, 127, 217]
    assert (normal[1:-1, 1:40] == FLAT).all()
    assert (normal[1:-1, 40:-1] == tilted).all()
    assert (midas.normal_from_depth(columns, 1.0)[:, :100] == FLAT).all()  # only the maximum reaches 1.0


def test_depth_map_is_min_max_normalised_grey(midas):
    depth = np.array([[2.0, 3.0, 4.0], [6.0, 8.0, 10.0]], np.float32)
    image = midas.depth_image(depth)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    assert image[..., 0].tolist() == [[0, 31, 63], [127, 191, 255]]  # truncated, as A1111 does
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    assert not midas.depth_image(np.full((4, 4), 7.0, np.float32)).any()  # flat: black, not NaN garbage


# --- the network -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network(midas):
    return midas.build(WEIGHTS, random_state()).eval()


def test_network_loads_the_released_layout_strictly(midas, network):
    assert {k: list(v.shape) for k, v in network.state_dict().items()} == released_layout("dpt_hybrid-midas-501f0c75")
    assert sum(v.numel() for v in network.state_dict().values()) == 123_146_985
    with torch.inference_mode():
        square = network(torch.zeros(1, 3, 64, 64))
        wide = network(torch.rand(1, 3, 64, 128) * 2 - 1)
    assert square.shape == (1, 64, 64) and wide.shape == (1, 64, 128)  # depth at the input size, any aspect
    assert (wide >= 0).all() and wide.std() > 0
    state = dict(network.state_dict())
    with pytest.raises(RuntimeError, match="scratch.output_conv.4.weight"):
        midas.build(WEIGHTS, {k: v for k, v in state.items() if k != "scratch.output_conv.4.weight"})
    state["scratch.layer1_rn.weight"] = torch.zeros(256, 128, 3, 3)
    with pytest.raises(RuntimeError, match="scratch.layer1_rn.weight"):
        midas.build(WEIGHTS, state)


def test_network_reproduces_the_reference_implementation(network):
    """Depth recorded from the original MiDaS DPTDepthModel (timm backbone, float64) for the same weights."""
    reference = json.loads(REFERENCE_DEPTH.read_text())
    rows, columns = torch.meshgrid(torch.arange(64.0), torch.arange(96.0), indexing="ij")
    image = torch.stack([torch.sin(columns / 7), torch.cos(rows / 5), torch.sin((rows + columns) / 11)])[None]
    with torch.inference_mode():
        depth = network(image)[0, :: reference["every"], :: reference["every"]]
    expected = torch.tensor(reference["depth"])
    assert depth.shape == expected.shape
    assert torch.allclose(depth, expected, rtol=0, atol=1e-3 * float(expected.abs().max()))


def test_detect_runs_the_edge_padded_image_in_minus_one_to_one(midas, network):
    """What A1111 does: pad by repeating edges to a multiple of 64, RGB / 127.5 - 1, normalise, cut the padding."""
    rng = np.random.default_rng(0)
    image = (rng.random((70, 100, 3)) * 255).astype(np.uint8)
    padded = np.pad(image, [[0, 58], [0, 28], [0, 0]], mode="edge")
    with torch.inference_mode():
        depth = midas.detect([network], image, 0.4, 0.0)
        normal = midas.detect([network], image, 0.4, 0.0, normal=True)
        raw = network(torch.from_numpy(padded).float().permute(2, 0, 1)[None] / 127.5 - 1)[0].numpy()
        on_black = midas.detect([network], np.pad(image, [[0, 58], [0, 28], [0, 0]]), 0.4, 0.0)
    assert depth.shape == normal.shape == (70, 100, 3)
    assert (depth == midas.depth_image(raw)[:70, :100]).all()
    assert (normal == midas.normal_from_depth(raw, 0.4)[:70, :100]).all()
    assert (depth != on_black[:70, :100]).any()  # the padding matters, so the check above means something


# --- the user's path ---------------------------------------------------------------------------------------


def picture() -> Image.Image:
    image = Image.new("RGB", (120, 90), (200, 210, 220))
    draw = ImageDraw.Draw(image)
    draw.ellipse((15, 20, 60, 75), fill=(40, 90, 200))
    draw.rectangle((70, 10, 110, 80), fill=(180, 60, 30))
    return image


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """A backend whose annotator folder holds a full-size fp16 file with random weights in the released layout."""
    data = tmp_path_factory.mktemp("midas")
    backend = make_backend(data)
    install_extensions(backend)
    service = backend.offers.find("controlnet")
    backend.settings.update({"control_net_modules_path": str(data / "annotators")}, save=False)
    assert "depth_midas" not in service.module_names() and "normal_midas" not in service.module_names()
    with pytest.raises(ValueError, match=r"needs the weight file midas/dpt_hybrid-midas-501f0c75\.pt"):
        service.detect("depth_midas", picture(), 64)
    write_state_dict(random_state(dtype=torch.float16), data / "annotators" / WEIGHTS, fmt="ckpt", wrap=False)
    return backend


@pytest.fixture(scope="module")
def service(backend):
    return backend.offers.find("controlnet")


def test_depth_midas_through_the_service(service):
    assert {"depth_midas", "normal_midas"} <= set(service.module_names())
    depth, res, *_ = service.detect("depth_midas", picture(), 96)
    assert res == 96 and depth.shape == (96, 128, 3) and depth.dtype == np.uint8
    assert (depth[..., 0] == depth[..., 1]).all() and (depth[..., 1] == depth[..., 2]).all()
    assert len(np.unique(depth)) > 16  # a graded map: the network ran


def test_normal_midas_through_the_service_uses_its_background_threshold(service):
    normal, res, threshold, _ = service.detect("normal_midas", picture(), 96)
    assert res == 96 and threshold == pytest.approx(0.4)
    assert normal.shape == (96, 128, 3) and normal.dtype == np.uint8
    assert (normal[..., 0] >= 127).all()  # z is positive: the red channel never drops below the middle
    flat = (normal == FLAT).all(axis=2).mean()
    assert 0 < flat < 1  # some background, some relief
    everything, *_ = service.detect("normal_midas", picture(), 96, 0.0)
    nothing, *_ = service.detect("normal_midas", picture(), 96, 1.0)
    assert (everything == FLAT).all(axis=2).mean() < flat < (nothing == FLAT).all(axis=2).mean()


def test_a_file_of_another_network_gives_a_clear_error(backend, service, tmp_path):
    write_state_dict({"norm": torch.zeros(1, 3, 1, 1)}, tmp_path / WEIGHTS, fmt="ckpt", wrap=False)
    folder = backend.settings.get("control_net_modules_path")
    backend.settings.update({"control_net_modules_path": str(tmp_path)}, save=False)
    try:
        assert "depth_midas" in service.module_names()
        with pytest.raises(ValueError, match=r"is not the expected midas/dpt_hybrid-midas-501f0c75\.pt network"):
            service.detect("depth_midas", picture(), 64)
    finally:
        backend.settings.update({"control_net_modules_path": folder}, save=False)
