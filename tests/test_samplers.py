"""Sampler catalogue, legacy name splitting, schedule types and sampler settings (no UNet needed)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

from modules.processing import k_samplers, sampler_options, samplers, schedules, steppers
from modules.processing.samplers import SamplerError, find_sampler, find_schedule, resolve_sampler

A1111_SAMPLERS = [
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun",
    "DPM++ 2S a",
    "DPM++ 3M SDE",
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DPM fast",
    "DPM adaptive",
    "Restart",
    "DDIM",
    "DDIM CFG++",
    "PLMS",
    "UniPC",
    "LCM",
]
A1111_SCHEDULES = [
    "Automatic",
    "Uniform",
    "Karras",
    "Exponential",
    "Polyexponential",
    "SGM Uniform",
    "KL Optimal",
    "Align Your Steps",
    "Simple",
    "Normal",
    "DDIM",
    "Beta",
]
SD_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


def test_catalogue_offers_exactly_a1111_names_in_order():
    assert samplers.sampler_names() == A1111_SAMPLERS
    assert [s.label for s in samplers.list_schedulers()] == A1111_SCHEDULES
    assert all(info.algorithm in steppers.STEPPERS for info in samplers.SAMPLERS)


def test_api_items_have_a1111_shape():
    item = find_sampler("DPM++ 2M SDE Heun").api_item()
    assert item == {
        "name": "DPM++ 2M SDE Heun",
        "aliases": ["k_dpmpp_2m_sde_heun"],
        "options": {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"},
    }
    sgm = find_schedule("SGM Uniform").api_item()
    assert sgm == {
        "name": "sgm_uniform",
        "label": "SGM Uniform",
        "aliases": ["SGMUniform"],
        "default_rho": -1.0,
        "need_inner_model": True,
    }
    assert find_schedule("karras").api_item()["default_rho"] == 7.0
    assert [s.name for s in samplers.list_samplers(hidden=["plms", "DDIM"])] == [
        name for name in A1111_SAMPLERS if name not in ("PLMS", "DDIM")
    ]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("k_euler_a", "Euler a"),
        ("K_EULER", "Euler"),
        ("k_lms", "LMS"),
        ("k_heun", "Heun"),
        ("k_dpm_2", "DPM2"),
        ("k_dpm_2_a", "DPM2 a"),
        ("k_dpmpp_2m", "DPM++ 2M"),
        ("k_dpmpp_sde", "DPM++ SDE"),
        ("k_dpm_ad", "DPM adaptive"),
        ("euler a", "Euler a"),
        ("dpm++ 2m", "DPM++ 2M"),
        ("ddim_cfgpp", "DDIM CFG++"),
        ("k_lcm", "LCM"),
    ],
)
def test_lookup_by_alias_and_case(key, name):
    assert find_sampler(key).name == name


@pytest.mark.parametrize(
    ("name", "scheduler", "convert", "expected"),
    [
        ("DPM++ 2M Karras", None, False, ("DPM++ 2M", "Karras")),
        ("DPM++ 2M Karras", None, True, ("DPM++ 2M", "Automatic")),
        ("DPM++ SDE Karras", "Automatic", False, ("DPM++ SDE", "Karras")),
        ("DPM++ 2M SDE Exponential", None, False, ("DPM++ 2M SDE", "Exponential")),
        ("DPM++ 2M SDE Karras", None, True, ("DPM++ 2M SDE", "Karras")),
        ("DPM++ 2M SDE Heun Exponential", None, True, ("DPM++ 2M SDE Heun", "Automatic")),
        ("LMS Karras", None, True, ("LMS", "Karras")),
        ("DPM2 a Karras", None, False, ("DPM2 a", "Karras")),
        ("DPM2 Karras", None, False, ("DPM2", "Karras")),
        ("Euler a", None, False, ("Euler a", "Automatic")),
        ("Euler a", "SGMUniform", False, ("Euler a", "SGM Uniform")),
        ("Euler", "karras", False, ("Euler", "Karras")),
        ("k_dpmpp_2m", "Exponential", False, ("DPM++ 2M", "Exponential")),
        ("Euler SGMUniform", None, False, ("Euler", "SGM Uniform")),
        ("", None, False, ("Euler", "Automatic")),
        (None, "", False, ("Euler", "Automatic")),
    ],
)
def test_resolve_splits_legacy_names(name, scheduler, convert, expected):
    info, schedule = resolve_sampler(name, scheduler, convert_automatic=convert)
    assert (info.name, schedule) == expected


def test_unknown_names_raise_with_the_valid_list():
    with pytest.raises(SamplerError, match="Unknown sampler 'Euler b'.*DPM\\+\\+ 2M.*LCM"):
        resolve_sampler("Euler b")
    with pytest.raises(SamplerError, match="Unknown sampler"):
        find_sampler("DPM++ 2M Turbo")
    with pytest.raises(SamplerError, match="Unknown schedule type 'Turbo'.*Align Your Steps"):
        resolve_sampler("Euler", "Turbo")


def test_samplers_module_doctests_pass():
    assert doctest.testmod(samplers).failed == 0


def test_automatic_schedule_follows_a1111_defaults():
    expected = {
        "DPM++ 2M": "karras",
        "DPM++ SDE": "karras",
        "DPM++ 2S a": "karras",
        "DPM2": "karras",
        "DPM2 a": "karras",
        "Restart": "karras",
        "DPM++ 2M SDE": "exponential",
        "DPM++ 2M SDE Heun": "exponential",
        "DPM++ 3M SDE": "exponential",
        "Euler": "uniform",
        "Euler a": "uniform",
        "LMS": "uniform",
        "DDIM": "ddim",
        "PLMS": "ddim",
        "UniPC": "uniform",
    }
    for name, schedule in expected.items():
        assert samplers.automatic_schedule_name(find_sampler(name), "Automatic") == schedule, name
    assert samplers.automatic_schedule_name(find_sampler("DPM++ 2M"), "Exponential") == "exponential"


CONCRETE = [s.label for s in samplers.SCHEDULES if s.name != "automatic"]


@pytest.mark.parametrize("schedule", CONCRETE)
@pytest.mark.parametrize("steps", [1, 2, 7, 20, 33])
def test_every_schedule_is_decreasing_and_ends_in_zero(schedule, steps):
    """As A1111 1.10 builds them: DDIM runs every (1000 // steps)-th timestep, one step more when steps does
    not divide 1000; KL Optimal ends at sigma_min instead of 0."""
    model = schedules.ModelSigmas.from_config(SD_CONFIG)
    sigmas = schedules.build_sigmas(schedule, steps, model)
    expected = len(range(1, 1000, 1000 // steps)) + 1 if schedule == "DDIM" else steps + 1
    assert sigmas.dtype == torch.float32 and sigmas.shape == (expected,)
    assert bool(torch.all(sigmas[1:] < sigmas[:-1]))
    if schedule == "KL Optimal":
        assert float(sigmas[-1]) == pytest.approx(model.sigma_min, rel=1e-5)
    else:
        assert sigmas[-1] == 0
    assert float(sigmas[0]) <= model.sigma_max * 1.001


def test_schedule_shapes_match_their_definitions():
    model = schedules.ModelSigmas.from_config(SD_CONFIG)
    low, high = model.sigma_min, model.sigma_max
    karras = schedules.build_sigmas("Karras", 10, model)
    assert karras[0] == pytest.approx(high) and karras[-2] == pytest.approx(low)
    ramp = (karras[:-1].double() ** (1 / 7)).diff()
    assert torch.allclose(ramp, ramp[0].expand_as(ramp), rtol=1e-4)  # linear in sigma^(1/rho)
    exponential = schedules.build_sigmas("Exponential", 10, model)[:-1].double().log().diff()
    assert torch.allclose(exponential, exponential[0].expand_as(exponential), rtol=1e-4)
    rho3 = schedules.build_sigmas("Karras", 10, model, rho=3.0)
    assert not torch.allclose(rho3, karras)
    custom = schedules.build_sigmas("Karras", 5, model, sigma_min=0.5, sigma_max=10.0)
    assert custom[0] == pytest.approx(10.0) and custom[-2] == pytest.approx(0.5)
    uniform = schedules.build_sigmas("Uniform", 3, model)
    assert torch.allclose(model.sigma_to_t(uniform[:-1]), torch.tensor([999.0, 499.5, 0.0]), atol=1e-3)
    ddim = schedules.build_sigmas("DDIM", 10, model)
    assert torch.allclose(model.sigma_to_t(ddim[:-1]), torch.arange(901.0, 0, -100), atol=1e-3)
    ays = schedules.build_sigmas("Align Your Steps", 11, model)
    assert ays[:-1].tolist() == pytest.approx(list(schedules.AYS_SD15), rel=1e-6)
    ays_xl = schedules.build_sigmas("Align Your Steps", 20, model, is_sdxl=True)
    assert ays_xl[0] == pytest.approx(14.615) and ays_xl[-2] == pytest.approx(0.029)
    kl = schedules.build_sigmas("KL Optimal", 4, model).double().atan().diff()
    assert torch.allclose(kl, kl[0].expand_as(kl), rtol=1e-4)


def test_beta_quantiles_are_accurate():
    assert schedules._beta_cdf(0.5, 0.6, 0.6) == pytest.approx(0.5, abs=1e-12)
    assert schedules._beta_cdf(0.4, 2, 3) == pytest.approx(0.5248, abs=1e-12)  # 6x^2 - 8x^3 + 3x^4
    assert schedules._beta_ppf(0.5248, 2, 3) == pytest.approx(0.4, abs=1e-9)
    assert schedules._beta_ppf(0.3, 1, 1) == pytest.approx(0.3, abs=1e-9)


def test_model_sigmas_round_trip_and_lcm_grid():
    model = schedules.ModelSigmas.from_config(SD_CONFIG)
    t = torch.tensor([0.0, 3.5, 500.25, 999.0])
    assert torch.allclose(model.sigma_to_t(model.t_to_sigma(t)), t, atol=1e-3)
    grid = model.lcm_grid()
    assert len(grid.sigmas) == 50
    assert grid.model_timestep(grid.uniform(4)[:-1]).tolist() == [999.0, 679.0, 339.0, 19.0]
    ztsnr = schedules.ModelSigmas.from_config(SD_CONFIG, zero_terminal_snr=True)
    assert ztsnr.sigma_max > 1000 and ztsnr.sigma_min == pytest.approx(model.sigma_min, rel=0.2)
    with pytest.raises(SamplerError, match="beta_schedule"):
        schedules.ModelSigmas.from_config({**SD_CONFIG, "beta_schedule": "nonsense"})


def test_lms_coefficients_integrate_exactly():
    sigmas = [14.6, 7.0, 3.2, 1.1, 0.4, 0.0]
    for i in range(len(sigmas) - 1):
        order = min(i + 1, 4)
        coefficients = [k_samplers.lms_coefficient(order, sigmas, i, j) for j in range(order)]
        assert sum(coefficients) == pytest.approx(sigmas[i + 1] - sigmas[i], rel=1e-9)


def test_ancestral_step_splits_the_variance():
    down, up = k_samplers.ancestral_step(2.0, 1.0, 1.0)
    assert down**2 + up**2 == pytest.approx(1.0)
    assert k_samplers.ancestral_step(2.0, 1.0, 0.0) == (1.0, 0.0)
    assert k_samplers.ancestral_step(2.0, 0.0, 1.0) == (0.0, 0.0)


def test_sampler_options_declare_a1111_keys_and_defaults():
    defaults = sampler_options.DEFAULTS
    assert defaults["eta_ancestral"] == 1.0 and defaults["eta_ddim"] == 0.0
    assert (defaults["s_churn"], defaults["s_tmin"], defaults["s_tmax"], defaults["s_noise"]) == (0.0, 0.0, 0.0, 1.0)
    assert (defaults["sigma_min"], defaults["sigma_max"], defaults["rho"]) == (0.0, 0.0, 0.0)
    assert defaults["uni_pc_variant"] == "bh1" and defaults["uni_pc_order"] == 3
    assert len({option.key for option in sampler_options.OPTIONS}) == len(sampler_options.OPTIONS)
    hide = next(option for option in sampler_options.OPTIONS if option.key == "hide_samplers")
    assert hide.choice_list() == A1111_SAMPLERS
    assert all(option.section.id in ("sampler-params", "optimizations") for option in sampler_options.OPTIONS)
    assert math.isclose(next(o for o in sampler_options.OPTIONS if o.key == "s_noise").maximum, 1.1)


def test_table_schedules_follow_a1111_definitions():
    """Simple, Normal, SGM Uniform, Polyexponential, DDIM and Beta against their definitions, recomputed here."""
    model = schedules.ModelSigmas.from_config(SD_CONFIG)
    table = model.sigmas.double()
    n = 6
    simple = schedules.build_sigmas("Simple", n, model)
    assert simple[:-1].tolist() == pytest.approx([float(table[-(1 + int(i * 1000 / n))]) for i in range(n)])
    t_max, t_min = float(model.sigma_to_t(model.sigma_max)), float(model.sigma_to_t(model.sigma_min))
    normal = schedules.build_sigmas("Normal", n, model)
    normal_t = np.linspace(t_max, t_min, n)
    assert normal[:-1].tolist() == pytest.approx([float(model.t_to_sigma(t)) for t in normal_t], rel=1e-5)
    sgm = schedules.build_sigmas("SGM Uniform", n, model)
    sgm_t = np.linspace(t_max, t_min, n + 1)[:-1]
    assert sgm[:-1].tolist() == pytest.approx([float(model.t_to_sigma(t)) for t in sgm_t], rel=1e-5)
    poly = schedules.build_sigmas("Polyexponential", n, model, rho=2.0)
    ramp = np.linspace(1, 0, n) ** 2
    low, high = math.log(model.sigma_min), math.log(model.sigma_max)
    assert poly[:-1].tolist() == pytest.approx(np.exp(ramp * (high - low) + low).tolist(), rel=1e-5)
    ddim = schedules.build_sigmas("DDIM", 7, model)  # timesteps 995, 853, ..., 1: eight steps
    assert ddim[:-1].tolist() == pytest.approx([float(table[t]) for t in range(995, 0, -142)], rel=1e-6)
    from scipy import stats

    beta = schedules.build_sigmas("Beta", n, model, beta_alpha=0.6, beta_beta=0.6)
    quantiles = [stats.beta.ppf(1 - x, 0.6, 0.6) for x in np.linspace(0, 1, n)]
    spread = model.sigma_max - model.sigma_min
    assert beta[:-1].tolist() == pytest.approx([model.sigma_min + q * spread for q in quantiles], rel=1e-5)


def test_unipc_time_uniform_walks_continuous_time_to_t_zero():
    """A1111's UniPC: n + 1 points evenly spaced in time 999 → 0, log(alpha) interpolated between entries."""
    model = schedules.ModelSigmas.from_config(SD_CONFIG)
    sigmas = schedules.unipc_time_uniform(8, model)
    assert sigmas.shape == (9,) and bool(torch.all(sigmas[1:] < sigmas[:-1]))
    assert float(sigmas[0]) == pytest.approx(model.sigma_max, rel=1e-5)
    assert float(sigmas[-1]) == pytest.approx(model.sigma_min, rel=1e-5)
    t = 999 - 999 / 8  # between table entries 874 and 875
    log_alpha = 0.5 * model.alphas_cumprod.double().log()
    between = log_alpha[874] + (t - 874) * (log_alpha[875] - log_alpha[874])
    assert float(sigmas[1]) == pytest.approx(math.sqrt(math.exp(-2 * float(between)) - 1), rel=1e-5)
