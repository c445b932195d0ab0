"""mlsd: M-LSD straight-line detection of ControlNet 1.0/1.1 (``mlsd/mlsd_large_512_fp32.pth``).

The network is M-LSD "large": a truncated MobileNetV2 (TFLite-style padding, a 4th input channel) and a
U-shaped decoder that returns a half-resolution "tri-points" map. Its channel 0 scores line centres and
channels 1-4 hold the displacements from a centre to both ends of its segment. Decoding picks local maxima
of the centre score, keeps those above the value threshold whose segment is longer than the distance
threshold, and draws the segments as 1 px white lines on black. It runs at the image's own size, padded to
a multiple of 64 like A1111's ``resize_image_with_pad``, because the decoder only fits such sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from controlnet_ext.imageops import pad_to_multiple

# MobileNetV2 stages kept by M-LSD: (expansion, output channels, repeats, stride of the first repeat)
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
SKIP_FEATURES = (1, 3, 6, 10, 13)  # backbone layers whose outputs feed the decoder, shallow to deep
CANDIDATES = 200  # centre peaks considered, best first (pred_lines' topk)
PEAK_WINDOW = 3  # a centre must be the maximum of this window
TP_CHANNELS = slice(7, 16)  # the decoder's last 9 of 16 channels are the tri-points map
COORDINATE_LIMIT = 2**20  # segments beyond this are numerical garbage that cv2 could not draw


class _ConvBnAct(nn.Sequential):
    """Conv + BN + ReLU6; a strided one pads right/bottom only, as TFLite ("SAME") does."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        padding = 0 if stride == 2 else (kernel - 1) // 2
        super().__init__(
            nn.Conv2d(channels_in, channels_out, kernel, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU6(),
        )
        self.tf_same_padding = stride == 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tf_same_padding:
            x = functional.pad(x, (0, 1, 0, 1))
        return super().forward(x)


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: optional 1x1 expansion, depthwise 3x3, linear 1x1 projection; residual when shapes allow."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = channels_in * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_ConvBnAct(channels_in, hidden, kernel=1)]
        layers += [
            _ConvBnAct(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, channels_out, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class _Backbone(nn.Module):
    """MobileNetV2 up to its 96-channel stage, taking RGB plus a constant 4th channel."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBnAct(4, 32, stride=2)]
        channels = 32
        for expansion, channels_out, repeats, stride in STAGES:
            for repeat in range(repeats):
                layers.append(_InvertedResidual(channels, channels_out, stride if repeat == 0 else 1, expansion))
                channels = channels_out
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in SKIP_FEATURES:
                skips.append(x)
        return skips


def _conv_bn_relu(channels_in: int, channels_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, padding=padding, dilation=dilation),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


class _Merge(nn.Module):
    """Decoder join: 1x1-projects the deeper map (``conv1``, upsampled 2x when asked) and the skip (``conv2``)."""

    def __init__(self, skip_channels: int, deep_channels: int, upsample: bool = True) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(deep_channels, 64, 1)
        self.conv2 = _conv_bn_relu(skip_channels, 64, 1)
        self.upsample = upsample

    def forward(self, skip: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        deep = self.conv1(deep)
        if self.upsample:
            deep = functional.interpolate(deep, scale_factor=2.0, mode="bilinear", align_corners=True)
        return torch.cat((self.conv2(skip), deep), dim=1)


class _Refine(nn.Module):
    """Decoder body: a residual 3x3 then a 3x3 down to 64 channels."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(channels_in, channels_in, 3)
        self.conv2 = _conv_bn_relu(channels_in, channels_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x) + x)


class _Head(nn.Module):
    """Dilated 3x3, 3x3, then a 1x1 to the 16 raw output channels."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(channels_in, channels_in, 3, dilation=5)
        self.conv2 = _conv_bn_relu(channels_in, channels_in, 3)
        self.conv3 = nn.Conv2d(channels_in, channels_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


class MlsdLarge(nn.Module):
    """M-LSD large; ``forward`` maps a (1, 4, H, W) input to the (1, 9, H/2, W/2) tri-points map."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.block15 = _Merge(64, 96, upsample=False)
        self.block16 = _Refine(128, 64)
        self.block17 = _Merge(32, 64)
        self.block18 = _Refine(128, 64)
        self.block19 = _Merge(24, 64)
        self.block20 = _Refine(128, 64)
        self.block21 = _Merge(16, 64)
        self.block22 = _Refine(128, 64)
        self.block23 = _Head(64, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half, quarter, eighth, sixteenth, deepest = self.backbone(x)
        x = self.block16(self.block15(sixteenth, deepest))
        x = self.block18(self.block17(eighth, x))
        x = self.block20(self.block19(quarter, x))
        x = self.block22(self.block21(half, x))
        return self.block23(x)[:, TP_CHANNELS]


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    network = MlsdLarge()
    state = {key.removeprefix("module."): value for key, value in state.items()}
    network.load_state_dict(state)  # strict; BatchNorm's num_batches_tracked may be absent from a plain dict
    return network


def network_input(image: np.ndarray) -> torch.Tensor:
    """(1, 4, H, W) float32: RGB and a channel of ones, all mapped from 0..255 to -1..1 as M-LSD was trained."""
    ones = np.ones(image.shape[:2] + (1,), np.float32)
    stacked = np.concatenate([image.astype(np.float32), ones], axis=2)
    return torch.from_numpy(stacked / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


def decode_segments(
    tp_map: torch.Tensor, score_threshold: float, distance_threshold: float, candidates: int = CANDIDATES
) -> np.ndarray:
    """(N, 4) segments (x0, y0, x1, y1) in tri-points map pixels, from a (C>=5, h, w) map.

    A centre is a pixel whose sigmoid score is the maximum of its 3x3 window and among the ``candidates``
    best; it is kept when that score exceeds ``score_threshold`` and its segment, centre + channels 1-2
    to centre + channels 3-4, is longer than ``distance_threshold`` (both strictly, as in pred_lines).
    """
    height, width = tp_map.shape[-2:]
    score = torch.sigmoid(tp_map[0].float())[None]
    peaks = functional.max_pool2d(score, PEAK_WINDOW, stride=1, padding=PEAK_WINDOW // 2)
    score = (score * (peaks == score)).reshape(-1)
    best, indices = torch.topk(score, min(candidates, score.numel()))
    best, indices = best.cpu().numpy(), indices.cpu().numpy()
    rows, columns = indices // width, indices % width
    displacement = tp_map[1:5].float().cpu().numpy()[:, rows, columns].T  # (candidates, 4): dx0, dy0, dx1, dy1
    length = np.sqrt(np.sum((displacement[:, :2] - displacement[:, 2:]) ** 2, axis=1))
    kept = (best > score_threshold) & (length > distance_threshold)
    centres = np.stack([columns, rows, columns, rows], axis=1)
    return (centres + displacement.astype(np.float64))[kept]  # float64 so truncation to pixels matches A1111


def draw_segments(segments: np.ndarray, height: int, width: int) -> np.ndarray:
    """1 px white lines on a black HxW map; end points truncated towards zero like A1111's ``int()``."""
    import cv2

    canvas = np.zeros((height, width), np.uint8)
    finite = np.isfinite(segments).all(axis=1) & (np.abs(segments) < COORDINATE_LIMIT).all(axis=1)
    for x0, y0, x1, y1 in segments[finite].astype(np.int64).tolist():
        cv2.line(canvas, (x0, y0), (x1, y1), 255, 1)
    return canvas


def detect(networks: list[nn.Module], image: np.ndarray, threshold_a: float, threshold_b: float, **_: Any):
    (network,) = networks
    device = next(network.parameters()).device
    height, width = image.shape[:2]
    padded = pad_to_multiple(image)
    tp_map = network(network_input(padded).to(device))[0]
    segments = decode_segments(tp_map, threshold_a, threshold_b) * 2.0  # the map is at half resolution
    lines = draw_segments(segments, *padded.shape[:2])[:height, :width]
    return np.repeat(lines[:, :, None], 3, axis=2)
