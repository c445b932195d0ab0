"""The upscalers users pick by name: A1111's list (None, Lanczos, Nearest, model files) and latent modes.

A1111 keeps ``shared.sd_upscalers`` as a global rebuilt at startup; here one ``UpscalerRegistry`` object
holds the list (scanned lazily, rescanned on ``refresh``) and the one loaded network, and is passed to
whoever upscales (hires fix, img2img resize, Extras, the API). Model files are listed from A1111's folders
(``UPSCALER_FOLDERS`` under models/) and recognised by spandrel when used (``spandrel_loader``): ESRGAN,
Real-ESRGAN, SwinIR, DAT, HAT, SCUNet and every other architecture spandrel knows. Importing this module is
cheap: torch and spandrel are imported when a model or a latent is touched.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.models.folder_scan import scan_files
from modules.models.safe_text import printable_name

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MODEL_EXTENSIONS = (".pth", ".pt", ".safetensors")
# A1111's upscaler model folders under models/ (its Upscaler subclasses' model_path names).
UPSCALER_FOLDERS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "ScuNET", "Spandrel")
RESAMPLERS: Mapping[str, Image.Resampling] = MappingProxyType(
    {"Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}
)
# A1111 shared.latent_upscale_modes: name -> (torch interpolate mode, antialias).
LATENT_UPSCALE_MODES: Mapping[str, tuple[str, bool]] = MappingProxyType(
    {
        "Latent": ("bilinear", False),
        "Latent (antialiased)": ("bilinear", True),
        "Latent (bicubic)": ("bicubic", False),
        "Latent (bicubic antialiased)": ("bicubic", True),
        "Latent (nearest)": ("nearest", False),
        "Latent (nearest-exact)": ("nearest-exact", False),
    }
)
DEFAULT_TILE, DEFAULT_TILE_OVERLAP = 192, 8
MAX_PASSES = 3  # a 4x network reaches 8x in two passes; A1111 stops after three


def latent_upscale(latents: torch.Tensor, mode: str, width: int, height: int, factor: int = 8) -> torch.Tensor:
    """Resize (B, C, h, w) latents for a width x height *image* (latent size = image size // factor)."""
    import torch.nn.functional as F

    if mode not in LATENT_UPSCALE_MODES:
        raise ValueError(f"unknown latent upscale mode {mode!r}; known: {', '.join(LATENT_UPSCALE_MODES)}")
    interpolation, antialias = LATENT_UPSCALE_MODES[mode]
    size = (int(height) // factor, int(width) // factor)
    return F.interpolate(latents, size=size, mode=interpolation, antialias=antialias)


@dataclasses.dataclass(frozen=True)
class UpscalerInfo:
    """One entry of the upscaler list. ``kind``: "none", "resample" (PIL filter) or "model" (a file)."""

    name: str
    kind: str
    path: Path | None = None
    scale: int = 4  # nominal factor (A1111 reports 4 unless the file name says otherwise)


def extra_upscaler_dirs(models_dir: Path) -> tuple[Path, ...]:
    """A1111's upscaler folders besides models/ESRGAN (which ``Paths.esrgan`` names)."""
    return tuple(Path(models_dir) / name for name in UPSCALER_FOLDERS if name != "ESRGAN")


def _nominal_scale(stem: str) -> int:
    match = re.search(r"(?<![0-9])([1-8])x|x([1-8])(?![0-9])", stem, re.IGNORECASE)
    return int(match.group(1) or match.group(2)) if match else 4


class UpscalerRegistry:
    """Lists upscalers by A1111 name and runs them on PIL images.

    ``settings`` (anything with ``get(key, default)``) is read at each call for ``ESRGAN_tile`` and
    ``ESRGAN_tile_overlap``. ``device``/``dtype`` are where networks run unless a call says otherwise.
    """

    def __init__(
        self,
        esrgan_dir: Path,
        *,
        extra_dirs: Sequence[Path] = (),
        settings: Any = None,
        device: Any = "cpu",
        dtype: Any = None,
    ) -> None:
        self.model_dirs = (Path(esrgan_dir), *(Path(d) for d in extra_dirs))
        self.settings = settings
        self.device = device
        self.dtype = dtype
        self._list_lock = threading.RLock()
        self._model_lock = threading.Lock()  # one network in memory and one run at a time
        self._entries: dict[str, UpscalerInfo] | None = None
        self._loaded: tuple[tuple[Path, str, Any], Any] | None = None  # (path, device, dtype), module

    # ------------------------------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Rescan the model folders (the UI's refresh button)."""
        entries = {
            "None": UpscalerInfo("None", "none"),
            **{name: UpscalerInfo(name, "resample") for name in RESAMPLERS},
        }
        for folder in self.model_dirs:
            for path in sorted(scan_files(folder, tuple(MODEL_EXTENSIONS)).files, key=lambda p: str(p).lower()):
                name = printable_name(path.stem)  # shown in dropdowns and JSON: never lone surrogates
                if name in entries:
                    log.warning("Upscaler %s ignored: the name %r is already taken", printable_name(path), name)
                    continue
                entries[name] = UpscalerInfo(name, "model", path, _nominal_scale(name))
        with self._list_lock:
            self._entries = entries

    def list(self) -> list[UpscalerInfo]:
        with self._list_lock:
            if self._entries is None:
                self.refresh()
            assert self._entries is not None
            return list(self._entries.values())

    def names(self) -> list[str]:
        """Image upscaler names in A1111 order: None, Lanczos, Nearest, then model files."""
        return [entry.name for entry in self.list()]

    @staticmethod
    def latent_modes() -> list[str]:
        return list(LATENT_UPSCALE_MODES)

    def hires_upscaler_names(self) -> list[str]:
        """The hires-fix dropdown: latent modes first, then image upscalers (as A1111)."""
        return [*LATENT_UPSCALE_MODES, *self.names()]

    def get(self, name: str) -> UpscalerInfo:
        for entry in self.list():
            if entry.name == name:
                return entry
        if name in LATENT_UPSCALE_MODES:
            raise ValueError(f"{name!r} is a latent upscale mode; use latent_upscale() on latents")
        raise KeyError(f"could not find upscaler named {name!r}")

    # ---------------------------------------------------------------------------------------- upscaling

    def scaler(self, name: str | None) -> Callable[[Image.Image, float], Image.Image] | None:
        """A scale function for ``images.ops.resize_image``; None for "None"/empty (plain Lanczos)."""
        if not name or name == "None":
            return None
        self.get(name)  # fail early on unknown names
        return lambda image, scale: self.upscale(image, name, scale)

    def upscale(
        self,
        image: Image.Image,
        name: str,
        scale: float | tuple[int, int],
        *,
        device: Any = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Image.Image:
        """Upscale with the named upscaler.

        A float ``scale`` follows A1111's ``Upscaler.upscale``: the target is the scaled size rounded down to
        a multiple of 8, the upscaler runs (up to three passes) until it covers it, then Lanczos fits it
        exactly. A ``(width, height)`` target is reached exactly (Lanczos after the network passes).
        """
        entry = self.get(name)
        if isinstance(scale, tuple):
            dest_w, dest_h = int(scale[0]), int(scale[1])
            factor = max(dest_w / image.width, dest_h / image.height)
        else:
            factor = float(scale)
            dest_w = int(image.width * factor // 8 * 8) or max(1, round(image.width * factor))
            dest_h = int(image.height * factor // 8 * 8) or max(1, round(image.height * factor))
        if entry.kind == "resample":
            size = (dest_w, dest_h)
            if not isinstance(scale, tuple):  # A1111 resamples by the exact factor, then fits the /8 size
                size = (int(image.width * factor), int(image.height * factor))
            image = image.resize(size, resample=RESAMPLERS[entry.name])
        elif entry.kind == "model":  # runs at least once, so 1x (restoration) models apply at scale 1
            image = self._run_model(entry, image, dest_w, dest_h, device, progress)
        if image.size != (dest_w, dest_h):
            image = image.resize((dest_w, dest_h), resample=Image.Resampling.LANCZOS)
        return image

    def _run_model(
        self,
        entry: UpscalerInfo,
        image: Image.Image,
        dest_w: int,
        dest_h: int,
        device: Any,
        progress: Callable[[int, int], None] | None,
    ) -> Image.Image:
        tile = int(self._setting("ESRGAN_tile", DEFAULT_TILE))
        overlap = int(self._setting("ESRGAN_tile_overlap", DEFAULT_TILE_OVERLAP))
        with self._model_lock:
            model = self._model(entry, device if device is not None else self.device)
            for _ in range(MAX_PASSES):
                before = image.size
                image = _run_network(model, image, tile, overlap, progress, f"Upscaling with {entry.name}")
                if image.size == before or (image.width >= dest_w and image.height >= dest_h):
                    break
        return image

    def _model(self, entry: UpscalerInfo, device: Any) -> Any:
        import torch

        from modules.models.errors import ModelLoadError
        from modules.upscaling.spandrel_loader import load_descriptor

        assert entry.path is not None
        dtype = self.dtype or torch.float32
        key = (entry.path, str(device), dtype)
        if self._loaded is None or self._loaded[0] != key:
            # the previous network stays until the new one is built: a file that fails changes nothing
            log.info("Loading upscaler %s from %s", entry.name, printable_name(entry.path))
            descriptor = load_descriptor(entry.path)
            if descriptor.purpose == "FaceSR":
                raise ModelLoadError(
                    entry.path, "is a face restoration model; place it in models/GFPGAN or models/Codeformer"
                )
            if dtype == torch.float16 and not descriptor.supports_half:
                dtype = torch.float32
            self._loaded = (key, descriptor.model.to(device=device, dtype=dtype))
        return self._loaded[1]

    def unload(self) -> None:
        """Free the loaded network (memory manager, model switch)."""
        with self._model_lock:
            self._loaded = None

    def _setting(self, key: str, default: Any) -> Any:
        return default if self.settings is None else self.settings.get(key, default)


def _run_network(
    model: Any,
    image: Image.Image,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None,
    desc: str,
) -> Image.Image:
    """PIL -> BGR float tensor -> tiled network -> PIL. BGR, as A1111 has always fed ESRGAN models."""
    import numpy as np
    import torch

    from modules.upscaling.tiling import upscale_tensor

    param = next(model.parameters())
    array = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1].transpose(2, 0, 1))
    tensor = torch.from_numpy(array).to(device=param.device, dtype=param.dtype).div_(255).unsqueeze(0)
    out = upscale_tensor(model, tensor, tile, overlap, progress, desc)
    out = out[0].clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(out.transpose(1, 2, 0)[:, :, ::-1]), "RGB")
