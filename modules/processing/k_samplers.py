"""Sampling algorithms as steppers over a sigma schedule, in k-diffusion's formulation.

Each algorithm is a small class whose ``step(i, x)`` advances the latents by one step and returns
``(x_next, denoised)``. The one loop in ``denoise`` drives every stepper, so hooks, progress, previews and
interruption behave the same for all samplers. ``model(x, sigma)`` returns the denoised estimate (CFG
already applied); ``noise(x)`` returns standard normal noise shaped like ``x`` (per-image seeded). A stepper
only calls its model; one that needs more of the CFG denoiser (DDIM CFG++) asks through ``GuidedDenoiser``.

The maths follows Karras et al. (2022) and DPM-Solver++ (Lu et al.), as k-diffusion and A1111 implement
them. DPM fast/adaptive, Restart and the timestep samplers (DDIM, PLMS, UniPC, LCM) are in ``k_solvers``;
``steppers`` maps algorithm names to classes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

Model = Callable[[torch.Tensor, float], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]
SDENoise = Callable[[float, float], torch.Tensor]  # noise(sigma, sigma_next) over one Brownian path


@runtime_checkable
class GuidedDenoiser(Protocol):
    """A model that combines cond and uncond predictions (CFG), for steppers that need the parts.

    ``guide(scale_multiplier, always_uncond)`` scales the CFG scale from the next call on and, with
    ``always_uncond``, computes the uncond prediction on every call (no skipping); ``uncond_denoised()`` is that
    prediction from the last call (None before the first).
    """

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor: ...

    def guide(self, scale_multiplier: float, always_uncond: bool) -> None: ...

    def uncond_denoised(self) -> torch.Tensor | None: ...


@dataclasses.dataclass(frozen=True)
class SamplerParams:
    """Per-run sampler parameters (A1111's eta / s_churn / s_tmin / s_tmax / s_noise and UniPC settings)."""

    eta: float = 1.0
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0
    unipc_variant: str = "bh1"
    unipc_order: int = 3
    unipc_lower_order_final: bool = True


def ancestral_step(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(sigma_down, sigma_up): where to step deterministically and how much fresh noise to add."""
    if not eta or sigma_next == 0:
        return sigma_next, 0.0
    up = min(sigma_next, eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5)
    return (sigma_next**2 - up**2) ** 0.5, up


def _neg_log(sigma: float) -> float:
    return -math.log(sigma)


class Stepper:
    """Base: walks ``sigmas`` one step at a time; subclasses implement ``step``."""

    def __init__(
        self, model: Model, sigmas: torch.Tensor, noise: Noise, params: SamplerParams, brownian: SDENoise | None = None
    ) -> None:
        self.model, self.noise, self.p = model, noise, params
        self.s = [float(value) for value in sigmas]
        # SDE samplers: noise(sigma, sigma_next) over one Brownian path (``brownian.BrownianNoise``); without
        # one they fall back to independent normals from ``noise``.
        self.brownian = brownian

    def _sde_noise(self, x: torch.Tensor, sigma: Any, sigma_next: Any) -> torch.Tensor:
        if self.brownian is not None:
            return self.brownian(sigma, sigma_next).to(x)
        return self.noise(x)

    @property
    def total_steps(self) -> int:
        """Steps the loop will run (an estimate for adaptive samplers)."""
        return len(self.s) - 1

    def finished(self, i: int) -> bool:
        return i >= len(self.s) - 1

    def sigma_pair(self, i: int) -> tuple[float, float]:
        return self.s[i], self.s[i + 1]

    def step(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _d(self, x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
        denoised = self.model(x, sigma)
        return (x - denoised) / sigma, denoised

    def _churn(self, x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, float]:
        p = self.p
        gamma = min(p.s_churn / (len(self.s) - 1), 2**0.5 - 1) if p.s_tmin <= sigma <= p.s_tmax else 0.0
        sigma_hat = sigma * (gamma + 1)
        if gamma > 0:
            x = x + self.noise(x) * p.s_noise * (sigma_hat**2 - sigma**2) ** 0.5
        return x, sigma_hat


class Euler(Stepper):
    def step(self, i, x):
        x, sigma_hat = self._churn(x, self.s[i])
        d, denoised = self._d(x, sigma_hat)
        return x + d * (self.s[i + 1] - sigma_hat), denoised


class Heun(Stepper):
    def step(self, i, x):
        x, sigma_hat = self._churn(x, self.s[i])
        sigma_next = self.s[i + 1]
        d, denoised = self._d(x, sigma_hat)
        dt = sigma_next - sigma_hat
        if sigma_next == 0:
            return x + d * dt, denoised
        d_2, _ = self._d(x + d * dt, sigma_next)
        return x + (d + d_2) / 2 * dt, denoised


class DPM2(Stepper):
    def step(self, i, x):
        x, sigma_hat = self._churn(x, self.s[i])
        sigma_next = self.s[i + 1]
        d, denoised = self._d(x, sigma_hat)
        if sigma_next == 0:
            return x + d * (sigma_next - sigma_hat), denoised
        sigma_mid = math.exp((math.log(sigma_hat) + math.log(sigma_next)) / 2)
        d_2, _ = self._d(x + d * (sigma_mid - sigma_hat), sigma_mid)
        return x + d_2 * (sigma_next - sigma_hat), denoised


class EulerAncestral(Stepper):
    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        d, denoised = self._d(x, sigma)
        down, up = ancestral_step(sigma, sigma_next, self.p.eta)
        x = x + d * (down - sigma)
        if sigma_next > 0 and up > 0:
            x = x + self.noise(x) * self.p.s_noise * up
        return x, denoised


class DPM2Ancestral(Stepper):
    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        d, denoised = self._d(x, sigma)
        down, up = ancestral_step(sigma, sigma_next, self.p.eta)
        if down == 0:
            return x + d * (down - sigma), denoised
        sigma_mid = math.exp((math.log(sigma) + math.log(down)) / 2)
        d_2, _ = self._d(x + d * (sigma_mid - sigma), sigma_mid)
        x = x + d_2 * (down - sigma)
        if up > 0:
            x = x + self.noise(x) * self.p.s_noise * up
        return x, denoised


def lms_coefficient(order: int, sigmas: list[float], i: int, j: int) -> float:
    """Integral over [sigma_i, sigma_i+1] of the j-th Lagrange basis polynomial on the last ``order`` sigmas."""
    poly = np.poly1d([1.0])
    for k in range(order):
        if k != j:
            poly = poly * np.poly1d([1.0, -sigmas[i - k]]) / (sigmas[i - j] - sigmas[i - k])
    integral = poly.integ()
    return float(integral(sigmas[i + 1]) - integral(sigmas[i]))


class LMS(Stepper):
    order = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ds: list[torch.Tensor] = []

    def step(self, i, x):
        d, denoised = self._d(x, self.s[i])
        self.ds = [*self.ds, d][-self.order :]
        order = min(i + 1, self.order)
        coefficients = [lms_coefficient(order, self.s, i, j) for j in range(order)]
        return x + sum(c * d_j for c, d_j in zip(coefficients, reversed(self.ds), strict=True)), denoised


class DPMPP2SAncestral(Stepper):
    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        down, up = ancestral_step(sigma, sigma_next, self.p.eta)
        if down == 0:
            x = denoised
        else:
            h = _neg_log(down) - _neg_log(sigma)
            sigma_mid = math.exp(-(_neg_log(sigma) + h / 2))
            x_2 = (sigma_mid / sigma) * x - math.expm1(-h / 2) * denoised
            x = (down / sigma) * x - math.expm1(-h) * self.model(x_2, sigma_mid)
        if sigma_next > 0 and up > 0:
            x = x + self.noise(x) * self.p.s_noise * up
        return x, denoised


class DPMPPSDE(Stepper):
    """DPM-Solver++ (stochastic), r = 1/2, in float32 tensors as k-diffusion computes it (the half-step
    sigma and the ancestral split feed the Brownian tree's query times). The two noises of a step are
    increments of one Brownian path: over the first half-interval, then over the whole interval."""

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        if sigma_next == 0:
            return denoised, denoised
        eta, s_noise = self.p.eta, self.p.s_noise
        t = torch.tensor(sigma, dtype=torch.float32).log().neg()
        t_next = torch.tensor(sigma_next, dtype=torch.float32).log().neg()
        s = t + (t_next - t) * 0.5
        sigma_t, sigma_s, sigma_e = t.neg().exp(), s.neg().exp(), t_next.neg().exp()
        noise_1 = noise_2 = None
        if self.brownian is None and eta:
            z_1, z_2 = self.noise(x), self.noise(x)
            a, b = float(sigma_t - sigma_s), float(sigma_s - sigma_e)
            noise_1, noise_2 = z_1, (a**0.5 * z_1 + b**0.5 * z_2) / (a + b) ** 0.5
        down, up = ancestral_step(sigma_t, sigma_s, eta)
        s_down = torch.as_tensor(down).log().neg()
        x_2 = (s_down.neg().exp() / sigma_t) * x - (t - s_down).expm1() * denoised
        if eta:
            first = noise_1 if noise_1 is not None else self._sde_noise(x, sigma_t, sigma_s)
            x_2 = x_2 + first * s_noise * up
        denoised_2 = self.model(x_2, float(sigma_s))
        down, up = ancestral_step(sigma_t, sigma_e, eta)  # with r = 1/2 the update uses denoised_2 only
        e_down = torch.as_tensor(down).log().neg()
        x = (e_down.neg().exp() / sigma_t) * x - (t - e_down).expm1() * denoised_2
        if eta:
            second = noise_2 if noise_2 is not None else self._sde_noise(x, sigma_t, sigma_e)
            x = x + second * s_noise * up
        return x, denoised


class DPMPP2M(Stepper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.old_denoised: torch.Tensor | None = None

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = _neg_log(sigma_next) - _neg_log(sigma)
            mixed = denoised
            if self.old_denoised is not None:
                r = (_neg_log(sigma) - _neg_log(self.s[i - 1])) / h
                mixed = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * self.old_denoised
            x = (sigma_next / sigma) * x - math.expm1(-h) * mixed
        self.old_denoised = denoised
        return x, denoised


class DPMPP2MSDE(Stepper):
    solver_type = "midpoint"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.old_denoised: torch.Tensor | None = None
        self.h_last: float | None = None

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = _neg_log(sigma_next) - _neg_log(sigma)
            eta_h = self.p.eta * h
            phi = -math.expm1(-h - eta_h)
            x = sigma_next / sigma * math.exp(-eta_h) * x + phi * denoised
            if self.old_denoised is not None:
                r = self.h_last / h
                if self.solver_type == "heun":
                    x = x + (phi / (-h - eta_h) + 1) * (1 / r) * (denoised - self.old_denoised)
                else:
                    x = x + 0.5 * phi * (1 / r) * (denoised - self.old_denoised)
            if self.p.eta:
                noise = self._sde_noise(x, sigma, sigma_next)
                x = x + noise * sigma_next * (-math.expm1(-2 * eta_h)) ** 0.5 * self.p.s_noise
            self.h_last = h
        self.old_denoised = denoised
        return x, denoised


class DPMPP2MSDEHeun(DPMPP2MSDE):
    solver_type = "heun"


class DPMPP3MSDE(Stepper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.denoised_1 = self.denoised_2 = None
        self.h_1: float | None = None
        self.h_2: float | None = None

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            h = _neg_log(sigma_next) - _neg_log(sigma)
            h_eta = h * (self.p.eta + 1)
            x = math.exp(-h_eta) * x - math.expm1(-h_eta) * denoised
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if self.h_2 is not None:
                r0, r1 = self.h_1 / h, self.h_2 / h
                d1_0 = (denoised - self.denoised_1) / r0
                d1_1 = (self.denoised_1 - self.denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
            elif self.h_1 is not None:
                x = x + phi_2 * (denoised - self.denoised_1) / (self.h_1 / h)
            if self.p.eta:
                noise = self._sde_noise(x, sigma, sigma_next)
                x = x + noise * sigma_next * (-math.expm1(-2 * h * self.p.eta)) ** 0.5 * self.p.s_noise
            self.h_1, self.h_2 = h, self.h_1
        self.denoised_1, self.denoised_2 = denoised, self.denoised_1
        return x, denoised
