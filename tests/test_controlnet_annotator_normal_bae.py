"""normal_bae: the colour mapping, padding and TF-"SAME" convolution of the Bae et al. normal network, and the
preprocessor through the ControlNet service with a random-weight ``normal_bae/scannet.pt`` in the released
layout (``{"model": ..., "iter": ...}``, DistributedDataParallel ``module.`` keys, from the fixture JSON)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, released_layout
from tests.helpers import make_backend

WEIGHTS = "normal_bae/scannet.pt"


def normal_bae_module():
    return controlnet_module("annotator_normal_bae")


def random_scannet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """fp16 tensors with every key and shape of the released scannet.pt; BatchNorm layers start as identities."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in released_layout("scannet").items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
        elif len(shape) == 1 and key.endswith(("weight", "running_var")):  # 1-D weights are BatchNorm scales
            state[key] = torch.ones(shape, dtype=torch.float16)
        elif len(shape) == 1:  # biases and running means
            state[key] = torch.zeros(shape, dtype=torch.float16)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = (torch.randn(shape, generator=generator) / fan_in**0.5).half()
    return state


def test_normals_map_to_colours_as_a1111_does():
    bae = normal_bae_module()
    normals = np.array([[[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.5, -0.5, 1.5], [1.0, -2.0, 0.0]]], np.float32)
    colours = bae.normals_to_rgb(normals)
    assert colours.dtype == np.uint8
    # x -> R, y -> G, z -> B; (n + 1) / 2 * 255 truncated; out-of-range components clipped
    assert colours[0].tolist() == [[127, 127, 255], [0, 127, 127], [191, 63, 255], [255, 0, 127]]


def test_prediction_is_normalised_to_unit_normals_and_positive_confidence():
    bae = normal_bae_module()
    raw = torch.tensor([[3.0, 0.0, -4.0, -50.0], [0.0, 2.0, 0.0, 1.0]]).view(2, 4, 1, 1)
    out = bae.normalize_prediction(raw)[:, :, 0, 0]
    assert torch.allclose(out[:, :3], torch.tensor([[0.6, 0.0, -0.8], [0.0, 1.0, 0.0]]))
    assert torch.allclose(out[:, 3], torch.tensor([0.01, 2.01]))  # ELU + 1 + 0.01: at least 0.01


def test_same_convolution_pads_bottom_right_like_tensorflow():
    bae = normal_bae_module()
    conv = bae._SameConv2d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        out = conv(torch.ones(1, 1, 4, 4))
    # the one padding row/column goes to the bottom/right (PyTorch's symmetric padding=1 would give [[4, 6], [6, 9]])
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    assert conv(torch.ones(1, 1, 5, 7)).shape[-2:] == (3, 4)  # ceil(size / stride)


def test_file_without_the_ddp_prefix_loads_too():
    bae = normal_bae_module()
    state = {key.removeprefix("module."): value.float() for key, value in random_scannet_state(1).items()}
    network = bae.build(WEIGHTS, state)
    assert sum(p.numel() for p in network.parameters()) == 72_422_336
    with pytest.raises(RuntimeError, match="Missing key"):
        bae.build(WEIGHTS, {k: v for k, v in state.items() if not k.startswith("decoder.out_conv_res1")})


def picture() -> Image.Image:
    image = Image.new("RGB", (120, 90), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    draw.polygon([(10, 80), (60, 15), (110, 80)], fill=(90, 120, 200))
    draw.ellipse((70, 10, 110, 50), fill=(240, 60, 40))
    return image


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    backend = make_backend(tmp_path_factory.mktemp("normal_bae"))
    install_extensions(backend)
    return backend


def test_normal_bae_through_the_service(backend, tmp_path):
    service = backend.offers.find("controlnet")
    folder = tmp_path / "annotators"
    folder.mkdir()
    backend.settings.update({"control_net_modules_path": str(folder)}, save=False)
    try:
        assert "normal_bae" not in service.module_names()
        with pytest.raises(ValueError, match=r"normal_bae/scannet\.pt"):
            service.detect("normal_bae", picture(), 96)

        path = folder / WEIGHTS
        path.parent.mkdir()
        torch.save({"model": random_scannet_state(), "iter": 1}, path)  # as the training script saves it
        assert "normal_bae" in service.module_names()
        detected, res, *_ = service.detect("normal_bae", picture(), 96)
        assert res == 96 and detected.shape == (96, 128, 3) and detected.dtype == np.uint8
        assert len(np.unique(detected.reshape(-1, 3), axis=0)) > 8  # the normals vary over the picture
        lengths = np.linalg.norm(detected.astype(np.float32) / 255.0 * 2.0 - 1.0, axis=2)
        assert lengths.min() > 0.97 and lengths.max() < 1.01  # every pixel decodes to a unit normal

        torch.save({"model": {"module.conv.weight": torch.zeros(8, 3, 3, 3)}, "iter": 1}, path)  # another network
        with pytest.raises(ValueError, match=r"scannet\.pt"):
            service.detect("normal_bae", picture(), 96)
    finally:
        backend.settings.update({"control_net_modules_path": ""}, save=False)
