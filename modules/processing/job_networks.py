"""The prompt's extra networks for one job: LoRAs and hypernetworks on every model the job runs on.

A1111's networks act on whatever model is loaded, so when a refiner or a hires checkpoint takes over inside a
job, the prompt's LoRAs (keys the new model lacks are skipped) and hypernetworks apply to it as well. Each
model is patched once, when the job first uses it, and every patch is undone when the job ends: no model
leaves a job changed, the cached ones included.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from modules.processing.params import InvalidParams
from modules.processing.prompt_parser import extract_extra_networks, lora_weights


@dataclasses.dataclass(frozen=True)
class NetworkRequests:
    """What a prompt asks for: ``loras`` as (name, te, unet), ``hypernets`` as (name, strength)."""

    loras: tuple[tuple[str, float, float], ...] = ()
    hypernets: tuple[tuple[str, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.loras or self.hypernets)


def network_requests(prompt: str) -> NetworkRequests:
    """The ``<lora:...>`` and ``<hypernet:...>`` tags of ``prompt``; InvalidParams for a weight that is no number.

    >>> network_requests("a <hypernet:ink:0.5> <lora:x:0.7> <hypernet:h>")
    NetworkRequests(loras=(('x', 0.7, 0.7),), hypernets=(('ink', 0.5), ('h', 1.0)))
    """
    loras, hypernets = [], []
    try:
        for call in extract_extra_networks(prompt)[1]:
            if call.kind == "lora":
                te, unet, _ = lora_weights(call)
                loras.append((call.name, te, unet))
            elif call.kind == "hypernet":
                hypernets.append((call.name, call.multiplier(1.0)))
    except ValueError as error:
        raise InvalidParams(str(error)) from None
    return NetworkRequests(tuple(loras), tuple(hypernets))


def split_missing(requests: NetworkRequests, networks: Any) -> tuple[NetworkRequests, list[str]]:
    """The requests whose files exist, and the names of those that do not (for A1111's "Networks not found")."""
    missing = [name for name, *_ in requests.loras if networks.find_lora(name) is None]
    missing += [name for name, _ in requests.hypernets if networks.find_hypernetwork(name) is None]
    found = NetworkRequests(
        tuple(entry for entry in requests.loras if entry[0] not in missing),
        tuple(entry for entry in requests.hypernets if entry[0] not in missing),
    )
    return found, missing


class JobNetworks(contextlib.AbstractContextManager):
    """Patches each model of the job once (``apply``); leaving the ``with`` block restores them all."""

    def __init__(self, networks: Any, requests: NetworkRequests) -> None:
        self.networks = networks  # modules.models.networks.NetworkLibrary
        self.requests = requests
        self._stack = contextlib.ExitStack()
        self._patched: list[Any] = []  # the models themselves: an id could be reused by a reloaded model

    def apply(self, model: Any) -> None:
        if not self.requests or any(model is done for done in self._patched):
            return
        self._patched.append(model)
        if self.requests.loras:
            self._stack.enter_context(self.networks.lora_patch(model, list(self.requests.loras)))
        if self.requests.hypernets:
            self._stack.enter_context(self.networks.hypernet_patch(model, list(self.requests.hypernets)))

    def __exit__(self, *exc_info: Any) -> None:
        self._patched.clear()
        self._stack.close()
