"""Add-on networks: LoRA files, hypernetworks and the textual-inversion embeddings folder.

The ``ModelManager`` owns one ``NetworkLibrary`` and delegates its LoRA and embedding methods to it. LoRA
files are listed with their training metadata (``ss_output_name`` gives A1111's alias), parsed on first use
and kept parsed for the next generations (a few files, keyed by path and mtime).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from modules.models.embeddings import Embedding, EmbeddingDatabase
from modules.models.hashing import HashCache
from modules.models.safe_text import printable_name

log = logging.getLogger(__name__)

PARSED_LORAS_KEPT = 8


@dataclasses.dataclass(eq=False)
class LoraInfo:
    """A LoRA file in the Lora folder; ``name`` (the file stem) or ``alias`` is what ``<lora:name:1>`` uses."""

    name: str
    path: Path
    alias: str
    metadata: dict[str, str]


@dataclasses.dataclass(eq=False)
class HypernetInfo:
    """A ``.pt`` file of the hypernetworks folder; ``<hypernet:name:strength>`` names it by file stem."""

    name: str
    path: Path


def scan_hypernetworks(folder: Path | None) -> list[HypernetInfo]:
    """The hypernetworks of ``folder`` (no file opened), named by file stem as A1111 does."""
    from modules.models.hypernetwork import find_hypernetwork_files

    return [HypernetInfo(printable_name(path.stem), path) for path in find_hypernetwork_files(folder)]


class NetworkLibrary:
    """Lists, hashes, parses and applies LoRAs; holds the embeddings database."""

    def __init__(self, paths: Any, hashes: HashCache, flags: Any, allow_unsafe_pickle: bool = False) -> None:
        self.lora_dir = getattr(paths, "lora", None)
        self.hypernet_dir = getattr(paths, "hypernetworks", None)
        self.allow_unsafe_pickle = allow_unsafe_pickle
        self.hashes = hashes
        self.no_hashing = bool(getattr(flags, "no_hashing", False))
        self.embedding_db = EmbeddingDatabase(getattr(paths, "embeddings", None), allow_unsafe_pickle)
        self._loras: list[LoraInfo] | None = None
        self._parsed: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._hypernets: list[HypernetInfo] | None = None

    def refresh(self) -> None:
        self._loras = None
        self._hypernets = None

    def loras(self) -> list[LoraInfo]:
        if self._loras is None:
            from modules.models.lora import find_lora_files, lora_alias
            from modules.models.statedict import read_safetensors_metadata

            infos = []
            for path in find_lora_files(self.lora_dir):
                metadata = read_safetensors_metadata(path) if path.suffix == ".safetensors" else {}
                name = printable_name(path.stem)
                infos.append(LoraInfo(name, path, printable_name(lora_alias(path, metadata)), metadata))
            self._loras = infos
        return list(self._loras)

    def find_lora(self, name: str) -> LoraInfo | None:
        for attempt in range(2):
            infos = self.loras()
            for attr in ("name", "alias"):
                for info in infos:
                    if getattr(info, attr) == name:
                        return info
            if attempt == 0:
                self.refresh()  # a file added since the last scan
        return None

    def _short_hash(self, path: Path, kind: str, digits: int = 12) -> str | None:
        cached = self.hashes.cached(path, kind)
        if cached is None and self.no_hashing:
            return None
        return (cached or self.hashes.get(path, kind))[:digits]

    def lora_hash(self, name: str) -> str | None:
        """A1111 1.10's ``Lora hashes`` value: addnet hash for .safetensors (sha256 otherwise), 12 hex digits."""
        info = self.find_lora(name)
        if info is None:
            return None
        return self._short_hash(info.path, "addnet" if info.path.suffix == ".safetensors" else "sha256")

    def network(self, info: LoraInfo) -> Any:
        """The parsed ``LoraNetwork`` of ``info`` (cached by path and mtime)."""
        from modules.models.lora import load_lora

        return self._cached_parse(info.path, lambda: load_lora(info.path, info.name))

    @contextlib.contextmanager
    def lora_patch(self, model: Any, entries: Sequence[tuple]) -> Iterator[Any]:
        """Apply ``[(name, weight)]`` / ``[(name, te_weight, unet_weight)]``; weights restored exactly after."""
        from modules.models.lora import lora_patch

        networks = []
        for entry in entries:
            name, te_weight = entry[0], float(entry[1])
            unet_weight = float(entry[2]) if len(entry) > 2 else te_weight
            info = self.find_lora(name)
            if info is None:
                log.warning("LoRA %r not found in %s", name, self.lora_dir)
                continue
            networks.append((self.network(info), te_weight, unet_weight))
        with lora_patch(model, networks) as report:
            yield report

    def hypernetworks(self) -> list[HypernetInfo]:
        """The hypernetworks folder's files (A1111's ``shared.hypernetworks``), scanned once until refresh."""
        if self._hypernets is None:
            self._hypernets = scan_hypernetworks(self.hypernet_dir)
        return list(self._hypernets)

    def refresh_hypernetworks(self) -> None:
        self._hypernets = None

    def find_hypernetwork(self, name: str) -> HypernetInfo | None:
        for attempt in range(2):
            for info in self.hypernetworks():
                if info.name == name:
                    return info
            if attempt == 0:
                self.refresh_hypernetworks()  # a file added since the last scan
        return None

    def _cached_parse(self, path: Path, parse: Any) -> Any:
        stamp = (str(path), path.stat().st_mtime)
        parsed = self._parsed.pop(stamp, None) or parse()
        self._parsed[stamp] = parsed
        while len(self._parsed) > PARSED_LORAS_KEPT:
            self._parsed.popitem(last=False)
        return parsed

    @contextlib.contextmanager
    def hypernet_patch(self, model: Any, entries: Sequence[tuple[str, float]]) -> Iterator[int]:
        """Apply ``[(name, strength)]`` to ``model``'s UNet while inside; unknown names are skipped."""
        from modules.models.hypernetwork import hypernet_patch, load_hypernetwork

        chain = []
        for name, strength in entries:
            info = self.find_hypernetwork(name)
            if info is None:
                log.warning("Hypernetwork %r not found in %s", name, self.hypernet_dir)
                continue
            parse = functools.partial(load_hypernetwork, info.path, info.name, self.allow_unsafe_pickle)
            chain.append((self._cached_parse(info.path, parse), strength))
        with hypernet_patch(model.unet, chain) as hooked:
            yield hooked

    def embeddings(self) -> list[Embedding]:
        self.embedding_db.refresh()
        return list(self.embedding_db.embeddings.values())

    def embedding_hash(self, name: str) -> str | None:
        """A1111's ``TI hashes`` value: sha256 of the embedding file, 12 hex digits."""
        embedding = self.embedding_db.get(name)
        return None if embedding is None else self._short_hash(embedding.path, "sha256")
