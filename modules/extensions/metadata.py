"""``metadata.ini`` of an extension and the load order it implies (pure: no imports, no file writes).

A1111 reads ``[Extension] Name= Requires=`` and, per script, ``[scripts/<file>.py] Requires= Before= After=``;
names are separated by commas or spaces and may name an extension (all its scripts) or one script
(``<extension>/<file>.py``). ``order_scripts`` sorts the scripts topologically, keeping the discovery order
wherever the metadata says nothing, and never drops a script because of a cycle.
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import re
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def split_names(text: str | None) -> list[str]:
    """``"a, b c"`` -> ``["a", "b", "c"]`` (A1111 accepts commas and spaces).

    >>> split_names(" a, b c,, ")
    ['a', 'b', 'c']
    """
    return [part for part in re.split(r"[,\s]+", (text or "").strip()) if part]


@dataclasses.dataclass(frozen=True)
class ScriptRules:
    requires: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ExtensionMetadata:
    canonical_name: str
    requires: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    scripts: dict[str, ScriptRules] = dataclasses.field(default_factory=dict)  # "scripts/x.py" -> rules

    def rules_for(self, relative_script: str) -> ScriptRules:
        return self.scripts.get(relative_script.replace("\\", "/"), ScriptRules())


def parse_metadata(text: str, folder_name: str) -> ExtensionMetadata:
    """Parse metadata.ini text; an invalid file gives the defaults (logged), never an exception."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as error:
        log.warning("Extension %s: metadata.ini is invalid (%s); ignoring it", folder_name, error)
        return ExtensionMetadata(folder_name.lower())
    section = parser["Extension"] if parser.has_section("Extension") else {}
    scripts = {}
    for name in parser.sections():
        if name.startswith("scripts/"):
            scripts[name] = ScriptRules(
                tuple(split_names(parser[name].get("Requires"))),
                tuple(split_names(parser[name].get("Before"))),
                tuple(split_names(parser[name].get("After"))),
            )
    canonical = (section.get("Name") or folder_name).strip().lower()
    return ExtensionMetadata(
        canonical,
        tuple(split_names(section.get("Requires"))),
        tuple(split_names(section.get("Before"))),
        tuple(split_names(section.get("After"))),
        scripts,
    )


def read_metadata(directory: Path) -> ExtensionMetadata:
    path = directory / "metadata.ini"
    if not path.is_file():
        return ExtensionMetadata(directory.name.lower())
    try:
        return parse_metadata(path.read_text(encoding="utf-8"), directory.name)
    except OSError as error:
        log.warning("Extension %s: metadata.ini unreadable (%s)", directory.name, error)
        return ExtensionMetadata(directory.name.lower())


@dataclasses.dataclass(frozen=True)
class ScriptEntry:
    """One script file to load: ``key`` is ``<canonical extension>/<file name>``."""

    extension: str  # canonical name of its extension
    path: Path
    rules: ScriptRules

    @property
    def key(self) -> str:
        return f"{self.extension}/{self.path.name}".lower()


def _targets(name: str, entries: Sequence[ScriptEntry]) -> list[int]:
    """Indices of the scripts a Before/After name refers to: a whole extension or one of its scripts."""
    name = name.lower().replace("\\", "/").replace("/scripts/", "/")
    return [i for i, entry in enumerate(entries) if entry.extension == name or entry.key == name]


def order_scripts(entries: Sequence[ScriptEntry]) -> list[ScriptEntry]:
    """Topological order from Before/After, stable with respect to ``entries``; cycles are logged and broken."""
    count = len(entries)
    after: list[set[int]] = [set() for _ in range(count)]  # after[i]: indices that must load before i
    for index, entry in enumerate(entries):
        for name in entry.rules.after:
            after[index].update(t for t in _targets(name, entries) if t != index)
        for name in entry.rules.before:
            for target in _targets(name, entries):
                if target != index:
                    after[target].add(index)
    ordered: list[int] = []
    placed: set[int] = set()
    while len(ordered) < count:
        ready = next((i for i in range(count) if i not in placed and after[i] <= placed), None)
        if ready is None:  # a cycle: take the first remaining script as it was discovered
            ready = next(i for i in range(count) if i not in placed)
            log.warning("Load-order cycle in metadata.ini involving %s; loading it in folder order", entries[ready].key)
        ordered.append(ready)
        placed.add(ready)
    return [entries[i] for i in ordered]
