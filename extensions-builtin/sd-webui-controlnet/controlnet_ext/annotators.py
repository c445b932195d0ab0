"""Preprocessors that need weight files ("annotators"), looked up in the annotator folder — never downloaded.

The folder is ``--controlnet-annotator-models-path``, else the setting ``control_net_modules_path``, else the
extension's ``annotator/downloads`` (A1111's layout: ``<folder>/hed/ControlNetHED.pth`` ...). A preprocessor
is listed only when all its files are there; asking for one whose file is missing gives a message naming the
file to put where.

Each network lives in its own module ``controlnet_ext.annotator_<name>`` with two functions:
``build(weights, state) -> nn.Module`` (the network for one file, from its float32 tensors, strict) and
``detect(networks, image, threshold_a, threshold_b, **options) -> HxWx3 uint8`` (``image`` is already at the
processor resolution; the map has the same size). Files are read through the program's safe loader
(pickles cannot run code) and built networks are kept in an ``AnnotatorCache`` owned by the service.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from controlnet_ext.imageops import resize_short_side
from controlnet_ext.preprocessors import Preprocessor, Slider

log = logging.getLogger(__name__)


class AnnotatorUnavailable(ValueError):
    """A weight-needing preprocessor that cannot run: unknown, or a file missing or unusable."""


@dataclasses.dataclass(frozen=True)
class Annotator:
    name: str
    module: str  # "hed" -> controlnet_ext.annotator_hed
    weights: tuple[str, ...]  # relative to the annotator folder, handed to detect in this order
    threshold_a: Slider | None = None
    threshold_b: Slider | None = None
    line_map: bool = False
    options: tuple[tuple[str, Any], ...] = ()  # keyword arguments for detect


_BODY, _HAND, _FACE = "openpose/body_pose_model.pth", "openpose/hand_pose_model.pth", "openpose/facenet.pth"
_HED, _MIDAS = "hed/ControlNetHED.pth", "midas/dpt_hybrid-midas-501f0c75.pt"

ANNOTATORS = (
    Annotator("softedge_hed", "hed", (_HED,), line_map=True),
    Annotator("softedge_hedsafe", "hed", (_HED,), line_map=True, options=(("safe", True),)),
    Annotator("scribble_hed", "hed", (_HED,), line_map=True, options=(("scribble", True),)),
    Annotator("openpose", "openpose", (_BODY,), line_map=True, options=(("hands", False), ("face", False))),
    Annotator("openpose_hand", "openpose", (_BODY, _HAND), line_map=True, options=(("hands", True), ("face", False))),
    Annotator("openpose_face", "openpose", (_BODY, _FACE), line_map=True, options=(("hands", False), ("face", True))),
    Annotator(
        "openpose_faceonly", "openpose", (_BODY, _FACE), line_map=True, options=(("body", False), ("face", True))
    ),
    Annotator(
        "openpose_full", "openpose", (_BODY, _HAND, _FACE), line_map=True, options=(("hands", True), ("face", True))
    ),
    Annotator("depth_midas", "midas", (_MIDAS,)),
    Annotator(
        "normal_midas",
        "midas",
        (_MIDAS,),
        threshold_a=Slider("Normal Background Threshold", 0.4, 0.0, 1.0, 0.01),
        options=(("normal", True),),
    ),
    Annotator(
        "mlsd",
        "mlsd",
        ("mlsd/mlsd_large_512_fp32.pth",),
        threshold_a=Slider("MLSD Value Threshold", 0.1, 0.01, 2.0, 0.01),
        threshold_b=Slider("MLSD Distance Threshold", 0.1, 0.01, 20.0, 0.01),
        line_map=True,
    ),
    Annotator("seg_ufade20k", "uniformer", ("uniformer/upernet_global_small.pth",)),
    Annotator("normal_bae", "normal_bae", ("normal_bae/scannet.pt",)),
)
ALIASES = {"hed": "softedge_hed", "depth": "depth_midas", "normal_map": "normal_midas", "segmentation": "seg_ufade20k"}

# Preprocessors of A1111's ControlNet extension that this build does not run, with the closest one it does
# (named in the error, so an API client or a pasted infotext gets an answer it can act on).
NOT_IN_THIS_BUILD = {
    "seg_ofade20k": "seg_ufade20k",
    "seg_ofcoco": "seg_ufade20k",
    "seg_anime_face": "seg_ufade20k",
    "depth_leres": "depth_midas",
    "depth_leres++": "depth_midas",
    "depth_zoe": "depth_midas",
    "depth_anything": "depth_midas",
    "depth_anything_v2": "depth_midas",
    "depth_hand_refiner": "depth_midas",
    "normal_dsine": "normal_bae",
    "dw_openpose_full": "openpose_full",
    "animal_openpose": "openpose",
    "densepose": "openpose",
    "densepose_parula": "openpose",
    "mediapipe_face": "openpose_faceonly",
    "softedge_pidinet": "softedge_hed",
    "softedge_pidisafe": "softedge_hedsafe",
    "softedge_teed": "softedge_hed",
    "softedge_anyline": "softedge_hed",
    "scribble_pidinet": "scribble_hed",
    "t2ia_sketch_pidi": "scribble_hed",
    "lineart_realistic": "lineart_standard",
    "lineart_coarse": "lineart_standard",
    "lineart_anime": "lineart_standard",
    "lineart_anime_denoise": "lineart_standard",
    "inpaint_only+lama": "inpaint_only",
    "tile_colorfix": "tile_resample",
    "tile_colorfix+sharp": "tile_resample",
}


def find(name: str) -> Annotator | None:
    name = ALIASES.get(name.lower(), name.lower())
    return next((a for a in ANNOTATORS if a.name == name), None)


def available(folder: Path, cache: AnnotatorCache) -> list[Preprocessor]:
    """Preprocessors whose weight files are all present."""
    return [_preprocessor(a, folder, cache) for a in ANNOTATORS if all((folder / w).is_file() for w in a.weights)]


def require(name: str, folder: Path, cache: AnnotatorCache) -> Preprocessor:
    annotator = find(name)
    if annotator is None:
        raise AnnotatorUnavailable(f"unknown preprocessor {name!r}")
    for weights in annotator.weights:
        path = folder / weights
        if not path.is_file():
            raise AnnotatorUnavailable(
                f"preprocessor {annotator.name} needs the weight file {weights} in "
                f"{folder} (missing: {path}); nothing is downloaded, copy it there"
            )
    return _preprocessor(annotator, folder, cache)


def _preprocessor(annotator: Annotator, folder: Path, cache: AnnotatorCache) -> Preprocessor:
    def run(image: np.ndarray, res: int, a: float, b: float, extra: dict[str, Any]) -> np.ndarray:
        import torch

        module = importlib.import_module(f"controlnet_ext.annotator_{annotator.module}")
        device = extra.get("device", "cpu")
        unsafe = bool(extra.get("allow_unsafe_pickle", False))
        networks = [cache.network(module, folder / w, w, device, unsafe) for w in annotator.weights]
        try:
            with torch.inference_mode():
                return module.detect(networks, resize_short_side(image, res), a, b, **dict(annotator.options))
        finally:
            if extra.get("offload"):  # --medvram/--lowvram: the GPU memory goes back to the checkpoint
                for network in networks:
                    network.to("cpu")

    return Preprocessor(
        annotator.name,
        run,
        threshold_a=annotator.threshold_a,
        threshold_b=annotator.threshold_b,
        line_map=annotator.line_map,
        weights=annotator.weights,
    )


class AnnotatorCache:
    """Built annotator networks by (file, its size and time); the least recently used go first. A network is
    moved to the device asked for when it is handed out (a no-op when it is already there)."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self._networks: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def network(self, module: Any, path: Path, weights: str, device: Any, allow_unsafe_pickle: bool) -> Any:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._networks:
                self._networks.move_to_end(key)
                return self._networks[key].to(device)
            state = read_weights(path, allow_unsafe_pickle)
            try:
                network = module.build(weights, state)
            except (RuntimeError, KeyError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise AnnotatorUnavailable(f"{path} is not the expected {weights} network: {first}") from error
            network = network.eval().requires_grad_(False).to(device)
            self._networks[key] = network
            while len(self._networks) > self.size:
                self._networks.popitem(last=False)
            return network

    def clear(self) -> None:
        with self._lock:
            self._networks.clear()


def read_weights(path: Path, allow_unsafe_pickle: bool = False) -> dict[str, Any]:
    """float32 tensors of an annotator file; ``{"model": ...}`` / ``{"state_dict": ...}`` wrappers removed."""
    import torch

    from modules.extension_api import ModelLoadError, open_state_dict, unwrap_state_dict

    try:
        state_file = open_state_dict(path, allow_unsafe_pickle)
        try:
            if not state_file.keys() and isinstance(getattr(state_file, "raw", None), dict):
                inner = state_file.raw.get("model")
                tensors = unwrap_state_dict(inner)
                return {
                    k: v.to(torch.float32 if v.is_floating_point() else v.dtype, copy=True) for k, v in tensors.items()
                }
            return state_file.read(state_file.keys(), lambda key: torch.float32)
        finally:
            state_file.close()
    except ModelLoadError as error:
        raise AnnotatorUnavailable(str(error)) from error
