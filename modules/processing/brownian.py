"""Brownian-tree noise for the SDE samplers, seeded per image as A1111 seeds it.

A1111 gives DPM++ SDE / 2M SDE / 2M SDE Heun / 3M SDE one ``torchsde.BrownianTree`` per image of the batch,
spanning [smallest non-zero sigma, largest sigma] of the run and seeded with that image's seed, so an image's
noise does not depend on its batch. A step between ``sigma`` and ``sigma_next`` takes the tree's increment
over that interval divided by the square root of its length (unit variance). With the ``CPU`` noise source
the tree draws on the CPU, as A1111 does with *Random number generator source = CPU*; ``GPU`` draws on the
compute device. torchsde has no Philox source, so ``NV`` draws on the CPU as well.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch


class BrownianNoise:
    """``noise(sigma, sigma_next)`` → unit-variance Brownian increments ``[B, C, H, W]``, one tree per seed."""

    def __init__(
        self,
        like: torch.Tensor,
        sigmas: torch.Tensor,
        seeds: Sequence[int],
        source: str = "CPU",
    ) -> None:
        import torchsde

        if len(seeds) != like.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {like.shape[0]} images")
        sigmas = sigmas.to(torch.float32).cpu()
        low, high = sigmas[sigmas > 0].min(), sigmas.max()
        draw_device = like.device if source == "GPU" and like.device.type in ("cuda", "xpu") else torch.device("cpu")
        start = torch.zeros(like.shape[1:], dtype=torch.float32, device=draw_device)
        self.device, self.dtype = like.device, like.dtype
        self.trees = [torchsde.BrownianTree(low, start, high, entropy=int(seed)) for seed in seeds]

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        start = torch.as_tensor(sigma, dtype=torch.float32)
        end = torch.as_tensor(sigma_next, dtype=torch.float32)
        low, high, sign = (start, end, 1.0) if start < end else (end, start, -1.0)
        with warnings.catch_warnings():
            # k-diffusion's float32 round trip puts the first query a hair above the top of the tree, as in A1111
            warnings.filterwarnings("ignore", message="Should have t", category=UserWarning)
            increment = torch.stack([tree(low, high) for tree in self.trees]) * sign
        return (increment / (end - start).abs().sqrt()).to(self.device, self.dtype)
