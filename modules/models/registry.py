"""Which model files exist: checkpoints and VAEs found in their folders, named as A1111 names them.

A checkpoint's ``name`` is its path relative to the folder it was found in (``sub/dir/model.safetensors``),
its ``title`` that name plus ``[shorthash]`` once the sha256 is known. Scanning only lists files: it never
opens them, so start-up stays fast however many multi-GB files there are.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from modules.models.folder_scan import scan_files
from modules.models.safe_text import printable_name

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
VAE_SUFFIXES = (".safetensors", ".ckpt", ".pt")
_STRIP_HASH = re.compile(r"\s*\[[^]]+]\s*$")


def _natural_key(text: str) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def is_vae_file_name(name: str) -> bool:
    """``x.vae.pt`` / ``x.vae.safetensors`` / ``x.vae.ckpt``: a VAE kept beside its checkpoint."""
    lower = name.lower()
    return any(lower.endswith(".vae" + suffix) for suffix in VAE_SUFFIXES)


def walk_files(directory: Path, suffixes: Sequence[str], problems: list[str] | None = None) -> list[Path]:
    """Files under ``directory`` (recursive, following symlinks, each real folder once) ending in ``suffixes``.

    Loops, unreadable entries and over-long scans are skipped (see ``folder_scan``); ``problems`` collects
    one sentence per skip when given.
    """
    result = scan_files(Path(directory), suffixes)
    if problems is not None:
        problems.extend(result.problems)
    return result.files


def relative_name(path: Path, bases: Iterable[Path]) -> str:
    """``path`` relative to the first base that contains it, with '/' separators; else the file name.

    Bytes that are not UTF-8 are shown as U+FFFD: the name appears in listings, settings and JSON answers.
    """
    for base in bases:
        try:
            return printable_name(path.resolve().relative_to(base.resolve()).as_posix())
        except (ValueError, OSError, RuntimeError):  # outside the base; resolve() of a loop
            continue
    return printable_name(path.name)


@dataclasses.dataclass(eq=False)
class CheckpointInfo:
    """One checkpoint file. Hash fields are filled when known (from the cache or after hashing)."""

    path: Path
    name: str  # relative path: "sub/dir/model.safetensors"
    sha256: str | None = None
    legacy_hash: str | None = None

    @property
    def model_name(self) -> str:
        """A1111's ``model_name``: the name without extension, folders joined with '_'."""
        return os.path.splitext(self.name.replace("/", "_").replace("\\", "_"))[0]

    @property
    def short_hash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.short_hash}]" if self.short_hash else self.name

    @property
    def yaml_path(self) -> Path:
        return self.path.with_suffix(".yaml")

    def ids(self) -> list[str]:
        """Every string that names this checkpoint (A1111's aliases): names, titles and hashes."""
        ids = [self.model_name, self.name, self.path.name, self.path.stem, self.title, str(self.path)]
        if self.sha256:
            ids += [self.sha256, self.short_hash or "", f"{self.name} [{self.short_hash}]"]
        if self.legacy_hash:
            ids += [self.legacy_hash, f"{self.model_name} [{self.legacy_hash}]"]
        return ids

    def __repr__(self) -> str:
        return f"CheckpointInfo({self.title!r}, path={str(self.path)!r})"


@dataclasses.dataclass(eq=False)
class VaeInfo:
    """One VAE file: from the VAE folders, or a ``<checkpoint>.vae.*`` beside a checkpoint."""

    path: Path
    name: str  # relative path, the value stored in the ``sd_vae`` setting
    sha256: str | None = None

    @property
    def model_name(self) -> str:
        return os.path.splitext(self.name.replace("/", "_"))[0]

    @property
    def short_hash(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    def __repr__(self) -> str:
        return f"VaeInfo({self.name!r}, path={str(self.path)!r})"


def scan_checkpoints(
    dirs: Sequence[Path], extra_files: Sequence[Path] = (), problems: list[str] | None = None
) -> list[CheckpointInfo]:
    """Checkpoints under ``dirs`` (recursive) plus ``extra_files`` (--ckpt), sorted by name; no ``*.vae.*``.

    ``problems`` collects one sentence per entry the scan skipped (symlink loop, unreadable).
    """
    bases = [Path(d) for d in dirs]
    seen: set[Path] = set()
    infos: list[CheckpointInfo] = []
    candidates: list[Path] = []
    for base in bases:
        candidates += walk_files(base, CHECKPOINT_SUFFIXES, problems)
    candidates += [Path(p) for p in extra_files if Path(p).is_file()]
    for path in candidates:
        if is_vae_file_name(path.name):
            continue
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        infos.append(CheckpointInfo(path=path, name=relative_name(path, bases)))
    infos.sort(key=lambda info: _natural_key(info.name))
    return infos


def scan_vaes(
    dirs: Sequence[Path], checkpoint_dirs: Sequence[Path] = (), problems: list[str] | None = None
) -> list[VaeInfo]:
    """VAE files in ``dirs`` (any name) and ``*.vae.*`` files in ``checkpoint_dirs``, sorted by name."""
    seen: set[Path] = set()
    infos: list[VaeInfo] = []
    for base in dirs:
        for path in walk_files(Path(base), VAE_SUFFIXES, problems):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                infos.append(VaeInfo(path=path, name=relative_name(path, [Path(base)])))
    for base in checkpoint_dirs:
        for path in walk_files(Path(base), VAE_SUFFIXES):
            if is_vae_file_name(path.name) and path.resolve() not in seen:
                seen.add(path.resolve())
                infos.append(VaeInfo(path=path, name=relative_name(path, [Path(base)])))
    infos.sort(key=lambda info: _natural_key(info.name))
    return infos


def find_checkpoint(infos: Sequence[CheckpointInfo], query: str | None) -> CheckpointInfo | None:
    """A1111's closest match: an exact alias (name, title, hash), else the shortest title containing it."""
    if not query:
        return None
    query = str(query).strip()
    for info in infos:
        if query in info.ids():
            return info
    lowered = query.lower()
    for info in infos:  # hashes are case-insensitive hex
        if info.sha256 and (info.sha256 == lowered or info.short_hash == lowered):
            return info
    for text in (query, _STRIP_HASH.sub("", query)):
        found = sorted((i for i in infos if text and text in i.title), key=lambda i: len(i.title))
        if found:
            return found[0]
    return None


def find_vae(infos: Sequence[VaeInfo], query: str | None) -> VaeInfo | None:
    """The VAE named ``query`` (relative name, file name or stem)."""
    if not query:
        return None
    for info in infos:
        if query in (info.name, info.path.name, info.model_name, info.path.stem, str(info.path)):
            return info
    return None


def vae_near_checkpoint(vaes: Sequence[VaeInfo], checkpoint: CheckpointInfo) -> VaeInfo | None:
    """A1111's "Automatic" VAE: one whose file name starts with the checkpoint's file stem."""
    stem = checkpoint.path.name.rsplit(".", 1)[0]
    for info in vaes:
        if info.path.name.startswith(stem + "."):
            return info
    return None


def resolve_vae(
    vaes: Sequence[VaeInfo], checkpoint: CheckpointInfo, choice: str, selection_overrides: bool = True
) -> VaeInfo | None:
    """A1111's VAE choice (``sd_vae.resolve_vae``); None means the VAE inside the checkpoint.

    A VAE named like the checkpoint wins when ``choice`` is "Automatic", or always when the selection does
    not override per-model preferences; otherwise "None" is the checkpoint's own and a name picks that file.
    """
    near = vae_near_checkpoint(vaes, checkpoint)
    if near is not None and (choice == "Automatic" or not selection_overrides):
        return near
    if choice in ("None", "Automatic", "", None):
        return None
    found = find_vae(vaes, choice)
    if found is None:
        log.warning("VAE %r not found; using the checkpoint's own VAE", choice)
    return found
