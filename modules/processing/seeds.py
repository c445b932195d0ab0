"""Seeds and initial noise, bit-compatible with A1111 1.10 (``modules/rng.py``).

A seed is only useful if it gives the same picture elsewhere, so noise is drawn exactly as A1111 draws it:
one generator per image seeded with that image's seed, one ``randn`` of the per-image latent shape, then the
variation seed mixed in by spherical interpolation and the "resize seed from" paste. Sources:

- ``"CPU"`` (our default): ``torch.Generator("cpu")``; the same seed gives the same noise on every machine,
  and the same noise as A1111 with *Random number generator source = CPU*.
- ``"GPU"``: a generator on the compute device (A1111's default; differs between CUDA and CPU).
- ``"NV"``: a NumPy Philox 4x32 generator that reproduces CUDA's ``torch.randn`` on any hardware.

Nothing here touches torch's global random state.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

SEED_RANGE = 4294967294  # A1111: random.randrange(4294967294)
LATENT_FACTOR = 8
NOISE_SOURCES = ("GPU", "CPU", "NV")


def fixed_seed(seed: int | str | None, rng: random.Random | None = None) -> int:
    """Resolve -1 / empty / unparsable to a random seed, as A1111's ``get_fixed_seed``.

    >>> fixed_seed(42), fixed_seed("7")
    (42, 7)
    >>> 0 <= fixed_seed(-1) < 4294967294
    True
    """
    if seed is None or seed == "":
        seed = -1
    elif isinstance(seed, str):
        try:
            seed = int(seed)
        except ValueError:
            seed = -1
    seed = int(seed)
    if seed == -1:
        return int((rng or random).randrange(SEED_RANGE))
    return seed


def batch_seeds(seed: int, subseed: int, subseed_strength: float, n: int) -> tuple[list[int], list[int]]:
    """Seeds and variation seeds for ``n`` images of one job.

    Image *i* gets ``seed + i``; with a variation strength above 0 every image keeps ``seed`` and only the
    variation seed moves (``subseed + i``), so a batch explores variations of one picture.

    >>> batch_seeds(10, 50, 0.0, 3)
    ([10, 11, 12], [50, 51, 52])
    >>> batch_seeds(10, 50, 0.3, 3)
    ([10, 10, 10], [50, 51, 52])
    """
    step = 1 if subseed_strength == 0 else 0
    return [int(seed) + i * step for i in range(n)], [int(subseed) + i for i in range(n)]


class PhiloxGenerator:
    """CUDA-compatible normal noise on any device: Philox 4x32-10 counters and a Box-Muller transform.

    Each ``randn`` call uses a new counter offset, as one CUDA kernel launch does; the value for element *i*
    comes from counter ``(offset, 0, i, 0)`` keyed with the 64-bit seed, all maths in float32.
    """

    _MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
    _KEY_STEPS = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
    _INV_2_32 = np.float32(2.3283064e-10)
    _INV_2_32_2PI = np.float32(2.3283064e-10 * 6.2831855)

    def __init__(self, seed: int) -> None:
        self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.offset = 0

    def _philox(self, counter: np.ndarray) -> np.ndarray:
        key = np.array([self.seed & 0xFFFFFFFF, self.seed >> 32], dtype=np.uint32)[:, None].repeat(counter.shape[1], 1)
        with np.errstate(over="ignore"):
            for round_index in range(10):
                if round_index:
                    key[0] += self._KEY_STEPS[0]
                    key[1] += self._KEY_STEPS[1]
                product_a = counter[0].astype(np.uint64) * self._MULTIPLIERS[0]
                product_b = counter[2].astype(np.uint64) * self._MULTIPLIERS[1]
                counter = np.stack(
                    [
                        (product_b >> np.uint64(32)).astype(np.uint32) ^ counter[1] ^ key[0],
                        product_b.astype(np.uint32),
                        (product_a >> np.uint64(32)).astype(np.uint32) ^ counter[3] ^ key[1],
                        product_a.astype(np.uint32),
                    ]
                )
        return counter

    def randn(self, shape: Sequence[int]) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64))
        counter = np.zeros((4, count), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(count, dtype=np.uint32)
        self.offset += 1
        words = self._philox(counter)
        uniform = words[0].astype(np.float32) * self._INV_2_32 + self._INV_2_32 / np.float32(2)
        angle = words[1].astype(np.float32) * self._INV_2_32_2PI + self._INV_2_32_2PI / np.float32(2)
        radius = np.sqrt(np.float32(-2.0) * np.log(uniform))
        return (radius * np.sin(angle)).astype(np.float32).reshape(tuple(shape))


def _generator_device(source: str, device: Any) -> Any:
    import torch

    device = torch.device(device or "cpu")
    if source == "CPU" or device.type not in ("cuda", "xpu"):
        return torch.device("cpu")  # mps and other backends draw on the CPU, as A1111 does
    return device


def create_generator(seed: int, source: str = "CPU", device: Any = None) -> Any:
    """A fresh per-image generator: ``torch.Generator`` for CPU/GPU, :class:`PhiloxGenerator` for NV."""
    import torch

    if source not in NOISE_SOURCES:
        raise ValueError(f"Unknown random number generator source {source!r}; expected one of {NOISE_SOURCES}")
    if source == "NV":
        return PhiloxGenerator(seed)
    generator = torch.Generator(_generator_device(source, device))
    generator.manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
    return generator


def randn(generator: Any, shape: Sequence[int], device: Any = None) -> torch.Tensor:
    """Draw float32 normal noise of ``shape`` from ``generator`` and move it to ``device``."""
    import torch

    target = torch.device(device or "cpu")
    if isinstance(generator, PhiloxGenerator):
        return torch.from_numpy(generator.randn(shape)).to(target)
    return torch.randn(tuple(shape), generator=generator, device=generator.device).to(target)


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's spherical interpolation of two per-image noise tensors (normalised along dim 1)."""
    import torch

    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot.clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / sin_omega).unsqueeze(1) * low + (
        torch.sin(val * omega) / sin_omega
    ).unsqueeze(1) * high


def _paste_centre(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Put the centre of ``source`` (noise drawn at the old size) into the centre of ``target``."""
    dx = (target.shape[2] - source.shape[2]) // 2
    dy = (target.shape[1] - source.shape[1]) // 2
    width = source.shape[2] if dx >= 0 else source.shape[2] + 2 * dx
    height = source.shape[1] if dy >= 0 else source.shape[1] + 2 * dy
    to_x, to_y = max(dx, 0), max(dy, 0)
    from_x, from_y = max(-dx, 0), max(-dy, 0)
    target[:, to_y : to_y + height, to_x : to_x + width] = source[:, from_y : from_y + height, from_x : from_x + width]
    return target


class ImageRNG:
    """Per-image noise for one batch: :meth:`next` gives the initial noise first, then the ancestral/SDE
    samplers' per-step noise, each image from its own generator so results do not depend on batch size."""

    def __init__(
        self,
        shape: Sequence[int],
        seeds: Sequence[int],
        subseeds: Sequence[int] | None = None,
        subseed_strength: float = 0.0,
        seed_resize_from_h: int = 0,
        seed_resize_from_w: int = 0,
        source: str = "CPU",
        device: Any = None,
        eta_noise_seed_delta: int = 0,
        latent_factor: int = LATENT_FACTOR,
    ) -> None:
        shape = tuple(int(size) for size in shape)
        if len(shape) == 4 and shape[0] == len(seeds):
            shape = shape[1:]  # accept the batch shape too
        self.shape = shape
        self.seeds = [int(seed) for seed in seeds]
        self.subseeds = [int(seed) for seed in subseeds] if subseeds is not None else None
        self.subseed_strength = float(subseed_strength)
        self.resize_from = (int(seed_resize_from_h), int(seed_resize_from_w))
        self.source = source
        self.device = device
        self.eta_noise_seed_delta = int(eta_noise_seed_delta or 0)
        self.latent_factor = latent_factor
        self.generators = [create_generator(seed, source, device) for seed in self.seeds]
        self._started = False

    def _noise_shape(self) -> tuple[int, ...]:
        height, width = self.resize_from
        if height <= 0 or width <= 0:
            return self.shape
        return (self.shape[0], height // self.latent_factor, width // self.latent_factor)

    def first(self) -> torch.Tensor:
        import torch

        noise_shape = self._noise_shape()
        images = []
        for index, (seed, generator) in enumerate(zip(self.seeds, self.generators, strict=True)):
            if noise_shape != self.shape:
                noise = randn(create_generator(seed, self.source, self.device), noise_shape)
            else:
                noise = randn(generator, self.shape)
            if self.subseeds is not None and self.subseed_strength != 0:
                subseed = self.subseeds[index] if index < len(self.subseeds) else 0
                subnoise = randn(create_generator(subseed, self.source, self.device), noise_shape)
                noise = slerp(self.subseed_strength, noise, subnoise)
            if noise_shape != self.shape:
                noise = _paste_centre(randn(generator, self.shape), noise)
            images.append(noise)
        if self.eta_noise_seed_delta:
            self.generators = [
                create_generator(seed + self.eta_noise_seed_delta, self.source, self.device) for seed in self.seeds
            ]
        self._started = True
        return torch.stack(images).to(self.device or "cpu")

    def next(self) -> torch.Tensor:
        """The initial noise on the first call, then fresh per-image noise of the same shape."""
        import torch

        if not self._started:
            return self.first()
        return torch.stack([randn(generator, self.shape) for generator in self.generators]).to(self.device or "cpu")


def create_noise(
    shape: Sequence[int],
    seeds: Sequence[int],
    subseeds: Sequence[int] | None = None,
    subseed_strength: float = 0.0,
    seed_resize_from_h: int = 0,
    seed_resize_from_w: int = 0,
    source: str = "CPU",
    device: Any = None,
) -> torch.Tensor:
    """Initial latent noise ``(len(seeds), C, H, W)`` for per-image ``shape`` ``(C, H, W)`` (A1111's)."""
    rng = ImageRNG(shape, seeds, subseeds, subseed_strength, seed_resize_from_h, seed_resize_from_w, source, device)
    return rng.first()
