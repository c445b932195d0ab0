"""depth_midas / normal_midas: MiDaS v3 DPT-Hybrid (``midas/dpt_hybrid-midas-501f0c75.pt``).

The network is the released MiDaS ``DPTDepthModel`` with the ``vitb_rn50_384`` backbone: a ResNet-50 stem of
three BiT stages (weight-standardised convolutions with TF "same" padding, GroupNorm) feeds a ViT-B/16 whose
position embeddings (trained at 384 px) are resized bilinearly to the input's token grid. The two ResNet stages
and ViT blocks 8 and 11 are reassembled into 1/4, 1/8, 1/16 and 1/32 feature maps, fused top-down by RefineNet
blocks, and a small head returns non-negative relative inverse depth at the input size.

Written here in the file's own key layout (``pretrained.model.*``, ``pretrained.act_postprocess*``,
``scratch.*``) so the released state dict loads strictly. ``transformers``' DPT-Hybrid was not used: it only
accepts square inputs of the configured size, and A1111 runs MiDaS at the image's own (padded) size.

As A1111's extension does, the image is edge-padded to a multiple of 64, scaled to [-1, 1] and run as it is
(no 384 px resize); the depth map is min-max normalised over the padded map before the padding is cut off.
The normal map is built from that depth's Sobel gradients with a constant 2π z component, flat where the
normalised depth is below the background threshold, stored in the channel order ControlNet 1.0's normal model
was trained on (see ``normal_from_depth``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from controlnet_ext.imageops import pad_to_multiple

NORMAL_Z = 2.0 * math.pi  # A1111's ``a``: the constant z of the gradient normal; larger flattens it
RESNET_DEPTHS = (3, 4, 9)  # bottleneck blocks of the three BiT stages
RESNET_WIDTHS = (256, 512, 1024)  # their output channels (the bottleneck is a quarter of that)
VIT_WIDTH, VIT_DEPTH, VIT_HEADS = 768, 12, 12
VIT_TAPS = (8, 11)  # ViT blocks whose outputs become the 1/16 and 1/32 feature maps
FEATURES = 256  # width of the fusion path
GROUPS = 32  # GroupNorm groups of the BiT stages
IMAGENET_CLASSES = 1000  # the unused classifier head that the released file still carries


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "SAME": output ceil(size / stride), the odd pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[-2], kernel, stride)
    left, right = _same_padding(x.shape[-1], kernel, stride)
    if top or bottom or left or right:
        x = functional.pad(x, (left, right, top, bottom), value=value)
    return x


class _StdConv(nn.Conv2d):
    """Bias-free convolution whose kernel is standardised per output channel (BiT), with "SAME" padding."""

    EPS = 1e-8

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(channels_in, channels_out, kernel, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = self.weight.reshape(self.out_channels, -1)
        variance, mean = torch.var_mean(flat, dim=1, unbiased=False, keepdim=True)
        weight = ((flat - mean) / torch.sqrt(variance + self.EPS)).reshape_as(self.weight)
        return functional.conv2d(_pad_same(x, self.kernel_size[0], self.stride[0]), weight, None, self.stride)


class _GroupNorm(nn.GroupNorm):
    def __init__(self, channels: int, relu: bool = True) -> None:
        super().__init__(GROUPS, channels, eps=1e-5)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return functional.relu(x) if self.relu else x


class _Downsample(nn.Module):
    """The projection shortcut of a stage's first block."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv = _StdConv(channels_in, channels_out, 1, stride)
        self.norm = _GroupNorm(channels_out, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class _Bottleneck(nn.Module):
    """Post-activation ResNet bottleneck (1x1, strided 3x3, 1x1) as BiT's hybrid ViT uses it."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        middle = channels_out // 4
        if stride != 1 or channels_in != channels_out:
            self.downsample = _Downsample(channels_in, channels_out, stride)
        else:
            self.downsample = None
        self.conv1, self.norm1 = _StdConv(channels_in, middle, 1), _GroupNorm(middle)
        self.conv2, self.norm2 = _StdConv(middle, middle, 3, stride), _GroupNorm(middle)
        self.conv3, self.norm3 = _StdConv(middle, channels_out, 1), _GroupNorm(channels_out, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm1(self.conv1(x))
        x = self.norm2(self.conv2(x))
        x = self.norm3(self.conv3(x))
        return functional.relu(x + shortcut)


class _Stage(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, depth: int, stride: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *[
                _Bottleneck(channels_in if i == 0 else channels_out, channels_out, stride if i == 0 else 1)
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class _Stem(nn.Module):
    """7x7/2 convolution, GroupNorm + ReLU, 3x3/2 max pool ("SAME"): a quarter of the input size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _StdConv(3, 64, 7, 2)
        self.norm = _GroupNorm(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return functional.max_pool2d(_pad_same(x, 3, 2, value=float("-inf")), 3, 2)


class _ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = _Stem()
        widths_in = (64, *RESNET_WIDTHS[:-1])
        self.stages = nn.ModuleList(
            _Stage(cin, cout, depth, 1 if i == 0 else 2)
            for i, (cin, cout, depth) in enumerate(zip(widths_in, RESNET_WIDTHS, RESNET_DEPTHS, strict=True))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every stage: 1/4, 1/8 and 1/16 of the input size."""
        outputs, x = [], self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs


class _HybridEmbed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _ResNet()
        self.proj = nn.Conv2d(RESNET_WIDTHS[-1], VIT_WIDTH, 1)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(VIT_WIDTH, 3 * VIT_WIDTH)
        self.proj = nn.Linear(VIT_WIDTH, VIT_WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        query, key, value = self.qkv(x).reshape(batch, tokens, 3, VIT_HEADS, -1).permute(2, 0, 3, 1, 4)
        x = functional.scaled_dot_product_attention(query, key, value)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, VIT_WIDTH))


class _Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(VIT_WIDTH, 4 * VIT_WIDTH)
        self.fc2 = nn.Linear(4 * VIT_WIDTH, VIT_WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(functional.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(VIT_WIDTH, eps=1e-6)
        self.attn = _Attention()
        self.norm2 = nn.LayerNorm(VIT_WIDTH, eps=1e-6)
        self.mlp = _Mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _VisionTransformer(nn.Module):
    """ViT-B/16 on the ResNet's 1/16 map; ``norm`` and ``head`` are in the file but unused by DPT."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, VIT_WIDTH))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + 24 * 24, VIT_WIDTH))
        self.patch_embed = _HybridEmbed()
        self.blocks = nn.ModuleList(_Block() for _ in range(VIT_DEPTH))
        self.norm = nn.LayerNorm(VIT_WIDTH, eps=1e-6)
        self.head = nn.Linear(VIT_WIDTH, IMAGENET_CLASSES)

    def position_embedding(self, grid_height: int, grid_width: int) -> torch.Tensor:
        """The trained square grid of position embeddings resized (bilinear) to this input's token grid."""
        trained = self.pos_embed[:, 1:]
        side = math.isqrt(trained.shape[1])
        grid = trained.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = functional.interpolate(grid, size=(grid_height, grid_width), mode="bilinear", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, grid_height * grid_width, -1)], 1)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], tuple[int, int]]:
        """(ResNet stage outputs, tokens after the tapped blocks, token grid size)."""
        stages = self.patch_embed.backbone(x)
        patches = self.patch_embed.proj(stages[-1])
        grid = (patches.shape[-2], patches.shape[-1])
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches.flatten(2).transpose(1, 2)], 1)
        tokens = tokens + self.position_embedding(*grid)
        tapped = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in VIT_TAPS:
                tapped.append(tokens)
        return stages, tapped, grid


class _ProjectReadout(nn.Module):
    """Mixes the class token into every patch token: Linear(concat(patch, cls)) + GELU."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * VIT_WIDTH, VIT_WIDTH), nn.GELU())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, 1:]
        return self.project(torch.cat([patches, tokens[:, :1].expand_as(patches)], -1))


class _Reassemble(nn.Module):
    """Tokens to a feature map: readout, back to the token grid, 1x1 conv, optionally a strided 3x3 conv.

    The children are named "0", "3" and "4" because the released file keeps the indices of the original
    ``nn.Sequential`` (whose parameter-free reshaping steps were 1 and 2).
    """

    def __init__(self, downsample: bool) -> None:
        super().__init__()
        self.add_module("0", _ProjectReadout())
        self.add_module("3", nn.Conv2d(VIT_WIDTH, VIT_WIDTH, 1))
        if downsample:
            self.add_module("4", nn.Conv2d(VIT_WIDTH, VIT_WIDTH, 3, stride=2, padding=1))

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        x = getattr(self, "0")(tokens).transpose(1, 2).unflatten(2, grid)
        x = getattr(self, "3")(x)
        return getattr(self, "4")(x) if hasattr(self, "4") else x


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = _VisionTransformer()
        self.act_postprocess3 = _Reassemble(downsample=False)
        self.act_postprocess4 = _Reassemble(downsample=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at 1/4, 1/8, 1/16 and 1/32 of the input size."""
        stages, (tokens3, tokens4), grid = self.model(x)
        return [stages[0], stages[1], self.act_postprocess3(tokens3, grid), self.act_postprocess4(tokens4, grid)]


class _ResidualConvUnit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        self.conv2 = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(functional.relu(self.conv1(functional.relu(x))))


class _FusionBlock(nn.Module):
    """RefineNet fusion: add the skip (through a residual unit), refine, upsample 2x, 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.resConfUnit1 = _ResidualConvUnit()  # the released file's names
        self.resConfUnit2 = _ResidualConvUnit()
        self.out_conv = nn.Conv2d(FEATURES, FEATURES, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = functional.interpolate(self.resConfUnit2(x), scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Upsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class _Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for index, channels in enumerate((*RESNET_WIDTHS[:2], VIT_WIDTH, VIT_WIDTH), start=1):
            setattr(self, f"layer{index}_rn", nn.Conv2d(channels, FEATURES, 3, padding=1, bias=False))
            setattr(self, f"refinenet{index}", _FusionBlock())
        self.output_conv = nn.Sequential(
            nn.Conv2d(FEATURES, FEATURES // 2, 3, padding=1),
            _Upsample2x(),
            nn.Conv2d(FEATURES // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.ReLU(),  # depth is non-negative
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        layers = [getattr(self, f"layer{i}_rn")(feature) for i, feature in enumerate(features, start=1)]
        path = self.refinenet4(layers[3])
        path = self.refinenet3(path, layers[2])
        path = self.refinenet2(path, layers[1])
        path = self.refinenet1(path, layers[0])
        return self.output_conv(path)[:, 0]


class DptHybridDepth(nn.Module):
    """[B, 3, H, W] in [-1, 1] (H, W multiples of 32) -> [B, H, W] relative inverse depth (near is large)."""

    def __init__(self) -> None:
        super().__init__()
        self.pretrained = _Encoder()
        self.scratch = _Decoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scratch(self.pretrained(x))


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """The network from the file's tensors; built on the meta device so 123M parameters are not initialised twice."""
    with torch.device("meta"):
        network = DptHybridDepth()
    network.load_state_dict(state, strict=True, assign=True)
    return network


def normalized_depth(depth: np.ndarray) -> np.ndarray:
    """Depth scaled to 0..1 by its own minimum and maximum (all zero for a flat map)."""
    shifted = depth - depth.min()
    peak = shifted.max()
    return shifted / peak if peak > 0 else np.zeros_like(shifted)


def depth_image(depth: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 grey depth map, near = bright."""
    grey = (normalized_depth(depth) * 255.0).clip(0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def normal_from_depth(depth: np.ndarray, background_threshold: float, z: float = NORMAL_Z) -> np.ndarray:
    """HxWx3 uint8 normal map from the depth's 3x3 Sobel gradients, as A1111's normal_midas computes it.

    The normal is (dx, dy, z) normalised, with dx = dy = 0 where the normalised depth is below
    ``background_threshold``, and encoded as n * 127.5 + 127.5. The channels are stored (z, dy, dx): the order
    ControlNet 1.0's normal model receives in lllyasviel's demo and from controlnet_aux's annotator (both reverse
    (dx, dy, z)). This extension hands maps to the model unchanged, so the reversal happens here.
    """
    import cv2

    depth = np.ascontiguousarray(depth, dtype=np.float32)
    gradient_x = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3)
    gradient_y = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3)
    background = normalized_depth(depth) < background_threshold
    gradient_x[background] = 0
    gradient_y[background] = 0
    normal = np.stack([gradient_x, gradient_y, np.full_like(gradient_x, z)], axis=2)
    normal /= np.sqrt(np.sum(normal**2, axis=2, keepdims=True))
    return np.ascontiguousarray((normal * 127.5 + 127.5).clip(0, 255).astype(np.uint8)[:, :, ::-1])


def detect(
    networks: list[nn.Module], image: np.ndarray, threshold_a: float, threshold_b: float, normal: bool = False, **_: Any
) -> np.ndarray:
    """Grey depth map, or with ``normal=True`` the normal map with ``threshold_a`` as background threshold."""
    (network,) = networks
    parameter = next(network.parameters())
    height, width = image.shape[:2]
    padded = torch.from_numpy(pad_to_multiple(image)).to(parameter.device, torch.float32)
    tensor = (padded / 127.5 - 1.0).permute(2, 0, 1)[None].to(parameter.dtype)
    depth = network(tensor)[0].float().cpu().numpy()
    detected = normal_from_depth(depth, threshold_a) if normal else depth_image(depth)
    return np.ascontiguousarray(detected[:height, :width])
