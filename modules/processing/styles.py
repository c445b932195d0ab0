"""Prompt styles from ``styles.csv``: named prompt/negative snippets merged into the user's prompts.

Same file format and merge rules as A1111 1.10 (columns ``name,prompt,negative_prompt``, UTF-8 with BOM, rows
whose name starts with ``#`` are comments/dividers, a ``{prompt}`` placeholder wraps the user's prompt,
otherwise the style is appended with ", "). Unlike A1111, saving writes a temporary file and renames it
over the old one, so a crash never leaves a half-written styles file.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from modules.settings.store import write_text_atomic

log = logging.getLogger(__name__)

MAX_STYLES_FILE_BYTES = 16 * 1024 * 1024  # a styles.csv of thousands of styles is well below this

FIELDS = ("name", "prompt", "negative_prompt")


@dataclasses.dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""
    path: str | None = None  # the file the style was read from and is written back to


def merge_prompts(style_text: str, prompt: str) -> str:
    """Put ``prompt`` into a style text: at ``{prompt}`` when present, else ``prompt, style``.

    >>> merge_prompts("masterpiece, {prompt}, 4k", "a cat")
    'masterpiece, a cat, 4k'
    >>> merge_prompts("masterpiece", "a cat")
    'a cat, masterpiece'
    >>> merge_prompts("masterpiece", "  ")
    'masterpiece'
    """
    if "{prompt}" in style_text:
        return style_text.replace("{prompt}", prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


def _strip_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """Undo :func:`merge_prompts` for one style text; (False, prompt) when the prompt does not carry it."""
    text, style = prompt.strip(), style_text.strip()
    if "{prompt}" in style:
        left, right = style.split("{prompt}", 1)
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            return True, text[len(left) : len(text) - len(right)]
        return False, prompt
    if text.endswith(style):
        text = text[: len(text) - len(style)]
        return True, text[:-2] if text.endswith(", ") else text
    return False, prompt


class StyleDatabase:
    """All styles from one or more CSV files (``path`` may be a list and may hold wildcards)."""

    def __init__(self, path: str | Path | Sequence[str | Path]) -> None:
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if not paths:
            raise ValueError("StyleDatabase needs at least one styles file path")
        self.default_path = Path(paths[0])
        self._patterns = [str(p) for p in paths]
        self._lock = threading.RLock()
        self.styles: dict[str, PromptStyle] = {}
        self.reload()

    def _files(self) -> list[Path]:
        files: list[Path] = [self.default_path]
        for pattern in self._patterns:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            files.extend(Path(match) for match in matches)
        unique: dict[str, Path] = {}
        for file in files:
            unique.setdefault(str(file), file)
        return list(unique.values())

    def reload(self) -> None:
        """Read every styles file again; a missing file is just empty, an unreadable one is logged."""
        styles: dict[str, PromptStyle] = {}
        for file in self._files():
            if not file.is_file():
                continue
            try:
                if file.stat().st_size > MAX_STYLES_FILE_BYTES:
                    raise OSError(f"{file.stat().st_size} bytes, more than the {MAX_STYLES_FILE_BYTES} allowed")
                with open(file, encoding="utf-8-sig", newline="") as handle:
                    for row in csv.DictReader(handle, skipinitialspace=True):
                        name = (row.get("name") or "").strip()
                        if not name or name.startswith("#"):
                            continue
                        prompt = row.get("prompt") if "prompt" in row else row.get("text")  # old "name,text" files
                        styles[name] = PromptStyle(name, prompt or "", row.get("negative_prompt") or "", str(file))
            except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
                log.error("Could not read styles file %s: %s", file, error)
        with self._lock:
            self.styles = styles

    def names(self) -> list[str]:
        with self._lock:
            return list(self.styles)

    def get(self, name: str) -> PromptStyle | None:
        with self._lock:
            return self.styles.get(name)

    def _selected(self, style_names: Iterable[str]) -> list[PromptStyle]:
        with self._lock:
            return [self.styles[name] for name in style_names if name in self.styles]

    def apply_styles_to_prompt(self, prompt: str, style_names: Iterable[str]) -> str:
        """Merge the named styles' prompts into ``prompt`` in order; unknown names are ignored."""
        for style in self._selected(style_names):
            prompt = merge_prompts(style.prompt, prompt)
        return prompt

    def apply_negative_styles_to_prompt(self, negative_prompt: str, style_names: Iterable[str]) -> str:
        for style in self._selected(style_names):
            negative_prompt = merge_prompts(style.negative_prompt, negative_prompt)
        return negative_prompt

    def extract_styles_from_prompt(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        """Find which styles produced these prompts; returns (style names in apply order, prompt, negative)."""
        with self._lock:
            candidates = [style for style in self.styles.values() if style.prompt or style.negative_prompt]
        found: list[str] = []
        while True:
            for style in candidates:
                matched, new_prompt = _strip_style_text(style.prompt, prompt)
                if not matched:
                    continue
                matched, new_negative = _strip_style_text(style.negative_prompt, negative_prompt)
                if not matched:
                    continue
                prompt, negative_prompt = new_prompt, new_negative
                candidates.remove(style)
                found.append(style.name)
                break
            else:
                return list(reversed(found)), prompt, negative_prompt

    def save_style(self, name: str, prompt: str, negative_prompt: str) -> PromptStyle:
        """Add or replace a style and write its file."""
        name = name.strip()
        if not name or name.startswith("#"):
            raise ValueError(f"Invalid style name {name!r}: it must be non-empty and not start with '#'")
        with self._lock:
            old = self.styles.get(name)
            style = PromptStyle(name, prompt, negative_prompt, old.path if old else str(self.default_path))
            self.styles[name] = style
            self._write(Path(style.path or self.default_path))
        return style

    def delete_style(self, name: str) -> bool:
        with self._lock:
            style = self.styles.pop(name, None)
            if style is None:
                return False
            self._write(Path(style.path or self.default_path))
        return True

    def save(self) -> None:
        with self._lock:
            for path in {style.path or str(self.default_path) for style in self.styles.values()}:
                self._write(Path(path))

    def _write(self, path: Path) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")
        writer.writeheader()
        for style in self.styles.values():
            if (style.path or str(self.default_path)) == str(path):
                writer.writerow({"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt})
        write_text_atomic(path, buffer.getvalue(), encoding="utf-8-sig")
