"""Text about untrusted files made safe to show: file names and library messages in one plain line.

File names on Linux are bytes; Python keeps the bytes that are not UTF-8 as lone surrogates, which JSON
encoders and Gradio refuse (the whole listing then fails). Library messages (torch's unpickler, pydantic)
span many lines and may carry ANSI colour codes. Both are turned into one printable line here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_MESSAGE_CHARS = 300
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable_name(name: str | os.PathLike[str]) -> str:
    """``name`` with bytes that are not UTF-8 shown as U+FFFD (what a listing or an API answer shows).

    >>> printable_name(os.fsdecode(b"caf\\xe9.safetensors"))
    'caf\\ufffd.safetensors'
    """
    text = os.fspath(name)
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def plain_sentence(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The first non-empty line of ``text`` without ANSI codes or control characters, at most ``limit`` chars.

    >>> plain_sentence("\\x1b[1mWeights only load failed\\x1b[0m.\\nTraceback ...")
    'Weights only load failed.'
    """
    cleaned = _CONTROL.sub("", _ANSI.sub("", printable_name(str(text)).replace("\r", "\n")))
    line = next((part.strip() for part in cleaned.split("\n") if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def printable_tree(value: object) -> object:
    """``value`` (JSON-like: dicts, lists, strings) with every string made printable by ``printable_name``."""
    if isinstance(value, str):
        return printable_name(value)
    if isinstance(value, dict):
        return {printable_tree(k): printable_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_tree(item) for item in value]
    return value


def printable_path(path: Path | str | None) -> str:
    return "" if path is None else printable_name(path)
