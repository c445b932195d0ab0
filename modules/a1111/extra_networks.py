"""A1111's ``modules.extra_networks``: the ``<name:args>`` prompt syntax and the extra-network base class.

Parsing is the same pure function as A1111's. Networks an extension registers are kept per Backend (a
service) and called with ``activate(p, params)`` / ``deactivate(p)`` by nobody yet: LoRA is built in.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from modules.a1111 import _resolve

re_extra_net = re.compile(r"<(\w+):([^>]+)>")


class ExtraNetworkParams:
    def __init__(self, items: list[str] | None = None) -> None:
        self.items = items or []
        self.positional: list[str] = []
        self.named: dict[str, str] = {}
        for item in self.items:
            parts = item.split("=", 2) if isinstance(item, str) else [item]
            if len(parts) == 2:
                self.named[parts[0]] = parts[1]
            else:
                self.positional.append(item)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExtraNetworkParams) and self.items == other.items


class ExtraNetwork:
    def __init__(self, name: str) -> None:
        self.name = name

    def activate(self, p: Any, params_list: list[ExtraNetworkParams]) -> None: ...

    def deactivate(self, p: Any) -> None: ...


def parse_prompt(prompt: str) -> tuple[str, dict[str, list[ExtraNetworkParams]]]:
    """Remove ``<kind:args>`` from ``prompt``; the rest and the params by kind."""
    res: dict[str, list[ExtraNetworkParams]] = defaultdict(list)

    def found(match: re.Match) -> str:
        res[match.group(1)].append(ExtraNetworkParams(items=match.group(2).split(":")))
        return ""

    return re.sub(re_extra_net, found, prompt), res


def parse_prompts(prompts: list[str]) -> tuple[list[str], dict[str, list[ExtraNetworkParams]]]:
    res: list[str] = []
    extra_data: dict[str, list[ExtraNetworkParams]] = {}
    for prompt in prompts:
        updated, parsed = parse_prompt(prompt)
        if not extra_data:
            extra_data = parsed
        res.append(updated)
    return res, extra_data


def register_extra_network(extra_network: ExtraNetwork) -> None:
    _resolve.backend().offers.extra_networks[extra_network.name] = extra_network


def register_extra_network_alias(extra_network: ExtraNetwork, alias: str) -> None:
    _resolve.backend().offers.extra_networks[alias] = extra_network


def lookup_extra_networks(extra_network_data: dict[str, Any]) -> dict[Any, Any]:
    offers = _resolve.offers()
    networks = offers.extra_networks if offers is not None else {}
    return {networks[name]: data for name, data in extra_network_data.items() if name in networks}


def activate(p: Any, extra_network_data: dict[str, Any]) -> None:
    for network, data in lookup_extra_networks(extra_network_data).items():
        network.activate(p, data)


def deactivate(p: Any, extra_network_data: dict[str, Any]) -> None:
    for network in lookup_extra_networks(extra_network_data):
        network.deactivate(p)
