"""seg_ufade20k: ADE20K scene parsing with UniFormer-S + UPerNet (``uniformer/upernet_global_small.pth``).

The released file is an mmsegmentation checkpoint (``{"meta": ..., "state_dict": ...}``) with ``backbone.*``
(UniFormer-small: depthwise-convolution blocks in stages 1-2, global self-attention in stages 3-4),
``decode_head.*`` (UPerNet: pyramid pooling on the last stage, an FPN over all four, 150 classes) and
``auxiliary_head.*`` (an FCN head used only in training: its keys are accepted, it never runs).

The map paints every pixel with the ADE20K palette colour of its most likely class: the colours the seg
ControlNet models were trained on. Pre-processing follows A1111's extension step by step (see ``detect``),
including its channel order: the RGB picture goes into mmseg's pipeline as if it were BGR.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from controlnet_ext.imageops import pad_to_multiple

EMBED_DIMS = (64, 128, 320, 512)
DEPTHS = (3, 4, 8, 3)
PATCH_SIZES = (4, 2, 2, 2)
HEAD_DIM = 64
MLP_RATIO = 4
POOL_SCALES = (1, 2, 3, 6)
DECODE_CHANNELS = 512
AUXILIARY_CHANNELS = 256
AUXILIARY_STAGE = 2
NUM_CLASSES = 150

TEST_SCALE = (2048, 512)  # mmseg's ADE20K test pipeline: fit within a 2048 long / 512 short side, keeping ratio
# ImageNet statistics as the network receives them: mmseg flips what it believes is BGR, and A1111 hands it RGB,
# so the network's channels are (blue, green, red) with the red/green/blue statistics in that order.
NETWORK_MEAN = (123.675, 116.28, 103.53)
NETWORK_STD = (58.395, 57.12, 57.375)
LOGIT_CHUNK = 16  # classes upsampled at a time: full-size logits for 150 classes would need GBs at 2048 px

# The ADE20K palette (RGB, class order of the dataset), as mmseg's get_palette("ade") gives it.
_ADE20K_HEX = (
    "787878 b47878 06e6e6 503232 04c803 787850 8c8c8c cc05ff e6e6e6 04fa07 e005ff ebff07 "
    "96053d 787846 08ff33 ff0652 8fff8c ccff04 ff3307 cc4603 0066c8 3de6fa ff0633 0b66ff "
    "ff0747 ff09e0 0907e6 dcdcdc ff095c 7009ff 08ffd6 07ffe0 ffb806 0aff47 ff290a 07ffff "
    "e0ff08 6608ff ff3d06 ffc207 ff7a08 00ff14 ff0829 ff0599 0633ff eb0cff a09614 00a3ff "
    "8c8c8c fa0a0f 14ff00 1fff00 ff1f00 ffe000 99ff00 0000ff ff4700 00ebff 00adff 1f00ff "
    "0bc8c8 ff5200 00fff5 003dff 00ff70 00ff85 ff0000 ffa300 ff6600 c2ff00 008fff 33ff00 "
    "0052ff 00ff29 00ffad 0a00ff adff00 00ff99 ff5c00 ff00ff ff00f5 ff0066 ffad00 ff0014 "
    "ffb8b8 001fff 00ff3d 0047ff ff00cc 00ffc2 00ff52 000aff 0070ff 3300ff 00c2ff 007aff "
    "00ffa3 ff9900 00ff0a ff7000 8fff00 5200ff a3ff00 ffeb00 08b8aa 8500ff 00ff5c b800ff "
    "ff001f 00b8ff 00d6ff ff0070 5cff00 00e0ff 70e0ff 46b8a0 a300ff 9900ff 47ff00 ff00a3 "
    "ffcc00 ff008f 00ffeb 85ff00 ff00eb f500ff ff007a fff500 0abed4 d6ff00 00ccff 1400ff "
    "ffff00 0099ff 0029ff 00ffcc 2900ff 29ff00 ad00ff 00f5ff 4700ff 7a00ff 00ffb8 005cff "
    "b8ff00 0085ff ffd600 19c2c2 66ff00 5c00ff"
)
ADE20K_PALETTE = np.frombuffer(bytes.fromhex(_ADE20K_HEX), dtype=np.uint8).reshape(-1, 3)  # read-only


# --- network -------------------------------------------------------------------------------------------------


class _ConvNormReLU(nn.Module):
    """mmcv's ConvModule as UPerNet configures it: bias-free convolution, BatchNorm, ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu(self.bn(self.conv(x)))


class _PatchEmbed(nn.Module):
    """Strided convolution that opens each stage, then LayerNorm over channels."""

    def __init__(self, channels_in: int, channels_out: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels_in, channels_out, patch, stride=patch)
        self.norm = nn.LayerNorm(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _Mlp(nn.Module):
    def __init__(self, dim: int, pointwise_conv: bool) -> None:
        super().__init__()
        layer = (lambda a, b: nn.Conv2d(a, b, 1)) if pointwise_conv else nn.Linear
        self.fc1 = layer(dim, dim * MLP_RATIO)
        self.fc2 = layer(dim * MLP_RATIO, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(functional.gelu(self.fc1(x)))


class _ConvBlock(nn.Module):
    """Stages 1-2: local token mixing by a 5x5 depthwise convolution between two 1x1 convolutions."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.BatchNorm2d(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = _Mlp(dim, pointwise_conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        x = x + self.conv2(self.attn(self.conv1(self.norm1(x))))
        return x + self.mlp(self.norm2(x))


class _SelfAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.heads = dim // HEAD_DIM
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, dim = tokens.shape
        q, k, v = self.qkv(tokens).reshape(batch, count, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        mixed = functional.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(64), as the reference
        return self.proj(mixed.transpose(1, 2).reshape(batch, count, dim))


class _AttentionBlock(nn.Module):
    """Stages 3-4: global multi-head self-attention over all positions of the feature map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _SelfAttention(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, pointwise_conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.attn(self.norm1(tokens))
        tokens = tokens + self.mlp(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(batch, channels, height, width)


class UniFormerSmall(nn.Module):
    """Backbone: four stages at strides 4, 8, 16, 32; each stage's output LayerNorm-ed for the decoder."""

    def __init__(self) -> None:
        super().__init__()
        channels_in = 3
        for stage, (dim, depth, patch) in enumerate(zip(EMBED_DIMS, DEPTHS, PATCH_SIZES, strict=True), start=1):
            block = _ConvBlock if stage <= 2 else _AttentionBlock
            setattr(self, f"patch_embed{stage}", _PatchEmbed(channels_in, dim, patch))
            setattr(self, f"blocks{stage}", nn.ModuleList(block(dim) for _ in range(depth)))
            setattr(self, f"norm{stage}", nn.LayerNorm(dim, eps=1e-6))
            channels_in = dim

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in range(1, len(EMBED_DIMS) + 1):
            x = getattr(self, f"patch_embed{stage}")(x)
            for block in getattr(self, f"blocks{stage}"):
                x = block(x)
            features.append(getattr(self, f"norm{stage}")(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return features


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return functional.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class UPerHead(nn.Module):
    """Pyramid pooling on the deepest features, a top-down FPN, all levels fused at stride 4, 1x1 classifier."""

    def __init__(self) -> None:
        super().__init__()
        deepest = EMBED_DIMS[-1]
        self.psp_modules = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(scale), _ConvNormReLU(deepest, DECODE_CHANNELS, 1))
            for scale in POOL_SCALES
        )
        self.bottleneck = _ConvNormReLU(deepest + len(POOL_SCALES) * DECODE_CHANNELS, DECODE_CHANNELS, 3)
        self.lateral_convs = nn.ModuleList(_ConvNormReLU(dim, DECODE_CHANNELS, 1) for dim in EMBED_DIMS[:-1])
        self.fpn_convs = nn.ModuleList(_ConvNormReLU(DECODE_CHANNELS, DECODE_CHANNELS, 3) for _ in EMBED_DIMS[:-1])
        self.fpn_bottleneck = _ConvNormReLU(len(EMBED_DIMS) * DECODE_CHANNELS, DECODE_CHANNELS, 3)
        self.conv_seg = nn.Conv2d(DECODE_CHANNELS, NUM_CLASSES, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        deepest = features[-1]
        pooled = [_resize(branch(deepest), deepest.shape[2:]) for branch in self.psp_modules]
        # strict=False: the deepest feature has no lateral conv: it goes through the PSP bottleneck
        laterals = [conv(feature) for conv, feature in zip(self.lateral_convs, features, strict=False)]
        laterals.append(self.bottleneck(torch.cat([deepest, *pooled], dim=1)))
        for level in range(len(laterals) - 1, 0, -1):
            laterals[level - 1] = laterals[level - 1] + _resize(laterals[level], laterals[level - 1].shape[2:])
        outputs = [conv(lateral) for conv, lateral in zip(self.fpn_convs, laterals, strict=False)] + [laterals[-1]]
        finest = outputs[0].shape[2:]
        fused = torch.cat([outputs[0]] + [_resize(output, finest) for output in outputs[1:]], dim=1)
        return self.conv_seg(self.fpn_bottleneck(fused))


class _FcnHead(nn.Module):
    """The training-time auxiliary head on stage 3; built only so the file loads as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(_ConvNormReLU(EMBED_DIMS[AUXILIARY_STAGE], AUXILIARY_CHANNELS, 3))
        self.conv_seg = nn.Conv2d(AUXILIARY_CHANNELS, NUM_CLASSES, 1)


class UperNetSegmenter(nn.Module):
    """mmseg's EncoderDecoder layout; ``forward`` gives class logits at a quarter of the input size."""

    def __init__(self, auxiliary_head: bool = True) -> None:
        super().__init__()
        self.backbone = UniFormerSmall()
        self.decode_head = UPerHead()
        if auxiliary_head:
            self.auxiliary_head = _FcnHead()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x))


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    state = {key.removeprefix("module."): value for key, value in state.items()}
    network = UperNetSegmenter(auxiliary_head=any(key.startswith("auxiliary_head.") for key in state))
    for key, counter in network.state_dict().items():  # BatchNorm step counters: unused at inference
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, counter)
    network.load_state_dict(state)
    return network


# --- pre- and post-processing ----------------------------------------------------------------------------------


def scaled_size(height: int, width: int, scale: tuple[int, int] = TEST_SCALE) -> tuple[int, int]:
    """(height, width) mmseg's keep-ratio Resize gives: the largest fit in (long, short) limits, rounded half up."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def network_input(image: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1x3xHxW normalised tensor from an RGB uint8 picture, at mmseg's test scale (bilinear on uint8)."""
    import cv2

    height, width = scaled_size(*image.shape[:2])
    if (height, width) != image.shape[:2]:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    swapped = image[:, :, ::-1].astype(np.float32)  # see NETWORK_MEAN: A1111's effective channel order
    normalised = (swapped - np.float32(NETWORK_MEAN)) / np.float32(NETWORK_STD)
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))[None].to(device, dtype)


def upsampled_argmax(
    logits: torch.Tensor, input_size: tuple[int, int], output_size: tuple[int, int], chunk: int = LOGIT_CHUNK
) -> torch.Tensor:
    """HxW class index of 1xCxhxw logits after mmseg's two bilinear resizes (to the network input, then to the
    picture), taken ``chunk`` classes at a time; ties go to the lower class, as ``argmax``."""
    best_score = best_class = None
    for start in range(0, logits.shape[1], chunk):
        scores = _resize(logits[:, start : start + chunk].float(), input_size)
        if tuple(output_size) != tuple(input_size):
            scores = _resize(scores, output_size)
        score, index = scores[0].max(dim=0)
        if best_score is None:
            best_score, best_class = score, index
        else:
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_class = torch.where(better, index + start, best_class)
    return best_class


def colorize(labels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 map: the ADE20K palette colour (RGB) of each class index."""
    return ADE20K_PALETTE[labels]


def detect(networks: list[nn.Module], image: np.ndarray, threshold_a: float, threshold_b: float, **_: Any):
    """A1111's path: pad to 64, mmseg test pipeline (keep-ratio resize to 2048x512, normalise), whole-image
    inference, logits resized to the input and back to the padded picture, arg-max, palette, padding cropped."""
    (network,) = networks
    parameter = next(network.parameters())
    height, width = image.shape[:2]
    padded = pad_to_multiple(image)
    tensor = network_input(padded, parameter.device, parameter.dtype)
    logits = network(tensor)
    labels = upsampled_argmax(logits, tuple(tensor.shape[2:]), padded.shape[:2])
    return colorize(labels.cpu().numpy())[:height, :width].copy()
