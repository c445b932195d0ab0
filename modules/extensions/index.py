"""Extensions → Available: A1111's extension index (a JSON list on GitHub), loaded on request only."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from modules.extensions.network_errors import download_failure

log = logging.getLogger(__name__)

DEFAULT_INDEX_URL = (
    "https://raw.githubusercontent.com/AUTOMATIC1111/stable-diffusion-webui-extensions/master/index.json"
)
MAX_INDEX_BYTES = 20_000_000


def load_index(url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The index's extensions; ValueError with one clear sentence (offline named as such) when it fails."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the user's chosen index
            data = json.loads(response.read(MAX_INDEX_BYTES))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ValueError(download_failure("Loading the extension index", url, str(reason))) from None
    except ValueError as error:
        raise ValueError(f"The extension index at {url} is not valid JSON: {error}") from None
    entries = data.get("extensions", []) if isinstance(data, dict) else []
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("url")]
