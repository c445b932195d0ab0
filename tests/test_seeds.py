"""Seeds and initial noise: A1111 CPU-RNG compatibility, variations, resize-from, per-step noise."""

import doctest
import random

import numpy as np
import pytest
import torch

from modules.processing import seeds as seeds_module
from modules.processing.seeds import (
    ImageRNG,
    PhiloxGenerator,
    batch_seeds,
    create_noise,
    fixed_seed,
    slerp,
)

SHAPE = (4, 8, 8)


def reference(seed, shape=SHAPE):
    """What A1111 draws in CPU mode: torch.manual_seed(seed); torch.randn(shape)."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


def test_docstring_examples():
    assert doctest.testmod(seeds_module).failed == 0


def test_fixed_seed():
    assert fixed_seed(123) == 123
    assert fixed_seed("5") == 5
    assert fixed_seed(-1, random.Random(0)) == random.Random(0).randrange(4294967294)
    for value in (None, "", "abc"):
        assert 0 <= fixed_seed(value) < 4294967294


def test_batch_seeds():
    assert batch_seeds(100, 7, 0, 2) == ([100, 101], [7, 8])
    assert batch_seeds(100, 7, 0.5, 2) == ([100, 100], [7, 8])


def test_cpu_noise_matches_a1111_cpu_rng():
    noise = create_noise(SHAPE, [1234, 99])
    assert noise.shape == (2, *SHAPE) and noise.dtype == torch.float32
    assert torch.equal(noise[0], reference(1234))
    assert torch.equal(noise[1], reference(99))


def test_batch_shape_and_negative_seed_accepted():
    assert torch.equal(create_noise((1, *SHAPE), [5])[0], reference(5))
    assert torch.equal(create_noise(SHAPE, [-2])[0], reference(-2))


def test_image_noise_does_not_depend_on_batch():
    assert torch.equal(create_noise(SHAPE, [3, 4])[1], create_noise(SHAPE, [4])[0])


def test_variation_strength():
    base = create_noise(SHAPE, [1], [2], 0.0)[0]
    assert torch.equal(base, reference(1))
    full = create_noise(SHAPE, [1], [2], 1.0)[0]
    assert torch.allclose(full, reference(2), atol=1e-5)
    half = create_noise(SHAPE, [1], [2], 0.5)[0]
    assert not torch.allclose(half, base) and not torch.allclose(half, full)
    assert 0.8 < half.std() < 1.2  # slerp keeps the noise's scale, a plain average would shrink it


def test_slerp_of_identical_noise_is_that_noise():
    noise = reference(3)
    assert torch.allclose(slerp(0.3, noise, noise.clone()), noise)


def test_resize_seed_from_pastes_old_noise_in_the_centre():
    noise = create_noise(SHAPE, [7], seed_resize_from_h=32, seed_resize_from_w=32)[0]  # old latent 4x4
    old = reference(7, (4, 4, 4))
    new = reference(7)
    assert torch.equal(noise[:, 2:6, 2:6], old)
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[2:6, 2:6] = False
    assert torch.equal(noise[:, outside], new[:, outside])
    # resizing from a larger size crops the centre of the old noise
    bigger = create_noise((4, 4, 4), [7], seed_resize_from_h=64, seed_resize_from_w=64)[0]
    assert torch.equal(bigger, reference(7)[:, 2:6, 2:6])
    # same size: no change
    assert torch.equal(create_noise(SHAPE, [7], seed_resize_from_h=64, seed_resize_from_w=64)[0], new)


def test_image_rng_step_noise_continues_each_generator():
    rng = ImageRNG(SHAPE, [10, 11])
    first = rng.next()
    second = rng.next()
    generator = torch.Generator("cpu").manual_seed(11)
    torch.randn(SHAPE, generator=generator)
    assert torch.equal(first[1], reference(11))
    assert torch.equal(second[1], torch.randn(SHAPE, generator=generator))


def test_eta_noise_seed_delta_reseeds_step_noise():
    rng = ImageRNG(SHAPE, [10], eta_noise_seed_delta=31337)
    assert torch.equal(rng.next()[0], reference(10))
    assert torch.equal(rng.next()[0], reference(10 + 31337))


def test_philox_matches_cuda_randn():
    # torch.manual_seed(0); torch.randn(4, device="cuda") on NVIDIA GPUs gives these values
    expected = np.array([-0.9246624, -0.42534393, -2.6438458, 0.14518386], dtype=np.float32)
    assert np.allclose(PhiloxGenerator(0).randn((4,)), expected, atol=1e-6)
    generator = PhiloxGenerator(0)
    generator.randn((2,))
    assert not np.allclose(generator.randn((4,)), expected)  # each call moves to a new offset


def test_nv_source_statistics_and_determinism():
    noise = create_noise((4, 32, 32), [1, 2], source="NV")
    assert torch.equal(noise, create_noise((4, 32, 32), [1, 2], source="NV"))
    assert abs(float(noise.mean())) < 0.05 and abs(float(noise.std()) - 1) < 0.05


def test_gpu_source_on_cpu_device_equals_cpu_source():
    assert torch.equal(create_noise(SHAPE, [5], source="GPU", device="cpu"), create_noise(SHAPE, [5]))


def test_unknown_source():
    with pytest.raises(ValueError, match="generator source"):
        create_noise(SHAPE, [1], source="TPU")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available: NV-vs-GPU parity not checked")
def test_nv_equals_cuda_gpu_source():
    gpu = create_noise(SHAPE, [1234], source="GPU", device="cuda").cpu()
    nv = create_noise(SHAPE, [1234], source="NV", device="cuda").cpu()
    assert torch.allclose(gpu, nv, atol=1e-5)
