"""The other samplers, as steppers over the same sigma schedule: DPM-Solver (fast, adaptive), Restart, and
the timestep samplers written in sigma space (DDIM, DDIM CFG++, PLMS, UniPC, LCM): DDIM with eta is exactly an
ancestral Euler step, PLMS is Adams-Bashforth on the eps prediction. UniPC follows Zhao et al., Restart Xu et al.

They share ``Stepper`` and its conventions with ``k_samplers`` (the k-diffusion family), so the one loop in
``denoise`` drives them the same way.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from modules.processing.k_samplers import GuidedDenoiser, Stepper, _neg_log, ancestral_step
from modules.processing.schedules import karras


class _DPMSolver(Stepper):
    """Shared DPM-Solver steps in t = -log(sigma), on eps = (x - denoised) / sigma (DPM fast / adaptive)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        positive = [value for value in self.s if value > 0]
        self.t_start, self.t_end = _neg_log(max(positive)), _neg_log(min(positive))

    def _eps(self, cache: dict, key: str, x: torch.Tensor, t: float) -> torch.Tensor:
        if key not in cache:
            sigma = math.exp(-t)
            cache[key] = (x - self.model(x, sigma)) / sigma
        return cache[key]

    def _order_step(self, order: int, x, t: float, t_next: float, cache: dict, r1: float = 1 / 3):
        h, sig = t_next - t, (lambda value: math.exp(-value))
        eps = self._eps(cache, "eps", x, t)
        base = x - sig(t_next) * math.expm1(h) * eps
        if order == 1:
            return base
        if order == 2:
            s1 = t + r1 * h
            eps_r1 = self._eps(cache, "eps_r1", x - sig(s1) * math.expm1(r1 * h) * eps, s1)
            return base - sig(t_next) / (2 * r1) * math.expm1(h) * (eps_r1 - eps)
        r1, r2 = 1 / 3, 2 / 3
        s1, s2 = t + r1 * h, t + r2 * h
        eps_r1 = self._eps(cache, "eps_r1", x - sig(s1) * math.expm1(r1 * h) * eps, s1)
        u2 = (
            x
            - sig(s2) * math.expm1(r2 * h) * eps
            - sig(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps)
        )
        eps_r2 = self._eps(cache, "eps_r2", u2, s2)
        return base - sig(t_next) / r2 * (math.expm1(h) / h - 1) * (eps_r2 - eps)

    def _ancestral_target(self, t: float, t_next: float) -> tuple[float, float]:
        """With eta: the deterministic target time and the noise to add on top (DPM-Solver's ancestral form)."""
        if not self.p.eta:
            return t_next, 0.0
        down, _ = ancestral_step(math.exp(-t), math.exp(-t_next), self.p.eta)
        target = min(self.t_end, _neg_log(down)) if down > 0 else self.t_end
        return target, max(math.exp(-2 * t_next) - math.exp(-2 * target), 0.0) ** 0.5


class DPMFast(_DPMSolver):
    """DPM-Solver-fast: as many third-order steps as the step budget (model calls) allows."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        nfe = len(self.s) - 1
        m = nfe // 3 + 1
        self.ts = np.linspace(self.t_start, self.t_end, m + 1).tolist()
        self.orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]

    @property
    def total_steps(self) -> int:
        return len(self.orders)

    def finished(self, i: int) -> bool:
        return i >= len(self.orders)

    def sigma_pair(self, i: int) -> tuple[float, float]:
        return math.exp(-self.ts[i]), math.exp(-self.ts[i + 1])

    def step(self, i, x):
        t, t_next = self.ts[i], self.ts[i + 1]
        target, up = self._ancestral_target(t, t_next)
        cache: dict = {}
        denoised = x - math.exp(-t) * self._eps(cache, "eps", x, t)
        x = self._order_step(self.orders[i], x, t, target, cache, r1=1 / 2)
        if up > 0:
            x = x + self.noise(x) * up * self.p.s_noise
        return x, denoised


class DPMAdaptive(_DPMSolver):
    """DPM-Solver-23 with a PID step-size controller; runs until it reaches sigma_min (step count varies)."""

    rtol, atol, h_init, accept_safety, eps_floor = 0.05, 0.0078, 0.05, 0.81, 1e-8

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.position, self.h, self.x_prev = self.t_start, self.h_init, None
        self.errors: list[float] = []
        self.exponent = 1 / (1.5 if self.p.eta else 3)  # icoeff 1, pcoeff = dcoeff = 0

    def finished(self, i: int) -> bool:
        return self.position >= self.t_end - 1e-5

    def sigma_pair(self, i: int) -> tuple[float, float]:
        return math.exp(-self.position), math.exp(-min(self.t_end, self.position + self.h))

    def _accept(self, error: float) -> bool:
        inverse = 1 / (error + self.eps_floor)
        if not self.errors:
            self.errors = [inverse, inverse, inverse]
        self.errors[0] = inverse
        factor = 1 + math.atan(self.errors[0] ** self.exponent - 1)
        accepted = factor >= self.accept_safety
        if accepted:
            self.errors[2], self.errors[1] = self.errors[1], self.errors[0]
        self.h *= factor
        return accepted

    def step(self, i, x):
        if self.x_prev is None:
            self.x_prev = x
        s = self.position
        t = min(self.t_end, s + self.h)
        target, up = self._ancestral_target(s, t)
        cache: dict = {}
        denoised = x - math.exp(-s) * self._eps(cache, "eps", x, s)
        x_low = self._order_step(2, x, s, target, cache, r1=1 / 3)
        x_high = self._order_step(3, x, s, target, cache)
        delta = torch.maximum(
            torch.full_like(x_low, self.atol), self.rtol * torch.maximum(x_low.abs(), self.x_prev.abs())
        )
        error = float(torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5)
        if not self._accept(error):
            return x, denoised
        self.x_prev, self.position = x_low, t
        if up > 0:
            x_high = x_high + self.noise(x_high) * up * self.p.s_noise
        return x_high, denoised


class Restart(Stepper):
    """Heun steps on a Karras schedule with restarts: jump back up in noise and re-integrate (Xu et al.)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        sigmas, steps = torch.tensor(self.s), len(self.s) - 1
        restarts: dict[float, tuple[int, int, float]] = {}
        if steps >= 20:
            restart_steps, restart_times = (steps // 4, 2) if steps >= 36 else (9, 1)
            sigmas = karras(steps - restart_steps * restart_times, self.s[-2], self.s[0])
            restarts = {0.1: (restart_steps + 1, restart_times, 2.0)}
        by_index = {int(torch.argmin((sigmas - key).abs())): value for key, value in restarts.items()}
        values = [float(v) for v in sigmas]
        self.plan: list[tuple[float, float]] = []
        for i in range(len(values) - 1):
            self.plan.append((values[i], values[i + 1]))
            if i + 1 in by_index:
                count, times, high = by_index[i + 1]
                top = int(torch.argmin((sigmas - high).abs()))
                if top < i + 1:
                    ramp = [float(v) for v in karras(count, values[i + 1], values[top])[:-1]]
                    self.plan.extend(list(zip(ramp[:-1], ramp[1:], strict=True)) * times)
        self.last_sigma: float | None = None

    @property
    def total_steps(self) -> int:
        return len(self.plan)

    def finished(self, i: int) -> bool:
        return i >= len(self.plan)

    def sigma_pair(self, i: int) -> tuple[float, float]:
        return self.plan[i]

    def step(self, i, x):
        sigma, sigma_next = self.plan[i]
        if self.last_sigma is not None and self.last_sigma < sigma:
            x = x + self.noise(x) * self.p.s_noise * (sigma**2 - self.last_sigma**2) ** 0.5
        self.last_sigma = sigma_next
        d, denoised = self._d(x, sigma)
        dt = sigma_next - sigma
        if sigma_next == 0:
            return x + d * dt, denoised
        d_2, _ = self._d(x + d * dt, sigma_next)
        return x + (d + d_2) / 2 * dt, denoised


class DDIM(Stepper):
    """DDIM: in sigma space an eta-ancestral Euler step (eta from ``eta_ddim``, default 0)."""

    def _direction(self, x: torch.Tensor, sigma: float, denoised: torch.Tensor) -> torch.Tensor:
        return (x - denoised) / sigma

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        down, up = ancestral_step(sigma, sigma_next, self.p.eta)
        x_next = denoised + down * self._direction(x, sigma, denoised)
        if up > 0:
            x_next = x_next + self.noise(x) * up
        return x_next, denoised


class DDIMCFGPP(DDIM):
    """DDIM CFG++: re-noise along the unconditional prediction; CFG scale divided by 12.5 (as A1111)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.model, GuidedDenoiser):
            raise TypeError("DDIM CFG++ needs a CFG denoiser that gives its unconditional prediction")
        self.guided: GuidedDenoiser = self.model
        self.guided.guide(1 / 12.5, always_uncond=True)

    def _direction(self, x, sigma, denoised):
        uncond = self.guided.uncond_denoised()
        return (x - (denoised if uncond is None else uncond)) / sigma


class PLMS(Stepper):
    """Pseudo linear multistep: a Heun-like first step, then Adams-Bashforth (orders 2-4) on eps."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.old: list[torch.Tensor] = []

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        d, denoised = self._d(x, sigma)
        old = self.old
        if not old:
            blended = d
            if sigma_next > 0:
                d_next, _ = self._d(x + (sigma_next - sigma) * d, sigma_next)
                blended = (d + d_next) / 2
        elif len(old) == 1:
            blended = (3 * d - old[-1]) / 2
        elif len(old) == 2:
            blended = (23 * d - 16 * old[-1] + 5 * old[-2]) / 12
        else:
            blended = (55 * d - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24
        self.old = [*old, d][-3:]
        return x + (sigma_next - sigma) * blended, denoised


class UniPC(Stepper):
    """UniPC multistep (data prediction, B(h) variants bh1/bh2) with the UniC corrector, in lambda = -log sigma."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[tuple[float, torch.Tensor]] = []  # (lambda, denoised), newest last
        self.last_x: torch.Tensor | None = None
        self.this_order = 1
        self.order = max(1, int(self.p.unipc_order))

    def _coefficients(self, h: float, order: int, rks: list[float], predictor: bool) -> tuple[float, list[float]]:
        hh = -h
        h_phi_1 = math.expm1(hh)
        h_phi_k, factorial = h_phi_1 / hh - 1, 1
        b_h = hh if self.p.unipc_variant == "bh1" else math.expm1(hh)
        rows, b = [], []
        for k in range(1, order + 1):
            rows.append([r ** (k - 1) for r in rks])
            b.append(h_phi_k * factorial / b_h)
            factorial *= k + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        if predictor:
            if order <= 1:
                return b_h, []
            if order == 2:
                return b_h, [0.5]
            return b_h, np.linalg.solve(np.array(rows)[:-1, :-1], np.array(b)[:-1]).tolist()
        if order == 1:
            return b_h, [0.5]
        return b_h, np.linalg.solve(np.array(rows), np.array(b)).tolist()

    def _update(self, x: torch.Tensor, sigma: float, target: float, order: int, corrected: torch.Tensor | None):
        lam_0, m_0 = self.history[-1]
        h = _neg_log(target) - lam_0
        rks, differences = [], []
        for k in range(1, order):
            lam_k, m_k = self.history[-(k + 1)]
            rk = (lam_k - lam_0) / h
            rks.append(rk)
            differences.append((m_k - m_0) / rk)
        b_h, rhos = self._coefficients(h, order, [*rks, 1.0], predictor=corrected is None)
        x_t = (target / sigma) * x - math.expm1(-h) * m_0
        # strict=False: the corrector's last rho weighs the corrected output below
        residual = sum((rho * diff for rho, diff in zip(rhos, differences, strict=False)), torch.zeros_like(x))
        if corrected is not None:
            residual = residual + rhos[-1] * (corrected - m_0)
        return x_t - b_h * residual

    def step(self, i, x):
        sigma, sigma_next = self.s[i], self.s[i + 1]
        denoised = self.model(x, sigma)
        if self.last_x is not None:  # UniC: correct x with the model output just computed at it
            x = self._update(self.last_x, self.s[i - 1], sigma, self.this_order, denoised)
        self.history = [*self.history, (_neg_log(sigma), denoised)][-self.order :]
        order = min(self.order, len(self.s) - 1 - i) if self.p.unipc_lower_order_final else self.order
        self.this_order = min(order, len(self.history))
        self.last_x = x
        if sigma_next == 0:
            return denoised, denoised
        return self._update(x, sigma, sigma_next, self.this_order, None), denoised


class LCM(Stepper):
    """Latent consistency: jump to the denoised estimate, then re-noise to the next sigma."""

    def step(self, i, x):
        sigma_next = self.s[i + 1]
        denoised = self.model(x, self.s[i])
        if sigma_next > 0:
            return denoised + sigma_next * self.noise(denoised), denoised
        return denoised, denoised
