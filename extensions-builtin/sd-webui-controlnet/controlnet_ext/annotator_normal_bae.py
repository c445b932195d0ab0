"""normal_bae: Bae et al.'s surface-normal network (``normal_bae/scannet.pt``, "Estimating and Exploiting the
Aleatoric Uncertainty in Surface Normal Estimation", ICCV 2021), as ControlNet 1.1's normalbae model expects.

An EfficientNet-B5 encoder (the TensorFlow-ported AdvProp variant: TF "SAME" padding, BatchNorm eps 1e-3,
Swish, squeeze-and-excitation) feeds a U-Net style decoder that predicts normals and a confidence at 1/8 of the
input size, then refines them three times (1/4, 1/2, 1/1) with per-pixel MLPs. The map is the final normal,
each component mapped from [-1, 1] to [0, 255], x/y/z in R/G/B.

The released file is ``{"model": state_dict, "iter": ...}`` saved from DistributedDataParallel, so its keys
start with ``module.``; keys without it are accepted as well.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from controlnet_ext.imageops import pad_to_multiple

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ENCODER_BN_EPS = 1e-3  # the TF-ported EfficientNet weights were trained with TensorFlow's BatchNorm epsilon
STEM_CHANNELS, HEAD_CHANNELS = 48, 2048
# EfficientNet-B5 stages (B0 scaled by width 1.6, depth 2.2, channels rounded to multiples of 8):
# (block kind, repeats, kernel, first stride, expansion, output channels)
STAGES = (
    ("ds", 3, 3, 1, 1, 24),
    ("ir", 5, 3, 2, 6, 40),
    ("ir", 5, 5, 2, 6, 64),
    ("ir", 7, 3, 2, 6, 128),
    ("ir", 7, 5, 1, 6, 176),
    ("ir", 9, 5, 2, 6, 304),
    ("ir", 3, 3, 1, 6, 512),
)
SKIP_STAGES = (0, 1, 2, 4)  # stage outputs the decoder joins (strides 2, 4, 8, 16); the head output is stride 32
MIN_KAPPA = 0.01


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: the output is ceil(input / stride) and any odd padding goes to the
    bottom/right. For stride 1 this is symmetric ``kernel // 2``; for stride 2 on even sizes it is not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return functional.conv2d(functional.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=ENCODER_BN_EPS)


class _SqueezeExcite(nn.Module):
    """Channel gating from the globally averaged block activations (reduced to a quarter of the block input)."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv_expand(functional.silu(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class _DepthwiseSeparable(nn.Module):
    """First-stage block: depthwise conv, SE, pointwise projection (no expansion)."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = _SameConv2d(channels_in, channels_in, kernel, stride, groups=channels_in, bias=False)
        self.bn1 = _batch_norm(channels_in)
        self.se = _SqueezeExcite(channels_in, channels_in // 4)
        self.conv_pw = _SameConv2d(channels_in, channels_out, 1, bias=False)
        self.bn2 = _batch_norm(channels_out)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv_pw(self.se(functional.silu(self.bn1(self.conv_dw(x))))))
        return out + x if self.residual else out


class _InvertedResidual(nn.Module):
    """MBConv: pointwise expansion, depthwise conv, SE, linear pointwise projection, identity skip if shapes allow."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = channels_in * expansion
        self.conv_pw = _SameConv2d(channels_in, hidden, 1, bias=False)
        self.bn1 = _batch_norm(hidden)
        self.conv_dw = _SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self.bn2 = _batch_norm(hidden)
        self.se = _SqueezeExcite(hidden, channels_in // 4)
        self.conv_pwl = _SameConv2d(hidden, channels_out, 1, bias=False)
        self.bn3 = _batch_norm(channels_out)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.silu(self.bn1(self.conv_pw(x)))
        out = self.se(functional.silu(self.bn2(self.conv_dw(out))))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.residual else out


class _EfficientNetB5(nn.Module):
    """The encoder trunk; ``bn2`` after the head is in the file but its output is not used by the decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = _SameConv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self.bn1 = _batch_norm(STEM_CHANNELS)
        stages, channels = [], STEM_CHANNELS
        for kind, repeats, kernel, stride, expansion, channels_out in STAGES:
            blocks = []
            for index in range(repeats):
                block_stride = stride if index == 0 else 1
                if kind == "ds":
                    blocks.append(_DepthwiseSeparable(channels, channels_out, kernel, block_stride))
                else:
                    blocks.append(_InvertedResidual(channels, channels_out, kernel, block_stride, expansion))
                channels = channels_out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = _SameConv2d(channels, HEAD_CHANNELS, 1, bias=False)
        self.bn2 = _batch_norm(HEAD_CHANNELS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The skip features of SKIP_STAGES, then the raw (pre-BatchNorm) head output."""
        x = functional.silu(self.bn1(self.conv_stem(x)))
        skips = []
        for index, stage in enumerate(self.blocks):
            x = stage(x)
            if index in SKIP_STAGES:
                skips.append(x)
        return [*skips, self.conv_head(x)]


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.original_model = _EfficientNetB5()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.original_model(x)


class _UpSample(nn.Module):
    """Bilinear upsampling to the skip's size, concatenation, two conv-BatchNorm-LeakyReLU layers."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self._net = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, padding=1),
            nn.BatchNorm2d(channels_out),
            nn.LeakyReLU(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1),
            nn.BatchNorm2d(channels_out),
            nn.LeakyReLU(),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self._net(torch.cat([x, skip], dim=1))


def _pixel_mlp(channels_in: int) -> nn.Sequential:
    """Per-pixel refinement head (1x1 Conv1d layers over the flattened pixels): features + coarse prediction -> 4."""
    return nn.Sequential(
        nn.Conv1d(channels_in, 128, 1),
        nn.ReLU(),
        nn.Conv1d(128, 128, 1),
        nn.ReLU(),
        nn.Conv1d(128, 128, 1),
        nn.ReLU(),
        nn.Conv1d(128, 4, 1),
    )


def normalize_prediction(raw: torch.Tensor) -> torch.Tensor:
    """Channels 0-2 scaled to a unit normal; channel 3 made a positive concentration (ELU + 1 + MIN_KAPPA)."""
    normal, kappa = raw[:, :3], raw[:, 3:]
    length = torch.sqrt((normal**2).sum(dim=1, keepdim=True)) + 1e-10
    return torch.cat([normal / length, functional.elu(kappa) + 1.0 + MIN_KAPPA], dim=1)


class _Decoder(nn.Module):
    """Coarse prediction at 1/8 scale, refined at every pixel of 1/4, 1/2 and full scale (inference mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2 = nn.Conv2d(HEAD_CHANNELS, 2048, 1)
        self.up1 = _UpSample(2048 + 176, 1024)
        self.up2 = _UpSample(1024 + 64, 512)
        self.up3 = _UpSample(512 + 40, 256)
        self.up4 = _UpSample(256 + 24, 128)
        self.out_conv_res8 = nn.Conv2d(512, 4, 3, padding=1)
        self.out_conv_res4 = _pixel_mlp(512 + 4)
        self.out_conv_res2 = _pixel_mlp(256 + 4)
        self.out_conv_res1 = _pixel_mlp(128 + 4)

    @staticmethod
    def _refine(features: torch.Tensor, coarse: torch.Tensor, head: nn.Sequential) -> torch.Tensor:
        size = (features.shape[2] * 2, features.shape[3] * 2)
        features = functional.interpolate(features, size=size, mode="bilinear", align_corners=True)
        coarse = functional.interpolate(coarse, size=size, mode="bilinear", align_corners=True)
        stacked = torch.cat([features, coarse], dim=1)
        refined = head(stacked.flatten(2)).view(stacked.shape[0], 4, *size)
        return normalize_prediction(refined)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skip2, skip4, skip8, skip16, head = features
        d16 = self.up1(self.conv2(head), skip16)
        d8 = self.up2(d16, skip8)
        d4 = self.up3(d8, skip4)
        d2 = self.up4(d4, skip2)
        out8 = normalize_prediction(self.out_conv_res8(d8))
        out4 = self._refine(d8, out8, self.out_conv_res4)
        out2 = self._refine(d4, out4, self.out_conv_res2)
        return self._refine(d2, out2, self.out_conv_res1)


class NormalBaeNetwork(nn.Module):
    """ImageNet-normalised RGB (N, 3, H, W), H and W multiples of 32 -> (N, 4, H, W): unit normal + kappa."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = _Encoder()
        self.decoder = _Decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    network = NormalBaeNetwork()
    network.load_state_dict({key.removeprefix("module."): value for key, value in state.items()})
    return network


def normals_to_rgb(normals: np.ndarray) -> np.ndarray:
    """HxWx3 normal components in [-1, 1] -> uint8 colours, (n + 1) / 2 * 255 truncated, as A1111 maps them."""
    unit = ((normals.astype(np.float32) + 1.0) * 0.5).clip(0.0, 1.0)
    return (unit * 255.0).clip(0, 255).astype(np.uint8)


def detect(networks: list[nn.Module], image: np.ndarray, threshold_a: float, threshold_b: float, **_: Any):
    (network,) = networks
    parameter = next(network.parameters())
    height, width = image.shape[:2]
    tensor = torch.from_numpy(pad_to_multiple(image).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    tensor = ((tensor - mean) / std).to(device=parameter.device, dtype=parameter.dtype)
    normals = network(tensor)[0, :3].permute(1, 2, 0).float().cpu().numpy()
    return normals_to_rgb(normals)[:height, :width]
