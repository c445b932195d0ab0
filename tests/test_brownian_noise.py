"""The SDE samplers' Brownian-tree noise, the VAE encoder's seeded noise and the pre-1.9 schedule meaning."""

from __future__ import annotations

import pytest
import torch

from modules.processing import k_samplers
from modules.processing.brownian import BrownianNoise
from modules.processing.img2img_inputs import encoder_generator
from modules.processing.samplers import find_sampler, schedule_for_request

SIGMAS = torch.tensor([14.6, 7.0, 3.0, 1.0, 0.3, 0.03, 0.0])


def test_increments_are_unit_normal_and_add_up_along_one_path():
    like = torch.zeros(2, 4, 16, 16)
    noise = BrownianNoise(like, SIGMAS, [11, 12])
    whole = noise(7.0, 1.0)
    first, second = noise(7.0, 3.0), noise(3.0, 1.0)
    assert whole.shape == like.shape
    assert abs(float(whole.std()) - 1.0) < 0.1 and abs(float(whole.mean())) < 0.1
    # W(1, 7) = W(3, 7) + W(1, 3): the unit-variance increments scale back by sqrt(interval length)
    rebuilt = (first * 4.0**0.5 + second * 2.0**0.5) / 6.0**0.5
    assert torch.allclose(whole, rebuilt, atol=1e-4)
    assert not torch.allclose(first, second)


def test_each_image_has_its_own_tree_and_repeats_exactly():
    like = torch.zeros(2, 4, 8, 8)
    pair = BrownianNoise(like, SIGMAS, [5, 6])(14.6, 3.0)
    again = BrownianNoise(like, SIGMAS, [5, 6])(14.6, 3.0)
    alone = BrownianNoise(like[:1], SIGMAS, [6])(14.6, 3.0)
    assert torch.equal(pair, again)
    assert torch.equal(pair[1], alone[0])  # independent of the batch it is in
    assert not torch.allclose(pair[0], pair[1])
    with pytest.raises(ValueError, match="2 seeds for a batch of 1"):
        BrownianNoise(like[:1], SIGMAS, [5, 6])


def test_dpmpp_sde_uses_the_brownian_path_when_given():
    """Two runs with the same trees agree; another seed changes the result (the noise really comes from it)."""

    def model(x, sigma):
        return x * 0.5

    def run(seed):
        x = torch.ones(1, 4, 8, 8)
        brownian = BrownianNoise(x, SIGMAS, [seed])
        stepper = k_samplers.DPMPPSDE(
            model, SIGMAS, lambda x: torch.zeros_like(x), k_samplers.SamplerParams(), brownian=brownian
        )
        for step in range(len(SIGMAS) - 1):
            x, _ = stepper.step(step, x)
        return x

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))


def test_encoder_generator_is_seeded_and_independent_of_the_global_generator():
    first = torch.randn(5, generator=encoder_generator(1234))
    torch.manual_seed(99)
    torch.randn(10)
    assert torch.equal(first, torch.randn(5, generator=encoder_generator(1234)))
    assert torch.equal(first, torch.randn(5, generator=torch.Generator().manual_seed(1234)))


@pytest.mark.parametrize(
    ("sampler", "schedule", "given", "expected"),
    [
        ("DPM++ SDE", "Automatic", False, "Uniform"),  # 1.8's "DPM++ SDE"
        ("DPM++ 2M", "Automatic", False, "Uniform"),
        ("DPM++ 2M", "Karras", False, "Karras"),  # from the name "DPM++ 2M Karras"
        ("DPM++ 2M", "Automatic", True, "Automatic"),  # an explicit schedule is kept
        ("Restart", "Automatic", False, "Automatic"),  # Karras in 1.8 as in 1.10
        ("Euler", "Automatic", False, "Automatic"),
    ],
)
def test_requests_without_a_schedule_keep_the_pre_1_9_meaning(sampler, schedule, given, expected):
    assert schedule_for_request(find_sampler(sampler), schedule, scheduler_given=given) == expected


def test_infotext_from_before_1_9_keeps_the_schedule_its_sampler_name_meant():
    from modules.processing.infotext import parse_infotext

    old = parse_infotext("a cat\nSteps: 8, Sampler: DPM++ SDE, Seed: 1, Size: 64x64, Version: 1.8.0-RC")
    assert (old["Sampler"], old["Schedule type"]) == ("DPM++ SDE", "Uniform")
    new = parse_infotext("a cat\nSteps: 8, Sampler: DPM++ SDE, Seed: 1, Size: 64x64, Version: v1.10.1")
    assert new["Schedule type"] == "Automatic"
    karras = parse_infotext("a cat\nSteps: 8, Sampler: DPM++ SDE Karras, Seed: 1, Size: 64x64, Version: 1.8.0")
    assert karras["Schedule type"] == "Karras"
