"""Preprocessors that need weight files ("annotators"), looked up in the annotator folder — never downloaded.

The folder is ``--controlnet-annotator-models-path``, else the setting ``control_net_modules_path``, else the
extension's ``annotator/downloads`` (A1111's layout: ``<folder>/hed/ControlNetHED.pth`` ...). A preprocessor
is listed only when its file is there; asking for one whose file is missing gives a message naming the file
to put where. ``softedge_hed`` is implemented here (a small VGG-style edge network); the others are known by
name so the message is right, and say plainly that this build cannot run them yet.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from controlnet_ext.imageops import resize_short_side
from controlnet_ext.preprocessors import Preprocessor

log = logging.getLogger(__name__)


class AnnotatorUnavailable(ValueError):
    """A weight-needing preprocessor that cannot run: which file is missing, or that it is not implemented."""


@dataclasses.dataclass(frozen=True)
class Annotator:
    name: str
    weights: str  # relative to the annotator folder
    implemented: bool = False


ANNOTATORS = (
    Annotator("softedge_hed", "hed/ControlNetHED.pth", implemented=True),
    Annotator("openpose", "openpose/body_pose_model.pth"),
    Annotator("depth_midas", "midas/dpt_hybrid-midas-501f0c75.pt"),
    Annotator("mlsd", "mlsd/mlsd_large_512_fp32.pth"),
    Annotator("seg_ofade20k", "oneformer/250_16_swin_l_oneformer_ade20k_160k.pth"),
    Annotator("normal_bae", "normal_bae/scannet.pt"),
)
ALIASES = {"hed": "softedge_hed", "depth": "depth_midas", "seg": "seg_ofade20k", "normal": "normal_bae"}


def find(name: str) -> Annotator | None:
    name = ALIASES.get(name.lower(), name.lower())
    return next((a for a in ANNOTATORS if a.name == name), None)


def available(folder: Path) -> list[Preprocessor]:
    """Preprocessors whose weights are present and that this build can run."""
    return [_preprocessor(a, folder) for a in ANNOTATORS if a.implemented and (folder / a.weights).is_file()]


def require(name: str, folder: Path) -> Preprocessor:
    annotator = find(name)
    if annotator is None:
        raise AnnotatorUnavailable(f"unknown preprocessor {name!r}")
    path = folder / annotator.weights
    if not path.is_file():
        raise AnnotatorUnavailable(
            f"preprocessor {annotator.name} needs the weight file {annotator.weights} in "
            f"{folder} (missing: {path}); nothing is downloaded, copy it there"
        )
    if not annotator.implemented:
        raise AnnotatorUnavailable(
            f"preprocessor {annotator.name} is not available in this build yet (its weights were found at {path})"
        )
    return _preprocessor(annotator, folder)


def _preprocessor(annotator: Annotator, folder: Path) -> Preprocessor:
    path = folder / annotator.weights

    def run(image: np.ndarray, res: int, a: float, b: float, extra: dict[str, Any]) -> np.ndarray:
        return hed_edges(
            path,
            resize_short_side(image, res),
            extra.get("device", "cpu"),
            bool(extra.get("allow_unsafe_pickle", False)),
        )

    return Preprocessor(annotator.name, run, weights=(annotator.weights,))


# --- HED soft edges -------------------------------------------------------------------------------------------


def _hed_network(state: dict[str, Any]) -> Any:
    """The Apache-2 HED layout: five VGG-style blocks, each with a 1x1 side projection, and an input offset."""
    import torch
    from torch import nn

    class Block(nn.Module):
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

    class Hed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
            specs = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))
            for index, spec in enumerate(specs, start=1):
                setattr(self, f"block{index}", Block(*spec))

        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            h, sides = x - self.norm, []
            for index in range(1, 6):
                h, side = getattr(self, f"block{index}")(h, index > 1)
                sides.append(side)
            return sides

    network = Hed()
    network.load_state_dict(state)
    return network.eval()


def hed_edges(path: Path, image: np.ndarray, device: Any = "cpu", allow_unsafe_pickle: bool = False) -> np.ndarray:
    import cv2
    import torch

    from modules.models.statedict import open_state_dict

    state_file = open_state_dict(path, allow_unsafe_pickle)
    try:
        state = state_file.read(state_file.keys(), lambda key: torch.float32)
    finally:
        state_file.close()
    network = _hed_network(state).to(device)
    height, width = image.shape[:2]
    with torch.no_grad():
        tensor = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].to(device)
        sides = [side[0, 0].float().cpu().numpy() for side in network(tensor)]
    sides = [cv2.resize(side, (width, height), interpolation=cv2.INTER_LINEAR) for side in sides]
    edge = 1.0 / (1.0 + np.exp(-np.mean(np.stack(sides, axis=2), axis=2)))
    return np.repeat((edge * 255.0).clip(0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
