"""Textual-inversion embeddings from the embeddings folder, usable in prompts by file name.

Accepted forms (A1111 ``textual_inversion.py``): A1111's ``.pt`` with ``string_to_param``, ``.safetensors``
with ``emb_params``, diffusers' one-key ``.bin``, and SDXL files holding ``clip_l`` and ``clip_g``. A file is
usable with a model when its vector width matches the model's text encoder (768 SD 1.x, 1024 SD 2.x,
768 + 1280 SDXL); the others are listed as skipped with the reason. Files are read through the safe loader,
and the folder is rescanned when a file is added, removed or changed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.models.errors import ModelLoadError
from modules.models.safe_text import printable_name
from modules.models.statedict import load_pickle, open_state_dict

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EMBEDDING_SUFFIXES = (".pt", ".bin", ".safetensors")


@dataclasses.dataclass(eq=False)
class Embedding:
    """One embedding: its vectors per text encoder (``"*"`` when it fits any single-encoder model)."""

    name: str
    path: Path
    vectors: dict[str, torch.Tensor]  # encoder name (clip_l / clip_g) or "*" -> [count, width]
    shorthash: str | None = None

    @property
    def count(self) -> int:
        return next(iter(self.vectors.values())).shape[0]

    def widths(self) -> dict[str, int]:
        return {name: tensor.shape[-1] for name, tensor in self.vectors.items()}

    def vectors_for(self, encoder: str) -> torch.Tensor:
        return self.vectors.get(encoder, self.vectors.get("*"))

    def fits(self, encoder_widths: dict[str, int]) -> bool:
        if "*" in self.vectors:
            return len(encoder_widths) == 1 and next(iter(encoder_widths.values())) == self.vectors["*"].shape[-1]
        return set(self.vectors) == set(encoder_widths) and all(
            self.vectors[name].shape[-1] == width for name, width in encoder_widths.items()
        )


def parse_embedding(data: Any, path: Path) -> dict[str, torch.Tensor]:
    """Vectors of an embedding file's content, in any of the accepted forms; ValueError otherwise."""
    import torch

    if not isinstance(data, dict):
        raise ValueError("not a dict")
    if "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        if len(params) != 1:
            raise ValueError("holds several terms")
        vectors = {"*": next(iter(params.values()))}
    elif "emb_params" in data:
        vectors = {"*": data["emb_params"]}
    elif "clip_l" in data and "clip_g" in data:
        vectors = {"clip_l": data["clip_l"], "clip_g": data["clip_g"]}
    else:
        tensors = [value for value in data.values() if isinstance(value, torch.Tensor)]
        if len(tensors) != 1:
            raise ValueError("no embedding vectors found")
        vectors = {"*": tensors[0]}
    out = {}
    for name, tensor in vectors.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise ValueError("vectors are not a float tensor")
        tensor = tensor.detach().float()
        out[name] = tensor.unsqueeze(0) if tensor.ndim == 1 else tensor.reshape(-1, tensor.shape[-1])
    return out


def read_embedding_file(path: Path, allow_unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        state_file = open_state_dict(path)
        data: Any = state_file.read(state_file.keys(), lambda key: None)
    else:
        data = load_pickle(path, allow_unsafe_pickle, mmap=False)
    return parse_embedding(data, path)


def _mtime_size(path: Path) -> tuple[float, int]:
    try:
        info = path.stat()
    except OSError:  # removed since the scan
        return 0.0, -1
    return info.st_mtime, info.st_size


class EmbeddingDatabase:
    """All embeddings of one folder, reloaded when the folder's files change."""

    def __init__(self, directory: Path | None, allow_unsafe_pickle: bool = False) -> None:
        self.directory = Path(directory) if directory else None
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self.embeddings: dict[str, Embedding] = {}
        self.skipped: dict[str, str] = {}  # name -> reason
        self.version = 0
        self._stamp: tuple = ()
        self._lock = threading.Lock()

    def _files(self) -> list[Path]:
        from modules.models.folder_scan import scan_files

        if self.directory is None:
            return []
        return scan_files(self.directory, EMBEDDING_SUFFIXES).files

    def refresh(self, force: bool = False) -> None:
        """Reload when files were added, removed or modified (cheap stat of the folder otherwise)."""
        with self._lock:
            files = self._files()
            stamp = tuple((str(p), *_mtime_size(p)) for p in files)
            if stamp == self._stamp and not force:
                return
            embeddings: dict[str, Embedding] = {}
            skipped: dict[str, str] = {}
            for path in files:
                name = printable_name(path.stem)
                try:
                    embeddings[name] = Embedding(name, path, read_embedding_file(path, self.allow_unsafe_pickle))
                except ModelLoadError as error:
                    skipped[name] = str(error)
                    log.warning("Embedding skipped: %s", error)
                except Exception as error:  # untrusted file: any library error means "not an embedding"
                    skipped[name] = str(ModelLoadError(path, f"is not a usable embedding ({error})"))
                    log.warning("Embedding skipped: %s", skipped[name])
            self.embeddings, self.skipped, self._stamp = embeddings, skipped, stamp
            self.version += 1

    def compatible(self, encoder_widths: dict[str, int]) -> dict[str, Embedding]:
        """Embeddings usable with a model whose text encoders have these widths."""
        return {name: e for name, e in self.embeddings.items() if e.fits(encoder_widths)}

    def get(self, name: str) -> Embedding | None:
        self.refresh()
        return self.embeddings.get(name)
