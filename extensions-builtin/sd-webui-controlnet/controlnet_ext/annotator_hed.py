"""softedge_hed: the Apache-2 HED edge network of ControlNet 1.1 (``hed/ControlNetHED.pth``).

Five VGG-style blocks, each with a 1x1 side projection; the soft edge map is the sigmoid of the mean of the
five side outputs, each scaled back to the input size.
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


def detect(networks: list[nn.Module], image: np.ndarray, threshold_a: float, threshold_b: float, **_: Any):
    import cv2

    (network,) = networks
    device = network.norm.device
    height, width = image.shape[:2]
    tensor = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].to(device)
    sides = [side[0, 0].float().cpu().numpy() for side in network(tensor)]
    sides = [cv2.resize(side, (width, height), interpolation=cv2.INTER_LINEAR) for side in sides]
    edge = 1.0 / (1.0 + np.exp(-np.mean(np.stack(sides, axis=2), axis=2)))
    return np.repeat((edge * 255.0).clip(0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
