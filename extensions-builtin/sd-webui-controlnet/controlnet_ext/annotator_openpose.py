"""openpose family: CMU's OpenPose body, hand and face networks (``openpose/body_pose_model.pth``,
``hand_pose_model.pth``, ``facenet.pth``) and the stick-figure map ControlNet's openpose models were trained on.

The body network (a VGG-19 front, then six stages of part-affinity fields and part heatmaps) runs once at a
fixed height of 184 px; heatmap peaks become keypoints, and the affinity fields join them into people. Hands
are looked for in boxes beyond the wrists (the hand network at four sizes), the face in a box around the head.
Each step reproduces A1111's extension (Mikubill/sd-webui-controlnet ``annotator/openpose``) so the maps match:
the same resizes, thresholds, tie-breaking and drawing. Keypoints are kept as fractions of the picture size
(x / width, y / height), as A1111 keeps them before drawing.
"""

from __future__ import annotations

import colorsys
import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from controlnet_ext.imageops import pad_to_multiple

log = logging.getLogger(__name__)

POOL = "pool"
_VGG_START = (
    ("conv1_1", 3, 64, 3),
    ("conv1_2", 64, 64, 3),
    POOL,
    ("conv2_1", 64, 128, 3),
    ("conv2_2", 128, 128, 3),
    POOL,
    ("conv3_1", 128, 256, 3),
    ("conv3_2", 256, 256, 3),
    ("conv3_3", 256, 256, 3),
    ("conv3_4", 256, 256, 3),
    POOL,
    ("conv4_1", 256, 512, 3),
    ("conv4_2", 512, 512, 3),
)
BODY_FRONT = _VGG_START + (("conv4_3_CPM", 512, 256, 3), ("conv4_4_CPM", 256, 128, 3))
CROP_FRONT = _VGG_START + (  # hands and faces: deeper front, 128 features
    ("conv4_3", 512, 512, 3),
    ("conv4_4", 512, 512, 3),
    ("conv5_1", 512, 512, 3),
    ("conv5_2", 512, 512, 3),
    ("conv5_3_CPM", 512, 128, 3),
)
BODY_PAF_CHANNELS, BODY_HEATMAP_CHANNELS = 38, 19  # 19 limbs x (dx, dy); 18 parts + background
HAND_CHANNELS, FACE_CHANNELS = 22, 71  # 21 hand points + background; 70 face points + background
FEATURES = 128
STAGES = range(2, 7)

# Body parts, 0-based: 0 nose, 1 neck, 2-4 right shoulder/elbow/wrist, 5-7 left shoulder/elbow/wrist, 8-10 right
# hip/knee/ankle, 11-13 left hip/knee/ankle, 14/15 right/left eye, 16/17 right/left ear.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
LIMB_PAF_CHANNELS = (  # (dx, dy) channels of each limb's affinity field, in LIMBS order
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11),
    (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)  # fmt: skip
DRAWN_LIMBS = 17  # the last two (shoulder-ear) help grouping only
BODY_COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip  # RGB; limb k in colour k at 60 %, part k in colour k
HAND_EDGES = tuple((0 if i % 4 == 0 else i, i + 1) for i in range(20))  # wrist to each finger's four joints
STICK_WIDTH = 4

BODY_HEIGHT, STRIDE, PAD_VALUE = 184, 8, 128  # 0.5 x the 368 px box of OpenPose; the network's output step
PEAK_THRESHOLD, PAF_THRESHOLD, PAF_SAMPLES = 0.1, 0.05, 10
HAND_SIZES, HAND_MAP_SIZE, HAND_THRESHOLD = (184, 368, 552, 736), 128, 0.05
FACE_SIZE, FACE_THRESHOLD = 384, 0.05
MIN_BOX = 20  # hand and face boxes smaller than this are skipped
DRAW_MARGIN = 0.01  # hand and face points at pixel 0 (not found) are not drawn


# --- networks ------------------------------------------------------------------------------------------------


def _add_convs(module: nn.Module, layers: tuple) -> list[str]:
    for layer in layers:
        if layer != POOL:
            name, channels_in, channels_out, size = layer
            setattr(module, name, nn.Conv2d(channels_in, channels_out, size, padding=size // 2))
    return [POOL if layer == POOL else layer[0] for layer in layers]


def _stage(prefix: str, suffix: str, channels_in: int, channels_out: int) -> tuple:
    middle = [(f"Mconv{i}_stage{prefix}{suffix}", channels_in if i == 1 else 128, 128, 7) for i in range(1, 6)]
    return (
        *middle,
        (f"Mconv6_stage{prefix}{suffix}", 128, 128, 1),
        (f"Mconv7_stage{prefix}{suffix}", 128, channels_out, 1),
    )


class _ConvChain(nn.Module):
    """Convolutions named as in the released files (no prefixes), run as chains: ReLU after all but a chain's last."""

    def _run(self, x: torch.Tensor, names: list[str], last_relu: bool = False) -> torch.Tensor:
        for index, name in enumerate(names):
            if name == POOL:
                x = nn.functional.max_pool2d(x, 2, 2)
                continue
            x = getattr(self, name)(x)
            if index < len(names) - 1 or last_relu:
                x = nn.functional.relu(x)
        return x


class BodyNetwork(_ConvChain):
    """The CMU body model: returns (part-affinity fields [N, 38, h/8, w/8], part heatmaps [N, 19, h/8, w/8])."""

    def __init__(self) -> None:
        super().__init__()
        self.front = _add_convs(self, BODY_FRONT)
        self.branches: dict[tuple[int, int], list[str]] = {}
        for branch, channels in ((1, BODY_PAF_CHANNELS), (2, BODY_HEATMAP_CHANNELS)):
            first = (
                (f"conv5_1_CPM_L{branch}", FEATURES, 128, 3),
                (f"conv5_2_CPM_L{branch}", 128, 128, 3),
                (f"conv5_3_CPM_L{branch}", 128, 128, 3),
                (f"conv5_4_CPM_L{branch}", 128, 512, 1),
                (f"conv5_5_CPM_L{branch}", 512, channels, 1),
            )
            self.branches[1, branch] = _add_convs(self, first)
            joined = BODY_PAF_CHANNELS + BODY_HEATMAP_CHANNELS + FEATURES
            for stage in STAGES:
                self.branches[stage, branch] = _add_convs(self, _stage(str(stage), f"_L{branch}", joined, channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self._run(x, self.front, last_relu=True)
        fields, heatmaps = self._run(features, self.branches[1, 1]), self._run(features, self.branches[1, 2])
        for stage in STAGES:
            joined = torch.cat([fields, heatmaps, features], 1)
            fields, heatmaps = self._run(joined, self.branches[stage, 1]), self._run(joined, self.branches[stage, 2])
        # A1111's network ends the last heatmap layer with a ReLU (its "no ReLU" list names the PAF layer twice);
        # kept so the maps match.
        return fields, nn.functional.relu(heatmaps)


class CropNetwork(_ConvChain):
    """The hand (22 maps) and face (71 maps) models: one heatmap per point, refined over six stages."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.front = _add_convs(self, CROP_FRONT)
        self.first = _add_convs(self, (("conv6_1_CPM", FEATURES, 512, 1), ("conv6_2_CPM", 512, channels, 1)))
        self.stages = [_add_convs(self, _stage(str(stage), "", channels + FEATURES, channels)) for stage in STAGES]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self._run(x, self.front, last_relu=True)
        heatmaps = self._run(features, self.first)
        for names in self.stages:
            heatmaps = self._run(torch.cat([heatmaps, features], 1), names)
        return heatmaps


def build(weights: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """The network of one released file. Its keys are the layer names alone (no module path)."""
    name = Path(weights).name
    if name == "body_pose_model.pth":
        network: nn.Module = BodyNetwork()
    elif name == "hand_pose_model.pth":
        network = CropNetwork(HAND_CHANNELS)
    elif name == "facenet.pth":
        network = CropNetwork(FACE_CHANNELS)
    else:
        raise ValueError(f"no openpose network is known for {weights}")
    expected = network.state_dict().keys()
    missing = [key for key in expected if key not in state]
    if missing:
        raise KeyError(f"missing {len(missing)} tensors, e.g. {missing[0]!r}")
    extra = sorted(set(state) - set(expected))
    if extra:  # A1111 takes the body and hand tensors it needs by name and ignores the rest
        log.debug("%s: ignoring %d unused tensors, e.g. %s", weights, len(extra), extra[0])
    network.load_state_dict({key: state[key] for key in expected})
    return network


# --- resizing as A1111 does it -------------------------------------------------------------------------------


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area filter when shrinking, Lanczos when enlarging; maps with many channels one channel at a time."""
    import cv2

    if array.ndim == 3 and array.shape[2] not in (1, 3):
        return np.stack([_resize(array[:, :, c], width, height) for c in range(array.shape[2])], axis=2)
    ratio = float(height + width) / float(array.shape[0] + array.shape[1])
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LANCZOS4)


def _scale(array: np.ndarray, factor: float) -> np.ndarray:
    return _resize(array, int(array.shape[1] * factor), int(array.shape[0] * factor))


def _network_input(image: np.ndarray, device: torch.device) -> tuple[torch.Tensor, tuple[int, int]]:
    """The BGR picture padded right and down to a multiple of the stride with grey, as [1, 3, h, w] in -0.5..0.5."""
    height, width = image.shape[:2]
    pad_down, pad_right = -height % STRIDE, -width % STRIDE
    padded = np.pad(image, ((0, pad_down), (0, pad_right), (0, 0)), constant_values=PAD_VALUE)
    tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)[None]).astype(np.float32) / 256 - 0.5)
    return tensor.to(device), (height, width)


def _output_maps(output: torch.Tensor, size: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Network maps [1, C, h/8, w/8] as HxWxC at ``target`` (height, width): enlarged by the stride, unpadded."""
    maps = _scale(output[0].float().cpu().numpy().transpose(1, 2, 0), STRIDE)[: size[0], : size[1]]
    return _resize(maps, target[1], target[0])


def _smooth(heatmap: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Gaussian smoothing, kernel cut at 4 sigma, borders mirrored (scipy's ``gaussian_filter`` defaults)."""
    import cv2

    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * offsets**2 / sigma**2)
    kernel /= kernel.sum()
    return cv2.sepFilter2D(heatmap.astype(np.float64), cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


# --- body: peaks, limbs, people ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Peak:
    x: int
    y: int
    score: float
    index: int  # running number over all parts


def body_maps(network: nn.Module, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heatmaps HxWx19, affinity fields HxWx38) of the body network for a BGR picture, at its size."""
    height, width = bgr.shape[:2]
    factor = BODY_HEIGHT / height
    scaled = _resize(bgr, int(width * factor), int(height * factor))
    parameter = next(network.parameters())
    tensor, size = _network_input(scaled, parameter.device)
    fields, heatmaps = network(tensor.to(parameter.dtype))
    return (
        _output_maps(heatmaps, size, (height, width)).astype(np.float64),
        _output_maps(fields, size, (height, width)).astype(np.float64),
    )


def find_peaks(heatmaps: np.ndarray, threshold: float = PEAK_THRESHOLD) -> list[list[Peak]]:
    """Per body part, the local maxima of the smoothed heatmap above ``threshold``, in row-major order."""
    peaks: list[list[Peak]] = []
    counter = 0
    for part in range(BODY_HEATMAP_CHANNELS - 1):
        raw = heatmaps[:, :, part]
        smooth = _smooth(raw)
        ring = np.pad(smooth, 1)
        center = ring[1:-1, 1:-1]
        is_peak = (
            (center >= ring[:-2, 1:-1])
            & (center >= ring[2:, 1:-1])
            & (center >= ring[1:-1, :-2])
            & (center >= ring[1:-1, 2:])
            & (center > threshold)
        )
        rows, columns = np.nonzero(is_peak)
        peaks.append(
            [
                Peak(int(x), int(y), float(raw[y, x]), counter + i)
                for i, (y, x) in enumerate(zip(rows, columns, strict=True))
            ]
        )
        counter += len(rows)
    return peaks


def connect_limb(
    fields: np.ndarray, starts: list[Peak], ends: list[Peak], image_height: int
) -> list[tuple[Peak, Peak, float]]:
    """Pairs (start, end, score) of one limb: the field sampled at 10 points along each candidate segment must
    point along it (9 of 10 above 0.05, mean plus a penalty for segments longer than half the picture > 0);
    best pairs first, each peak used once."""
    if not starts or not ends:
        return []
    start_xy = np.array([(p.x, p.y) for p in starts], np.float64)[:, None, :]
    end_xy = np.array([(p.x, p.y) for p in ends], np.float64)[None, :, :]
    vector = end_xy - start_xy
    norm = np.maximum(0.001, np.sqrt(vector[..., 0] ** 2 + vector[..., 1] ** 2))
    unit = vector / norm[..., None]
    # np.linspace(start, end, 10) for every pair: i * ((end - start) / 9) + start, the last one exactly end
    steps = np.arange(PAF_SAMPLES, dtype=np.float64)
    xs = steps * (vector[..., 0, None] / (PAF_SAMPLES - 1)) + start_xy[..., 0, None]
    ys = steps * (vector[..., 1, None] / (PAF_SAMPLES - 1)) + start_xy[..., 1, None]
    xs[..., -1], ys[..., -1] = np.broadcast_to(end_xy[..., 0], norm.shape), np.broadcast_to(end_xy[..., 1], norm.shape)
    columns, rows = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
    along = fields[rows, columns, 0] * unit[..., 0, None] + fields[rows, columns, 1] * unit[..., 1, None]
    total = along[..., 0]
    for sample in range(1, PAF_SAMPLES):  # summed in order, as A1111 does, for identical ties
        total = total + along[..., sample]
    score = total / PAF_SAMPLES + np.minimum(0.5 * image_height / norm - 1, 0)
    accepted = ((along > PAF_THRESHOLD).sum(-1) > 0.8 * PAF_SAMPLES) & (score > 0)
    candidates = [(float(score[i, j]), i, j) for i in range(len(starts)) for j in range(len(ends)) if accepted[i, j]]
    candidates.sort(key=lambda item: item[0], reverse=True)  # stable: ties keep the start-major order
    pairs, used_starts, used_ends = [], set(), set()
    for value, i, j in candidates:
        if i not in used_starts and j not in used_ends:
            pairs.append((starts[i], ends[j], value))
            used_starts.add(i)
            used_ends.add(j)
            if len(pairs) >= min(len(starts), len(ends)):
                break
    return pairs


def group_people(peaks: list[list[Peak]], fields: np.ndarray, image_height: int) -> list[list[Peak | None]]:
    """Joins limbs into people (A1111's greedy assembly); drops people with fewer than 4 parts or a mean score
    under 0.4. Each person is 18 entries, None for parts not found."""
    scores = [peak.score for part in peaks for peak in part]
    by_index = {peak.index: peak for part in peaks for peak in part}
    people: list[np.ndarray] = []  # rows: 18 peak indices (-1: none), total score, part count
    for limb, ((part_a, part_b), channels) in enumerate(zip(LIMBS, LIMB_PAF_CHANNELS, strict=True)):
        field = fields[:, :, list(channels)]
        for start, end, value in connect_limb(field, peaks[part_a], peaks[part_b], image_height):
            found = [row for row in people if row[part_a] == start.index or row[part_b] == end.index][:2]
            if len(found) == 1 or (len(found) == 2 and ((found[0][:18] >= 0) & (found[1][:18] >= 0)).any()):
                row = found[0]
                if len(found) == 2 or row[part_b] != end.index:
                    row[part_b] = end.index
                    row[19] += 1
                    row[18] += scores[end.index] + value
            elif len(found) == 2:  # two disjoint partial people: merge them
                first, second = found
                first[:18] += second[:18] + 1
                first[18:] += second[18:]
                first[18] += value
                people = [row for row in people if row is not second]
            elif not found and limb < DRAWN_LIMBS:
                row = -np.ones(20)
                row[part_a], row[part_b] = start.index, end.index
                row[18], row[19] = scores[start.index] + scores[end.index] + value, 2
                people.append(row)
    kept = [row for row in people if row[19] >= 4 and row[18] / row[19] >= 0.4]
    return [[by_index[int(i)] if i >= 0 else None for i in row[:18]] for row in kept]


# --- hands and faces -----------------------------------------------------------------------------------------

Point = tuple[float, float]  # x, y; in pixels or as fractions of the picture


def hand_boxes(person: list[Any], width: int, height: int) -> list[tuple[int, int, int, bool]]:
    """Square boxes (x, y, side, is_left) beyond each wrist whose shoulder, elbow and wrist were all found
    (OpenPose's hand detector: a third of the forearm past the wrist, 1.5 x the longer arm segment wide)."""
    boxes = []
    for shoulder, elbow, wrist, is_left in ((5, 6, 7, True), (2, 3, 4, False)):
        joints = [person[shoulder], person[elbow], person[wrist]]
        if any(joint is None for joint in joints):
            continue
        (x1, y1), (x2, y2), (x3, y3) = [(joint[0], joint[1]) for joint in joints]
        x = x3 + 0.33 * (x3 - x2)
        y = y3 + 0.33 * (y3 - y2)
        side = 1.5 * max(math.sqrt((x3 - x2) ** 2 + (y3 - y2) ** 2), 0.9 * math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2))
        x, y = max(x - side / 2, 0), max(y - side / 2, 0)
        side = min(side if x + side <= width else width - x, side if y + side <= height else height - y)
        if side >= MIN_BOX:
            boxes.append((int(x), int(y), int(side), is_left))
    return boxes


def face_box(person: list[Any], width: int, height: int) -> tuple[int, int, int] | None:
    """The box (x, y, side) around the nose sized by the eyes (x 3) and ears (x 1.5), as A1111 computes it."""
    nose = person[0]
    if nose is None or all(person[part] is None for part in (14, 15, 16, 17)):
        return None
    half = 0.0
    for part, factor in ((14, 3.0), (15, 3.0), (16, 1.5), (17, 1.5)):
        if person[part] is not None:
            half = max(half, factor * max(abs(nose[0] - person[part][0]), abs(nose[1] - person[part][1])))
    x, y = max(nose[0] - half, 0), max(nose[1] - half, 0)
    # A1111 compares with the half width here, so a box at the right or bottom edge may reach past the picture
    side = min(2 * half if x + half <= width else width - x, 2 * half if y + half <= height else height - y)
    return (int(x), int(y), int(side)) if side >= MIN_BOX else None


def hand_heatmaps(network: nn.Module, crop: np.ndarray) -> np.ndarray:
    """The hand network's 22 maps (128x128) for a BGR crop, averaged over four input sizes."""
    import cv2

    blurred = cv2.GaussianBlur(crop, (0, 0), 0.8)
    device, dtype = next(network.parameters()).device, next(network.parameters()).dtype
    average = np.zeros((HAND_MAP_SIZE, HAND_MAP_SIZE, HAND_CHANNELS))
    for size in HAND_SIZES:
        tensor, shape = _network_input(_resize(blurred, size, size), device)
        average += _output_maps(network(tensor.to(dtype)), shape, (HAND_MAP_SIZE, HAND_MAP_SIZE)) / len(HAND_SIZES)
    return average


def hand_points(heatmaps: np.ndarray, width: int, height: int) -> list[tuple[int, int]]:
    """Per hand point, the maximum of the strongest blob of its smoothed map above 0.05, in crop pixels
    ((0, 0) when none)."""
    import cv2

    points = []
    for part in range(HAND_CHANNELS - 1):
        raw = heatmaps[:, :, part].copy()
        binary = (_smooth(raw) > HAND_THRESHOLD).astype(np.uint8)
        if not binary.any():
            points.append((0, 0))
            continue
        count, labels = cv2.connectedComponents(binary, connectivity=8)
        best = 1 + int(np.argmax([raw[labels == label].sum() for label in range(1, count)]))
        raw[labels != best] = 0
        y, x = np.unravel_index(int(np.argmax(raw)), raw.shape)
        points.append((int(float(x) * float(width) / HAND_MAP_SIZE), int(float(y) * float(height) / HAND_MAP_SIZE)))
    return points


def face_heatmaps(network: nn.Module, crop: np.ndarray) -> np.ndarray:
    """The face network's 71 maps for a BGR crop (run at 384x384), scaled back to the crop: [71, h, w]."""
    device, dtype = next(network.parameters()).device, next(network.parameters()).dtype
    height, width = crop.shape[:2]
    scaled = torch.from_numpy(_resize(crop, FACE_SIZE, FACE_SIZE)).permute(2, 0, 1) / 256.0 - 0.5
    output = network(scaled[None].to(device, dtype)).float()
    return nn.functional.interpolate(output, (height, width), mode="bilinear", align_corners=True)[0].cpu().numpy()


def face_peaks(heatmaps: np.ndarray) -> list[tuple[int, int]]:
    """Face points in crop pixels: each map's maximum (the first in row-major order) if above 0.05; maps without
    one are left out rather than marked, as in A1111 (so the list may be shorter than 71)."""
    points = []
    for heatmap in heatmaps:
        rows, columns = np.nonzero(heatmap > FACE_THRESHOLD)
        if len(rows):
            best = int(np.argmax(heatmap[rows, columns]))
            points.append((int(columns[best]), int(rows[best])))
    return points


def _to_fractions(points: list[tuple[int, int]], box_x: int, box_y: int, width: int, height: int) -> list[Point]:
    """Crop pixels to fractions of the picture; a coordinate 0 (nothing found) becomes -1 / size. A1111 divides
    in float32 here (and multiplies back in float64 when drawing), which decides a pixel now and then."""

    def fraction(value: int, offset: int, size: int) -> float:
        return float(np.float32(value + offset if value >= 1e-6 else -1) / np.float32(size))

    return [(fraction(x, box_x, width), fraction(y, box_y, height)) for x, y in points]


# --- drawing -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Pose:
    body: list[Point | None]
    left_hand: list[Point] | None = None
    right_hand: list[Point] | None = None
    face: list[Point] | None = None


def draw_body(canvas: np.ndarray, keypoints: list[Point | None]) -> np.ndarray:
    """Limbs as ellipses 2 x 4 px thick in 60 % of their colour, then the parts as 4 px discs in full colour."""
    import cv2

    height, width = canvas.shape[:2]
    # strict=False: the colour table has one entry more than the drawn limbs
    for (part_a, part_b), color in zip(LIMBS[:DRAWN_LIMBS], BODY_COLORS, strict=False):
        a, b = keypoints[part_a], keypoints[part_b]
        if a is None or b is None:
            continue
        xs = np.array([a[0], b[0]]) * float(width)
        ys = np.array([a[1], b[1]]) * float(height)
        length = ((ys[0] - ys[1]) ** 2 + (xs[0] - xs[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        center = (int(np.mean(xs)), int(np.mean(ys)))
        polygon = cv2.ellipse2Poly(center, (int(length / 2), STICK_WIDTH), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, [int(float(c) * 0.6) for c in color])
    for keypoint, color in zip(keypoints, BODY_COLORS, strict=True):
        if keypoint is not None:
            cv2.circle(canvas, (int(keypoint[0] * width), int(keypoint[1] * height)), 4, color, thickness=-1)
    return canvas


def hand_edge_color(edge: int) -> tuple[float, float, float]:
    """Edge ``edge`` of 20 in the hue ``edge / 20`` at full saturation and value, 0..255 (RGB)."""
    return tuple(channel * 255 for channel in colorsys.hsv_to_rgb(edge / float(len(HAND_EDGES)), 1.0, 1.0))


def draw_hand(canvas: np.ndarray, keypoints: list[Point] | None) -> np.ndarray:
    """Bones as 2 px lines coloured round the hue circle, joints as 4 px blue discs."""
    import cv2

    if not keypoints:
        return canvas
    height, width = canvas.shape[:2]
    pixels = [(int(x * width), int(y * height)) for x, y in keypoints]
    for edge, (a, b) in enumerate(HAND_EDGES):
        (x1, y1), (x2, y2) = pixels[a], pixels[b]
        if min(x1, y1, x2, y2) > DRAW_MARGIN:
            cv2.line(canvas, (x1, y1), (x2, y2), hand_edge_color(edge), thickness=2)
    for x, y in pixels:
        if x > DRAW_MARGIN and y > DRAW_MARGIN:
            cv2.circle(canvas, (x, y), 4, (0, 0, 255), thickness=-1)
    return canvas


def draw_face(canvas: np.ndarray, keypoints: list[Point] | None) -> np.ndarray:
    """Face points as 3 px white discs."""
    import cv2

    if not keypoints:
        return canvas
    height, width = canvas.shape[:2]
    for x, y in keypoints:
        x, y = int(x * width), int(y * height)
        if x > DRAW_MARGIN and y > DRAW_MARGIN:
            cv2.circle(canvas, (x, y), 3, (255, 255, 255), thickness=-1)
    return canvas


def draw_poses(
    poses: list[Pose], height: int, width: int, body: bool = True, hands: bool = False, face: bool = False
) -> np.ndarray:
    """The map on black, person by person: body, left hand, right hand, face."""
    canvas = np.zeros((height, width, 3), np.uint8)
    for pose in poses:
        if body:
            canvas = draw_body(canvas, pose.body)
        if hands:
            canvas = draw_hand(draw_hand(canvas, pose.left_hand), pose.right_hand)
        if face:
            canvas = draw_face(canvas, pose.face)
    return canvas


# --- the preprocessor ----------------------------------------------------------------------------------------


def find_poses(
    body_network: nn.Module,
    rgb: np.ndarray,
    hand_network: nn.Module | None = None,
    face_network: nn.Module | None = None,
) -> list[Pose]:
    """The people in an RGB picture, keypoints as fractions of its size."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the networks were trained on BGR
    height, width = bgr.shape[:2]
    heatmaps, fields = body_maps(body_network, bgr)
    people = group_people(find_peaks(heatmaps), fields, height)
    poses = []
    for person in people:
        pixels = [(peak.x, peak.y) if peak is not None else None for peak in person]
        pose = Pose([(p[0] / float(width), p[1] / float(height)) if p is not None else None for p in pixels])
        if hand_network is not None:
            for x, y, side, is_left in hand_boxes(pixels, width, height):
                crop = bgr[y : y + side, x : x + side]
                points = hand_points(hand_heatmaps(hand_network, crop), crop.shape[1], crop.shape[0])
                fractions = _to_fractions(points, x, y, width, height)
                pose.left_hand, pose.right_hand = (
                    (fractions, pose.right_hand) if is_left else (pose.left_hand, fractions)
                )
        if face_network is not None:
            box = face_box(pixels, width, height)
            if box is not None:
                x, y, side = box
                points = face_peaks(face_heatmaps(face_network, bgr[y : y + side, x : x + side]))
                pose.face = _to_fractions(points, x, y, width, height) or None
        poses.append(pose)
    return poses


def detect(
    networks: list[nn.Module],
    image: np.ndarray,
    threshold_a: float,
    threshold_b: float,
    hands: bool = False,
    face: bool = False,
    body: bool = True,
    **_: Any,
) -> np.ndarray:
    """The pose map of ``image``. Like A1111, the picture is first extended to a multiple of 64 px by repeating
    its last row and column, and the map is cut back to the picture afterwards."""
    body_network = networks[0]
    hand_network = networks[1] if hands else None
    face_network = networks[-1] if face else None
    height, width = image.shape[:2]
    padded = pad_to_multiple(image)
    poses = find_poses(body_network, padded, hand_network, face_network)
    log.debug("openpose: %d people", len(poses))
    canvas = draw_poses(poses, padded.shape[0], padded.shape[1], body=body, hands=hands, face=face)
    return np.ascontiguousarray(canvas[:height, :width])
