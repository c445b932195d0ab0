"""HED-based preprocessors (softedge_hed, softedge_hedsafe, scribble_hed): the pure post-processing steps, and
the three through the ControlNet service with a random-weight ``ControlNetHED.pth`` in the released layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.extensions.manager import install_extensions
from tests.annotator_weights import controlnet_module, write_hed_weights
from tests.helpers import make_backend


def hed_module():
    return controlnet_module("annotator_hed")


def test_padding_to_a_multiple_of_64_repeats_the_edges():
    pad_to_multiple = controlnet_module("imageops").pad_to_multiple  # shared by the annotators
    image = np.arange(100 * 130 * 3, dtype=np.int64).reshape(100, 130, 3).astype(np.uint8)
    padded = pad_to_multiple(image)
    assert padded.shape == (128, 192, 3) and np.array_equal(padded[:100, :130], image)
    assert np.array_equal(padded[127, :130], image[99]) and np.array_equal(padded[:100, 191], image[:, 129])
    assert (padded[127, 191] == image[99, 129]).all()
    assert pad_to_multiple(padded) is padded
    assert pad_to_multiple(np.zeros((70, 10), np.float32)).shape == (128, 64)  # one-channel maps too


def test_quantized_edges_keep_few_levels():
    hed = hed_module()
    edges = np.array([0.0, 0.3, 0.34, 0.66, 0.67, 0.9, 1.0])
    assert hed.quantize_edges(edges).tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5]


def test_scribble_strokes_turn_a_soft_band_into_one_binary_stroke():
    hed = hed_module()
    columns = np.arange(96, dtype=np.float32)
    band = 255.0 * np.exp(-(((columns - 48.0) / 6.0) ** 2))  # a soft vertical edge, 15-20 px wide
    strokes = hed.scribble_strokes(np.tile(band, (64, 1)).astype(np.uint8))
    assert set(np.unique(strokes)) == {0, 255}
    white = np.flatnonzero(strokes[32] == 255)
    assert white.min() >= 36 and white.max() <= 60 and 48 in white  # one stroke on the band, not the whole row
    assert np.array_equal(white, np.arange(white.min(), white.max() + 1))
    assert not hed.scribble_strokes(np.full((64, 96), 100, np.uint8)).any()  # weak edges: nothing drawn


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data = tmp_path_factory.mktemp("hed")
    backend = make_backend(data)
    install_extensions(backend)
    write_hed_weights(data / "annotators" / "hed" / "ControlNetHED.pth")
    backend.settings.update({"control_net_modules_path": str(data / "annotators")}, save=False)
    return backend.offers.find("controlnet")


def picture() -> Image.Image:
    image = Image.new("RGB", (120, 90), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 70, 70), fill=(30, 30, 160))
    draw.line((0, 85, 120, 10), fill=(0, 0, 0), width=4)
    return image


def test_hed_family_through_the_service(service):
    names = service.module_names()
    assert {"softedge_hed", "softedge_hedsafe", "scribble_hed"} <= set(names)
    soft, res, *_ = service.detect("softedge_hed", picture(), 96)
    assert res == 96 and soft.shape == (96, 128, 3) and soft.dtype == np.uint8
    assert len(np.unique(soft)) > 8
    safe, *_ = service.detect("softedge_hedsafe", picture(), 96)
    assert set(np.unique(safe)) <= {0, 127, 255} and safe.shape == soft.shape
    scribble, *_ = service.detect("scribble_hed", picture(), 96)
    assert set(np.unique(scribble)) <= {0, 255} and scribble.shape == soft.shape


def test_a1111_preprocessors_missing_here_name_the_closest_one(service):
    with pytest.raises(ValueError, match="not available in this build; the closest one here is 'seg_ufade20k'"):
        service.detect("seg_ofade20k", picture(), 64)
    with pytest.raises(ValueError, match="unknown preprocessor 'no_such_thing'"):
        service.detect("no_such_thing", picture(), 64)
