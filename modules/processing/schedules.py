"""Sigma schedules: pure functions from (steps, the model's noise table) to a decreasing sigma array.

A schedule is what A1111 calls a "Schedule type". Every function here returns ``steps + 1`` float32 sigmas on
the CPU, strictly decreasing and ending in 0 (as A1111 1.10 builds them, two exceptions: DDIM runs one step
more when ``steps`` does not divide the model's 1000 timesteps, and KL Optimal ends at sigma_min), in
k-diffusion's convention (sigma = sqrt((1 - abar) / abar)).
``ModelSigmas`` is the discrete table of a model's training noise levels, built from diffusers scheduler
kwargs; it converts between sigma and the (continuous) UNet timestep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from modules.processing.samplers import SamplerError, find_schedule

# Align Your Steps 10-step sigma lists published by NVIDIA, as A1111 1.10 ships them.
AYS_SD15 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)
AYS_SDXL = (14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029)
ZTSNR_LAST_ALPHA_CUMPROD = 4.8973451890853435e-08  # A1111's value for "Zero Terminal SNR"


def alphas_cumprod_from_config(config: Mapping[str, Any], zero_terminal_snr: bool = False) -> torch.Tensor:
    """Training alphas-cumprod (float64) from diffusers scheduler kwargs, as the LDM code computes them."""
    steps = int(config.get("num_train_timesteps", 1000))
    start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
    kind = config.get("beta_schedule", "scaled_linear")
    if config.get("trained_betas") is not None:
        betas = torch.tensor(config["trained_betas"], dtype=torch.float64)
    elif kind == "scaled_linear":
        betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    elif kind == "linear":
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
    elif kind == "squaredcos_cap_v2":
        ts = torch.arange(steps + 1, dtype=torch.float64) / steps
        abar = torch.cos((ts + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.clamp(1 - abar[1:] / abar[:-1], max=0.999)
    else:
        raise SamplerError(f"Unsupported beta_schedule {kind!r} in the scheduler config")
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    if zero_terminal_snr:
        root = alphas_cumprod.sqrt()
        first, last = root[0].clone(), root[-1].clone()
        root = (root - last) * (first / (first - last))
        alphas_cumprod = root**2
        alphas_cumprod[-1] = ZTSNR_LAST_ALPHA_CUMPROD
    return alphas_cumprod


class ModelSigmas:
    """A model's discrete noise levels (ascending) and the sigma <-> timestep maps k-diffusion uses.

    ``timestep_stride``/``timestep_offset`` describe a sub-grid (LCM's 50 "original" timesteps): index ``i``
    of the table is UNet timestep ``i * stride + offset``, and sigmas are snapped to the grid.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, timestep_stride: int = 1, timestep_offset: int = 0) -> None:
        alphas = alphas_cumprod.to(torch.float32)
        self.alphas_cumprod = alphas
        self.sigmas = ((1 - alphas) / alphas) ** 0.5
        self.log_sigmas = self.sigmas.log()
        self.stride, self.offset = timestep_stride, timestep_offset

    @classmethod
    def from_config(cls, config: Mapping[str, Any], zero_terminal_snr: bool = False) -> ModelSigmas:
        return cls(alphas_cumprod_from_config(config, zero_terminal_snr))

    def lcm_grid(self, original_steps: int = 50) -> ModelSigmas:
        """LCM's denoiser sees only every (N / 50)-th timestep: 19, 39, ..., 999 for N = 1000."""
        stride = len(self.alphas_cumprod) // original_steps
        index = torch.arange(original_steps) * stride + (stride - 1)
        return ModelSigmas(self.alphas_cumprod[index], timestep_stride=stride, timestep_offset=stride - 1)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Continuous table index for sigma (log-sigma interpolation between neighbours)."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float32).clamp(min=1e-10).log()
        dists = log_sigma - self.log_sigmas.to(log_sigma.device)[:, None]
        low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=len(self.log_sigmas) - 2)
        low_value, high_value = self.log_sigmas.to(low.device)[low], self.log_sigmas.to(low.device)[low + 1]
        weight = ((low_value - log_sigma) / (low_value - high_value)).clamp(0, 1)
        return ((1 - weight) * low + weight * (low + 1)).view(log_sigma.shape)

    def t_to_sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32)
        low, high = t.floor().long(), t.ceil().long()
        weight = t.frac()
        log_sigmas = self.log_sigmas.to(t.device)
        return ((1 - weight) * log_sigmas[low] + weight * log_sigmas[high]).exp()

    def model_timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The timestep the UNet is called with for ``sigma`` (continuous, or snapped for a sub-grid)."""
        if self.stride == 1:
            return self.sigma_to_t(sigma)
        log_sigma = sigma.clamp(min=1e-10).log()
        index = (log_sigma - self.log_sigmas.to(sigma.device)[:, None]).abs().argmin(dim=0).view(sigma.shape)
        return (index * self.stride + self.offset).to(torch.float32)

    def uniform(self, n: int) -> torch.Tensor:
        """k-diffusion's ``get_sigmas(n)``: n timesteps evenly spaced over the table, then 0."""
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return _append_zero(self.t_to_sigma(t))


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.to(torch.float32), sigmas.new_zeros([1], dtype=torch.float32)])


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((high + ramp * (low - high)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64).exp())


def polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    ramp = torch.linspace(1, 0, n, dtype=torch.float64) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def sgm_uniform(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float) -> torch.Tensor:
    start, end = model.sigma_to_t(sigma_max), model.sigma_to_t(sigma_min)
    return _append_zero(model.t_to_sigma(torch.linspace(float(start), float(end), n + 1)[:-1]))


def normal(n: int, model: ModelSigmas, sigma_min: float, sigma_max: float) -> torch.Tensor:
    start, end = model.sigma_to_t(sigma_max), model.sigma_to_t(sigma_min)
    return _append_zero(model.t_to_sigma(torch.linspace(float(start), float(end), n)))


def simple(n: int, model: ModelSigmas) -> torch.Tensor:
    stride = len(model.sigmas) / n
    return _append_zero(torch.stack([model.sigmas[-(1 + int(x * stride))] for x in range(n)]))


def ddim(n: int, model: ModelSigmas) -> torch.Tensor:
    """A1111's DDIM timesteps 1, 1 + N//n, ... below N, highest first, then 0: all of them, so n + 1 steps
    run when n does not divide N (N = 1000, n = 7: every 142nd timestep from 995 down to 1)."""
    stride = max(len(model.sigmas) // n, 1)
    picked = model.sigmas[torch.arange(1, len(model.sigmas), stride)].flip(0)
    return _append_zero(picked)


def kl_optimal(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """n + 1 sigmas evenly spaced in arctan(sigma) from sigma_max down to sigma_min, in float32 as A1111
    computes them. A1111 appends no 0 here: the last step ends at sigma_min."""
    fraction = torch.arange(n + 1) / n
    low = torch.arctan(torch.tensor(sigma_min, dtype=torch.float32))
    high = torch.arctan(torch.tensor(sigma_max, dtype=torch.float32))
    return torch.tan(fraction * low + (1.0 - fraction) * high)


def unipc_time_uniform(n: int, model: ModelSigmas, start: float | None = None) -> torch.Tensor:
    """A1111's UniPC ("time_uniform" skip type): n + 1 points evenly spaced in continuous time from the last
    timestep (or ``start``, for img2img) down to t = 0, where the VP schedule interpolates log(alpha) linearly
    between table entries; the last step ends at t = 0 (sigma_min), not at 0."""
    log_alpha = 0.5 * model.alphas_cumprod.double().log()
    top = len(log_alpha) - 1 if start is None else float(start)
    t = torch.linspace(top, 0, n + 1, dtype=torch.float64)
    low = t.floor().long().clamp(max=len(log_alpha) - 2)
    interpolated = torch.lerp(log_alpha[low], log_alpha[low + 1], t - low)
    return ((-2 * interpolated).exp() - 1).sqrt().to(torch.float32)


def align_your_steps(n: int, is_sdxl: bool = False) -> torch.Tensor:
    """NVIDIA's 10-step lists, log-linearly interpolated to n values, then 0."""
    base = np.array(AYS_SDXL if is_sdxl else AYS_SD15)
    if n == len(base):
        return _append_zero(torch.from_numpy(base))
    xs, ys = np.linspace(0, 1, len(base)), np.log(base[::-1])
    values = np.exp(np.interp(np.linspace(0, 1, n), xs, ys))[::-1].copy()
    return _append_zero(torch.from_numpy(values))


def beta(n: int, sigma_min: float, sigma_max: float, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """ "Beta Sampling is All You Need": sigmas at Beta(alpha, beta) quantiles of 1 - linspace(0, 1, n)."""
    quantiles = [_beta_ppf(1.0 - q, alpha, beta_) for q in np.linspace(0, 1, n)]
    return _append_zero(torch.tensor([sigma_min + q * (sigma_max - sigma_min) for q in quantiles], dtype=torch.float64))


def _beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta function I_x(a, b) by its continued fraction (Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _beta_cdf(1.0 - x, b, a)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * result / a


def _beta_ppf(q: float, a: float, b: float) -> float:
    """Inverse of ``_beta_cdf`` by bisection (monotone, so 60 halvings reach double precision)."""
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if _beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def build_sigmas(
    schedule: str,
    steps: int,
    model: ModelSigmas,
    *,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float | None = None,
    is_sdxl: bool = False,
    beta_alpha: float = 0.6,
    beta_beta: float = 0.6,
) -> torch.Tensor:
    """``steps + 1`` sigmas (see the module docstring for DDIM and KL Optimal) for a schedule key or label
    (not "Automatic": resolve that first).

    ``sigma_min``/``sigma_max``/``rho`` override the model's range and the schedule's default rho where the
    schedule uses them (A1111's ``sigma_min``, ``sigma_max``, ``rho`` settings; None or 0 = default).
    """
    if steps < 1:
        raise SamplerError(f"steps must be at least 1, got {steps}")
    info = find_schedule(schedule)
    low = sigma_min if sigma_min else model.sigma_min
    high = sigma_max if sigma_max else model.sigma_max
    rho_value = rho if rho and info.default_rho != -1 else info.default_rho
    builders = {
        "uniform": lambda: model.uniform(steps),
        "karras": lambda: karras(steps, low, high, rho_value),
        "exponential": lambda: exponential(steps, low, high),
        "polyexponential": lambda: polyexponential(steps, low, high, rho_value),
        "sgm_uniform": lambda: sgm_uniform(steps, model, low, high),
        "kl_optimal": lambda: kl_optimal(steps, low, high),
        "align_your_steps": lambda: align_your_steps(steps, is_sdxl),
        "simple": lambda: simple(steps, model),
        "normal": lambda: normal(steps, model, low, high),
        "ddim": lambda: ddim(steps, model),
        "beta": lambda: beta(steps, low, high, beta_alpha, beta_beta),
    }
    if info.name not in builders:
        raise SamplerError(f"Schedule {info.label!r} must be resolved to a concrete schedule before building")
    return builders[info.name]().to(torch.float32)
