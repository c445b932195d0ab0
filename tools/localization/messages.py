"""Messages the server composes at run time, found in the source: the text given to ``error_html``,
``info_html``, ``gr.Info`` / ``gr.Warning`` / ``gr.Error`` and the other calls in ``MESSAGE_CALLS``, and the
status line (``self._status = ...``, what a ``status`` property returns), and labels given later
(``gr.update(label=...)``, ControlNet's ``Slider("name", ...)``).

A constant string is listed as it is; an f-string becomes a pattern key with one named placeholder per
replacement field (``f"Style {style.name!r} saved."`` -> ``"Style {name} saved."``), which the page translator
matches against the finished text. Messages built any other way (a variable, ``%`` formatting) cannot be
found here; the browser walk (``page_walk``) shows them when they appear.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from tools.localization.collect import UiString
from tools.localization.lookup import PLACEHOLDER, is_translatable

log = logging.getLogger(__name__)

MESSAGE_CALLS = {
    "error_html",
    "info_html",
    "warning_html",
    "Info",
    "Warning",
    "Error",
    "status_html",
    "message_html",
    "BackendNotReady",
    "Slider",
}  # ControlNet's preprocessor sliders: ``Slider("Canny Low Threshold", ...)`` relabel the UI
UPDATE_CALLS = {"update"}  # ``gr.update(label="...")``: labels set after the page was built
UPDATED_TEXT = ("label", "info", "placeholder")
# A status line: assigned to ``self._status`` (or ``_init_error``), returned by a ``status`` property.
STATUS_NAMES = {"_status", "status", "_init_error"}


def _call_name(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return ""


def _placeholder_name(expression: ast.expr, used: set[str]) -> str:
    """A readable placeholder for an f-string field: ``describe_error(error)`` -> error, ``info.title`` ->
    title, ``self.paths.checkpoints[0]`` -> checkpoints."""
    node = expression
    while isinstance(node, (ast.Call, ast.Subscript)):
        node = node.args[0] if isinstance(node, ast.Call) and node.args else getattr(node, "value", None) or node.func
    if isinstance(node, ast.Attribute):
        base = node.attr
    elif isinstance(node, ast.Name):
        base = node.id
    else:
        names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
        base = names[0] if names else "value"
    base = base.strip("_") or "value"
    name, number = base, 2
    while name in used:
        name, number = f"{base}{number}", number + 1
    used.add(name)
    return name


def message_text(node: ast.expr) -> str | None:
    """The key for a message argument: the string itself, an f-string as a pattern, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts, used = [], set()
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + _placeholder_name(value.value, used) + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = message_text(node.left), message_text(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _message_nodes(tree: ast.AST) -> Iterator[ast.expr]:
    """Message arguments, status assignments and what ``status`` functions return."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in MESSAGE_CALLS and node.args:
            yield node.args[0]
        elif isinstance(node, ast.Call) and _call_name(node) in UPDATE_CALLS:
            yield from (keyword.value for keyword in node.keywords if keyword.arg in UPDATED_TEXT)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                isinstance(t, (ast.Attribute, ast.Name)) and getattr(t, "attr", getattr(t, "id", "")) in STATUS_NAMES
                for t in targets
            ):
                yield node.value
        elif isinstance(node, ast.FunctionDef) and node.name in STATUS_NAMES:
            yield from (child.value for child in ast.walk(node) if isinstance(child, ast.Return) and child.value)


def source_messages(files: Iterable[Path]) -> list[UiString]:
    """Messages in the given Python files, in file order."""
    found: list[UiString] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, UnicodeDecodeError) as error:
            log.warning("Cannot scan %s for messages: %s", path, error)
            continue
        for node in _message_nodes(tree):
            text = message_text(node)
            if text and is_translatable(PLACEHOLDER.sub("", text).strip()):
                found.append(UiString(text.strip(), f"{path.name}:{node.lineno}"))
    return found


def ui_source_files(program_dir: Path, extension_dirs: Iterable[Path] = ()) -> list[Path]:
    """The Python files whose messages reach the page: the UI modules, the Backend and model manager (the
    status line), and the extensions' scripts."""
    files = sorted((program_dir / "modules" / "ui").rglob("*.py"))
    files += [program_dir / "modules" / "app.py", program_dir / "modules" / "models" / "manager.py"]
    for folder in extension_dirs:
        files += sorted(Path(folder).rglob("*.py"))
    return [path for path in files if "__pycache__" not in path.parts and path.is_file()]
