"""Face restoration (A1111's GFPGAN and CodeFormer) from user-placed weights, recognised by spandrel.

As in A1111: faces are found by RetinaFace (``retinaface``, A1111's ``detection_Resnet50_Final.pth``, which
A1111's facexlib keeps in the restorer's folder), each is aligned on its five landmarks to the 512x512 FFHQ
crop the networks were trained on, restored (RGB scaled to [-1, 1]) and warped back with a soft-edged mask.
Differences: facexlib's face-parsing mask (``parsing_parsenet.pth``) is not used; the pasted area is the
aligned square with a blurred border.

Model files: the first spandrel-recognised file in models/Codeformer or models/GFPGAN (A1111's folders),
preferring names that contain the restorer's name (``codeformer-v0.1.0.pth``, ``GFPGANv1.4.pth``). A
missing file (restorer or detector) is a ``ModelLoadError`` naming it; nothing is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from modules.models.errors import ModelLoadError
from modules.models.folder_scan import scan_files
from modules.models.safe_text import printable_name

log = logging.getLogger(__name__)

FACE_SIZE = 512  # both networks take and give 512x512 aligned faces
# facexlib's five-point FFHQ template for 512x512 crops: eyes, nose tip, mouth corners.
FFHQ_TEMPLATE_512 = (
    (192.98138, 239.94708),
    (318.90277, 240.1936),
    (256.63416, 314.01935),
    (201.26117, 371.41043),
    (313.08905, 371.15118),
)
MODEL_EXTENSIONS = (".pth", ".pt", ".safetensors")
HELPER_FILES = ("detection_resnet50_final.pth", "parsing_parsenet.pth")  # facexlib's, kept beside the models


@dataclasses.dataclass(frozen=True)
class RestorerKind:
    """One face restorer as A1111 names it, its folder under models/ and the file A1111 downloads."""

    name: str
    folder: str
    usual_file: str


RESTORERS: tuple[RestorerKind, ...] = (
    RestorerKind("CodeFormer", "Codeformer", "codeformer-v0.1.0.pth"),
    RestorerKind("GFPGAN", "GFPGAN", "GFPGANv1.4.pth"),
)


def _soft_mask() -> Any:
    """A 512x512 weight that is 1 inside and fades to 0 over the crop's border (no visible seam)."""
    import cv2
    import numpy as np

    mask = np.zeros((FACE_SIZE, FACE_SIZE), np.float32)
    mask[24:-24, 24:-24] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), 10)


def align_restore_paste(
    image: Image.Image, landmarks: Sequence[Any], restore_face: Callable[[Image.Image], Image.Image]
) -> Image.Image:
    """For each face's 5x2 landmarks: align to the FFHQ crop, ``restore_face`` it, warp it back and blend."""
    import cv2
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    result = rgb.astype(np.float32)
    template = np.array(FFHQ_TEMPLATE_512, np.float32)
    for points in landmarks:
        matrix, _ = cv2.estimateAffinePartial2D(np.asarray(points, np.float32), template, method=cv2.LMEDS)
        if matrix is None:  # degenerate landmarks: leave this face as it is
            continue
        face = cv2.warpAffine(rgb, matrix, (FACE_SIZE, FACE_SIZE), borderValue=(135, 133, 132))
        restored = np.asarray(restore_face(Image.fromarray(face)).convert("RGB"), np.float32)
        inverse = cv2.invertAffineTransform(matrix)
        back = cv2.warpAffine(restored, inverse, (width, height))
        mask = cv2.warpAffine(_soft_mask(), inverse, (width, height))[:, :, None]
        result = result * (1 - mask) + back * mask
    return Image.fromarray(np.clip(result.round(), 0, 255).astype(np.uint8), "RGB")


class FaceRestorers:
    """A1111's face restorers by name; finds their files, keeps one network loaded, restores images.

    ``settings`` (anything with ``get``) is read for ``code_former_weight`` when a call gives no weight.
    """

    def __init__(self, models_dir: Path, *, settings: Any = None, device: Any = "cpu") -> None:
        self.models_dir = Path(models_dir)
        self.settings = settings
        self.device = device
        self._lock = threading.Lock()
        self._loaded: tuple[Path, Any] | None = None
        self._detector: tuple[tuple[Path, int, int], Any] | None = None

    def names(self) -> list[str]:
        return [kind.name for kind in RESTORERS]

    def folders(self) -> list[tuple[str, Path]]:
        """(name, folder) pairs: what ``/sdapi/v1/face-restorers`` lists as ``cmd_dir``."""
        return [(kind.name, self.models_dir / kind.folder) for kind in RESTORERS]

    def kind(self, name: str) -> RestorerKind:
        for kind in RESTORERS:
            if kind.name.lower() == str(name).lower():
                return kind
        raise ValueError(f"unknown face restoration model {name!r}; known: {', '.join(self.names())}")

    def model_file(self, name: str) -> Path:
        """The file a restorer would use; ModelLoadError naming the folder and A1111's file when none is there."""
        kind = self.kind(name)
        folder = self.models_dir / kind.folder
        files = sorted(scan_files(folder, MODEL_EXTENSIONS).files, key=lambda p: str(p).lower())
        files = [path for path in files if path.name.lower() not in HELPER_FILES]
        preferred = [path for path in files if kind.name.lower() in path.name.lower()]
        if preferred or files:
            return (preferred or files)[0]
        raise ModelLoadError(
            folder,
            f"{kind.name} face restoration needs a model file here (A1111 uses {kind.usual_file}); "
            "place it in this folder: weights are never downloaded",
        )

    def detector_file(self, name: str) -> Path:
        """A1111 keeps facexlib's detector in the restorer's folder; the other restorer's folder also counts."""
        from modules.upscaling.retinaface import DETECTOR_FILE

        own = self.models_dir / self.kind(name).folder
        for folder in (own, *(self.models_dir / kind.folder for kind in RESTORERS)):
            if (folder / DETECTOR_FILE).is_file():
                return folder / DETECTOR_FILE
        return own / DETECTOR_FILE

    def face_finder(self) -> Callable[[Image.Image], list[tuple[float, float, float, float]]] | None:
        """Face boxes from RetinaFace for the focal crop, or None when no detector file is placed."""
        import numpy as np

        from modules.upscaling.retinaface import detect

        path = self.detector_file(RESTORERS[0].name)
        if not path.is_file():
            return None

        def find(image: Image.Image) -> list[tuple[float, float, float, float]]:
            with self._lock:
                faces = detect(self._face_detector(path), np.asarray(image.convert("RGB")))
            return [tuple(float(v) for v in box) for box, _points, _score in faces]  # type: ignore[misc]

        return find

    def require_files(self, name: str) -> None:
        """ModelLoadError naming the first missing file (restorer, then detector); checked before a job."""
        from modules.upscaling.retinaface import DETECTOR_FILE

        self.model_file(name)
        detector = self.detector_file(name)
        if not detector.is_file():
            raise ModelLoadError(
                detector, f"is missing: faces are found with RetinaFace; place A1111's {DETECTOR_FILE} here"
            )

    def restore(self, image: Image.Image, name: str, *, codeformer_weight: float | None = None) -> Image.Image:
        """``image`` with every detected face restored by ``name``; unchanged (RGB) when no face is found.

        A missing restorer or detector file is an error even when the image has no face."""
        import numpy as np

        path = self.model_file(name)
        if codeformer_weight is None:
            codeformer_weight = float(self._setting("code_former_weight", 0.5))
        with self._lock:
            from modules.upscaling.retinaface import detect

            try:
                faces = detect(self._face_detector(self.detector_file(name)), np.asarray(image.convert("RGB")))
                log.info("Face restoration (%s): %d face(s) found", name, len(faces))
                if not faces:
                    return image.convert("RGB")
                network = self._network(path, self.kind(name))
                landmarks = [points for _box, points, _score in faces]
                return align_restore_paste(image, landmarks, lambda face: _run(network, face, codeformer_weight))
            finally:
                if self._setting("face_restoration_unload", False):  # free the device for the next generation
                    for held in (self._loaded, self._detector):
                        if held is not None:
                            held[1].to("cpu")

    def _face_detector(self, path: Path) -> Any:
        from modules.upscaling.retinaface import load_detector

        stat = path.stat() if path.is_file() else None
        key = (path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
        if self._detector is None or self._detector[0] != key:
            self._detector = (key, load_detector(path))
        return self._detector[1].to(self.device)  # back from RAM if face_restoration_unload moved it

    def _network(self, path: Path, kind: RestorerKind) -> Any:
        from modules.upscaling.spandrel_loader import load_descriptor

        if self._loaded is None or self._loaded[0] != path:
            log.info("Loading %s face restorer from %s", kind.name, printable_name(path))
            descriptor = load_descriptor(path)
            if descriptor.architecture.id != kind.name:
                raise ModelLoadError(path, f"is a {descriptor.architecture.name} network, not {kind.name}")
            self._loaded = (path, descriptor.model)
        return self._loaded[1].to(self.device)

    def unload(self) -> None:
        with self._lock:
            self._loaded = None
            self._detector = None

    def _setting(self, key: str, default: Any) -> Any:
        return default if self.settings is None else self.settings.get(key, default)


def _run(network: Any, face: Image.Image, codeformer_weight: float) -> Image.Image:
    import numpy as np
    import torch

    param = next(network.parameters())
    array = np.asarray(face.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    tensor = torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0).to(param.device, param.dtype)
    with torch.inference_mode():
        if type(network).__name__ == "CodeFormer":
            out = network(tensor, weight=codeformer_weight, adain=True)[0]
        else:
            out = network(tensor, return_rgb=False)[0]
    out = ((out[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(out.transpose(1, 2, 0)), "RGB")


def restore_if_asked(
    restorers: FaceRestorers, settings: Any, restore_faces: bool | None, image: Image.Image
) -> Image.Image:
    """txt2img/img2img: restore with ``face_restoration_model`` when asked (None: the ``face_restoration`` setting)."""
    if not wants_restoration(settings, restore_faces):
        return image
    name = settings.get("face_restoration_model") or "CodeFormer"
    return restorers.restore(image, name, codeformer_weight=settings.get("code_former_weight"))


def wants_restoration(settings: Any, restore_faces: bool | None) -> bool:
    return bool(settings.get("face_restoration") if restore_faces is None else restore_faces)
