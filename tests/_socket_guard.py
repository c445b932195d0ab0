"""A pytest fixture that fails any network connection attempt, to prove model code stays offline.

Use it with ``pytestmark = pytest.mark.usefixtures("no_network")`` after importing ``no_network`` from here
(or let the shared conftest import it). Unix sockets stay allowed (they never leave the machine).
"""

from __future__ import annotations

import os
import socket

import pytest


class NetworkAccessAttempted(RuntimeError):
    """Raised instead of opening a network connection during a test."""


@pytest.fixture
def no_network(monkeypatch):
    """Offline mode for Hugging Face libraries and a ``socket.connect`` that raises for non-Unix sockets."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded(self, address, *args, **kwargs):
        if self.family == getattr(socket, "AF_UNIX", None):
            return original_connect(self, address, *args, **kwargs)
        raise NetworkAccessAttempted(f"test tried to connect to {address!r}")

    def guarded_ex(self, address, *args, **kwargs):
        if self.family == getattr(socket, "AF_UNIX", None):
            return original_connect_ex(self, address, *args, **kwargs)
        raise NetworkAccessAttempted(f"test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
    monkeypatch.setattr(
        socket,
        "create_connection",
        lambda address, *a, **k: (_ for _ in ()).throw(NetworkAccessAttempted(repr(address))),
    )
    yield
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
