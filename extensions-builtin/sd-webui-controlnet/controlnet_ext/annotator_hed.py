"""softedge_hed, softedge_hedsafe, scribble_hed: the Apache-2 HED edge network of ControlNet 1.1
(``hed/ControlNetHED.pth``).

Five VGG-style blocks, each with a 1x1 side projection; the soft edge map is the sigmoid of the mean of the
five side outputs, each scaled back to the input size. "safe" quantises the map to a few levels (hides the
fine gradients the softedge models could copy); "scribble" thins it to one-pixel strokes and thickens them
again into the binary scribbles the scribble models were trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convolutions)


class _Block(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            *[nn.Conv2d(channels_in if i == 0 else channels_out, channels_out, 3, padding=1) for i in range(layers)]
        )
        self.projection = nn.Conv2d(channels_out, 1, 1)

    def forward(self, x: torch.Tensor, pool: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if pool:
            x = nn.functional.max_pool2d(x, 2, 2)
        for conv in self.convs:
            x = nn.functional.relu(conv(x))
        return x, self.projection(x)


class HedNetwork(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))  # subtracted from the 0..255 input
        for index, spec in enumerate(BLOCKS, start=1):
            setattr(self, f"block{index}", _Block(*spec))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, sides = x - self.norm, []
        for index in range(1, len(BLOCKS) + 1):
            h, side = getattr(self, f"block{index}")(h, index > 1)
            sides.append(side)
        return sides


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    network = HedNetwork()
    network.load_state_dict(state)
    return network


def detect(
    networks: list[nn.Module],
    image: np.ndarray,
    threshold_a: float,
    threshold_b: float,
    safe: bool = False,
    scribble: bool = False,
    **_: Any,
) -> np.ndarray:
    import cv2

    (network,) = networks
    device = network.norm.device
    height, width = image.shape[:2]
    tensor = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].to(device)
    sides = [side[0, 0].float().cpu().numpy() for side in network(tensor)]
    sides = [cv2.resize(side, (width, height), interpolation=cv2.INTER_LINEAR) for side in sides]
    edge = 1.0 / (1.0 + np.exp(-np.mean(np.stack(sides, axis=2), axis=2)))
    if safe:
        edge = quantize_edges(edge)
    edge = (edge * 255.0).clip(0, 255).astype(np.uint8)
    if scribble:
        edge = scribble_strokes(edge)
    return np.repeat(edge[:, :, None], 3, axis=2)


def quantize_edges(edge: np.ndarray, levels: int = 2) -> np.ndarray:
    """Soft edges in [0, 1] rounded down to steps of 1/levels (values at 1 and above stay white)."""
    return np.floor(edge.astype(np.float32) * (levels + 1)) / levels


_LINE_KERNELS = [
    np.array(rows, dtype=np.uint8)
    for rows in (
        [[0, 0, 0], [1, 1, 1], [0, 0, 0]],
        [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        [[0, 0, 1], [0, 1, 0], [1, 0, 0]],
    )
]


def scribble_strokes(edge: np.ndarray, threshold: float = 127, sigma: float = 3.0) -> np.ndarray:
    """Binary scribble lines from a soft edge map: ridge pixels (a maximum along one of four directions after
    smoothing) above ``threshold``, blurred and re-binarised so strokes are a few pixels wide."""
    import cv2

    smooth = cv2.GaussianBlur(edge.astype(np.float32), (0, 0), sigma)
    ridges = np.zeros_like(smooth)
    for kernel in _LINE_KERNELS:
        is_peak = cv2.dilate(smooth, kernel) == smooth
        ridges[is_peak] = smooth[is_peak]
    thin = np.where(ridges > threshold, 255, 0).astype(np.uint8)
    return np.where(cv2.GaussianBlur(thin, (0, 0), sigma) > 4, 255, 0).astype(np.uint8)
