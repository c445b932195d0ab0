"""RetinaFace (ResNet-50) face detector for the user-placed ``detection_Resnet50_Final.pth`` A1111 uses.

A1111 finds faces with facexlib's RetinaFace; facexlib cannot be installed here (it needs torchvision and
downloads its weights), so the network is written here in the released key layout: a ResNet-50 ``body``
(stages 2-4), an ``fpn`` (``output1..3``, ``merge1..2``), three ``ssh`` context modules and the
``ClassHead``/``BboxHead``/``LandmarkHead`` lists, two anchors per position. ``detect`` returns boxes and
the five landmarks (eyes, nose, mouth corners) the aligner needs. Weights are never downloaded.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modules.models.errors import ModelLoadError

DETECTOR_FILE = "detection_Resnet50_Final.pth"
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())  # the released model uses LeakyReLU with slope 0 for 256 channels
    return nn.Sequential(*layers)


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, width * 4, 1, bias=False), nn.BatchNorm2d(width * 4)
        self.downsample = None
        if stride != 1 or cin != width * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class _ResNet50Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        cin = 64
        for index, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            layer = []
            for block in range(blocks):
                layer.append(_Bottleneck(cin, width, stride if block == 0 else 1))
                cin = width * 4
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        return [c2, c3, self.layer4(c3)]


class _SSH(nn.Module):
    """Context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches concatenated."""

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(channels, channels // 2, relu=False)
        self.conv5X5_1 = _conv_bn(channels, channels // 4)
        self.conv5X5_2 = _conv_bn(channels // 4, channels // 4, relu=False)
        self.conv7X7_2 = _conv_bn(channels // 4, channels // 4)
        self.conv7x7_3 = _conv_bn(channels // 4, channels // 4, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.conv5X5_1(x)
        seven = self.conv7x7_3(self.conv7X7_2(first))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(first), seven], 1))


class _FPN(nn.Module):
    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        for index, cin in enumerate((512, 1024, 2048)):
            self.add_module(f"output{index + 1}", _conv_bn(cin, channels, kernel=1))
        self.merge1, self.merge2 = _conv_bn(channels, channels), _conv_bn(channels, channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        out1, out2, out3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        out2 = self.merge2(out2 + F.interpolate(out3, size=out2.shape[2:], mode="nearest"))
        out1 = self.merge1(out1 + F.interpolate(out2, size=out1.shape[2:], mode="nearest"))
        return [out1, out2, out3]


class _Head(nn.Module):
    def __init__(self, values: int, channels: int = 256, anchors: int = 2) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(channels, anchors * values, 1)
        self.values = values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.fpn = _ResNet50Body(), _FPN()
        self.ssh1, self.ssh2, self.ssh3 = _SSH(), _SSH(), _SSH()
        self.ClassHead = nn.ModuleList([_Head(2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([_Head(4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([_Head(10) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fpn = self.fpn(self.body(x))
        features = [self.ssh1(fpn[0]), self.ssh2(fpn[1]), self.ssh3(fpn[2])]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, features, strict=True)], 1)
        scores = torch.cat([head(f) for head, f in zip(self.ClassHead, features, strict=True)], 1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features, strict=True)], 1)
        return boxes, F.softmax(scores, dim=-1), landmarks


def load_detector(path: Path) -> RetinaFace:
    """The detector of ``path``; ModelLoadError naming the file when it is missing or of another layout."""
    from modules.upscaling.spandrel_loader import read_state_dict

    if not path.is_file():
        raise ModelLoadError(
            path, f"is missing: face restoration finds faces with RetinaFace; place A1111's {DETECTOR_FILE} here"
        )
    state = {k: v for k, v in read_state_dict(path).items() if not k.endswith("num_batches_tracked")}
    network = RetinaFace()
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise ModelLoadError(path, "is not a RetinaFace ResNet-50 detector (tensor shapes differ)") from error
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelLoadError(
            path, f"is not a RetinaFace ResNet-50 detector (keys differ: {(missing + unexpected)[:3]})"
        )
    return network.eval()


def _priors(height: int, width: int) -> torch.Tensor:
    rows = []
    for sizes, step in zip(MIN_SIZES, STEPS, strict=True):
        for i, j in itertools.product(range(math.ceil(height / step)), range(math.ceil(width / step))):
            for size in sizes:
                rows.append(((j + 0.5) * step / width, (i + 0.5) * step / height, size / width, size / height))
    return torch.tensor(rows)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    order, keep = scores.argsort()[::-1], []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        first, rest = order[0], order[1:]
        keep.append(int(first))
        lo, hi = np.maximum(boxes[first, :2], boxes[rest, :2]), np.minimum(boxes[first, 2:], boxes[rest, 2:])
        inter = np.clip(hi - lo, 0, None).prod(axis=1)
        overlap = inter / (areas[first] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= threshold]
    return keep


@torch.inference_mode()
def detect(
    network: RetinaFace, rgb: np.ndarray, threshold: float = 0.8, nms_threshold: float = 0.4
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(box x1 y1 x2 y2, landmarks 5x2, score) of each face in an RGB uint8 array, best first."""
    param = next(network.parameters())
    height, width = rgb.shape[:2]
    bgr = rgb[:, :, ::-1].astype(np.float32) - np.array(BGR_MEAN, dtype=np.float32)
    tensor = torch.from_numpy(bgr.transpose(2, 0, 1).copy()).unsqueeze(0).to(param.device, param.dtype)
    loc, conf, landm = (t[0].float().cpu() for t in network(tensor))
    priors = _priors(height, width)
    centres = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    sizes = priors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCE[1])
    scale = torch.tensor([width, height], dtype=torch.float32)
    boxes = (torch.cat([centres - sizes / 2, centres + sizes / 2], 1) * scale.repeat(2)).numpy()
    points = priors[:, None, :2] + landm.view(-1, 5, 2) * VARIANCE[0] * priors[:, None, 2:]
    points = (points * scale).numpy()
    scores = conf[:, 1].numpy()
    chosen = np.where(scores > threshold)[0]
    keep = _nms(boxes[chosen], scores[chosen], nms_threshold)
    return [(boxes[chosen[k]], points[chosen[k]], float(scores[chosen[k]])) for k in keep]
