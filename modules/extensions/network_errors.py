"""One clear sentence for a failed download of extension data (git clone, the extension index).

git reports through GitPython as ``stderr: 'fatal: …'`` spread over lines, so the last line alone is often a
lone quote. Here the meaningful line is picked, and network failures say plainly that the computer seems
to be offline and what to do instead.
"""

from __future__ import annotations

import re
import urllib.parse

OFFLINE_MARKERS = (
    "could not resolve host",
    "unable to access",
    "failed to connect",
    "network is unreachable",
    "name or service not known",
    "temporary failure in name resolution",
    "connection refused",
    "connection timed out",
    "timed out",
    "no route to host",
    "nodename nor servname",
    "getaddrinfo failed",
)
OFFLINE_HINT = (
    "This computer seems to be offline or cannot reach {host}. Installing from the internet needs a network "
    "connection; you can instead copy an extension's folder into the extensions folder and restart."
)


def meaningful_line(text: str) -> str:
    """The line that says what went wrong: the last ``fatal:``/``error:`` line, else the last non-empty one."""
    lines = [line.strip().strip("'\"").strip() for line in (text or "").splitlines()]
    lines = [re.sub(r"^stderr:\s*", "", line).strip("'\" ") for line in lines]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if line.lower().startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""


def is_offline_error(text: str) -> bool:
    lowered = (text or "").lower()
    return any(marker in lowered for marker in OFFLINE_MARKERS)


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url or "").hostname or (url or "the server")


def download_failure(action: str, url: str, detail: str) -> str:
    """``"git clone failed: …"`` with an offline hint when the detail is a network failure."""
    line = meaningful_line(detail) or "no details"
    message = f"{action} failed: {line}"
    if is_offline_error(detail):
        message += ". " + OFFLINE_HINT.format(host=host_of(url))
    return message
