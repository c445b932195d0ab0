"""``ExtensionOffers``: what extensions hand the program and each other while they load.

Extensions are found at run time, so what they offer cannot be a typed member of the Backend: a named object
(``ExtensionContext.add_service("controlnet", ...)``, read back with ``service("controlnet")``), the
A1111 "send to" paste bindings and the A1111 extra networks (``<name:args>`` prompt tags) an extension
registers. The Backend holds one of these as ``backend.offers``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class ExtensionOffers:
    def __init__(self) -> None:
        self._named: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.paste_bindings: list[Any] = []  # modules.a1111.infotext_utils.ParamBinding, in registration order
        self.extra_networks: dict[str, Any] = {}  # A1111 ExtraNetwork by name and alias

    def offer(self, name: str, service: Any, offered_by: str = "") -> None:
        """Make ``service`` findable as ``name``; a second, different object replaces the first (logged)."""
        with self._lock:
            existing = self._named.get(name)
            if existing is not None and existing is not service:
                log.warning("Extension %s replaces the service %r", offered_by or "(built-in)", name)
            self._named[name] = service

    def find(self, name: str) -> Any:
        """The object offered as ``name``, or None."""
        with self._lock:
            return self._named.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._named)
