"""CLIP interrogation categories: the word lists an image is ranked against, as A1111 reads ``interrogate/*.txt``.

Each ``NAME.txt`` is one category; a ``.topN`` in the name (``flavors.top3.txt``) keeps the N best matches,
otherwise one. The lists shipped in ``categories/`` were written for this project (artists, flavors, mediums,
movements; same file names as A1111's); a user's own ``interrogate`` folder in the data folder replaces them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).parent / "categories"
_TOP_N = re.compile(r"\.top(\d+)$")


@dataclass(frozen=True)
class Category:
    name: str  # the file stem, e.g. "flavors.top3" (what "CLIP: skip inquire categories" lists)
    top_n: int
    items: tuple[str, ...]


def category_folder(data_dir: Path | None) -> Path:
    """The user's ``<data>/interrogate`` when it holds any .txt list, else the shipped lists."""
    if data_dir is not None:
        own = Path(data_dir) / "interrogate"
        if own.is_dir() and any(own.glob("*.txt")):
            return own
    return SHIPPED


def category_names(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.txt"))


def load_categories(folder: Path, skip: Sequence[str] = (), limit: int = 0) -> list[Category]:
    """Categories of ``folder`` in name order, without ``skip``; each list cut to ``limit`` lines (0 = all)."""
    out = []
    for path in sorted(folder.glob("*.txt")):
        if path.stem in skip:
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        items = tuple(line for line in lines if line)
        if limit > 0:
            items = items[:limit]
        found = _TOP_N.search(path.stem)
        if items:
            out.append(Category(path.stem, int(found.group(1)) if found else 1, items))
    return out


def format_matches(caption: str, matches: Sequence[tuple[str, float]], with_ranks: bool) -> str:
    """A1111's result: the caption, then ``, match`` (or ``, (match:0.123)`` with ranks) per match."""
    text = caption
    for match, score in matches:
        text += f", ({match}:{score:.3f})" if with_ranks else f", {match}"
    return text
