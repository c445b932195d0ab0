"""The seams between the program's parts stay typed: no string-keyed service lookups, no ``backend: Any``,
and the UI and the API do not import each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "webui.py",
    *(ROOT / "modules").rglob("*.py"),
    *(ROOT / "extensions-builtin").rglob("*.py"),
    *(ROOT / "tools").rglob("*.py"),
]


def offending_lines(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if regex.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_sources_were_found():
    assert len(SOURCES) > 100


def test_no_string_keyed_service_lookups():
    assert offending_lines(r"services\[|services\.get\(|\.services\b") == []


def test_backend_parameters_are_typed():
    assert offending_lines(r"backend: Any\b") == []


def test_ui_and_api_do_not_import_each_other():
    ui = {path: imported_modules(path) for path in (ROOT / "modules" / "ui").rglob("*.py")}
    api = {path: imported_modules(path) for path in (ROOT / "modules" / "api").rglob("*.py")}
    crossing = [f"{p.name}: {n}" for p, names in ui.items() for n in names if n.startswith("modules.api")]
    crossing += [f"{p.name}: {n}" for p, names in api.items() for n in names if n.startswith("modules.ui")]
    assert crossing == []


def test_processing_does_not_know_the_backend_class():
    processing = {path: imported_modules(path) for path in (ROOT / "modules" / "processing").rglob("*.py")}
    assert [p.name for p, names in processing.items() if "modules.app" in names] == []
