"""Serve request router for generation replicas: an idle replica first, then the one holding the checkpoint.

Each replica accepts two pieces (``max_ongoing_requests=2``) but computes one at a time, so the next piece
already waits inside the replica when the current one ends and the replica never idles between pieces (a
piece queued in Serve's router instead waits out the router's retry backoff, up to half a second). Serve's
default router would then fill the replica holding the checkpoint before an idle one; this router ranks
replicas by how many pieces they hold (the router's own count), and among equals puts the ones that have
the piece's checkpoint loaded first. So a job's batches spread over idle replicas, a piece goes to a replica
with its checkpoint when one is idle, and a busy replica gets a second piece only when none is idle.

Runs in the front process (where the deployment handle lives); imported only with ``--workers ray``.
"""

from __future__ import annotations

import time
from typing import Any

from ray.serve.request_router import FIFOMixin, PendingRequest, RequestRouter, RunningReplica

PICK_TTL_S = 2.0  # a request ranked but not sent by then was cancelled (or is retried and ranked again)


def replica_rank(queued: int | None, holds_model: bool) -> tuple[int, int, int]:
    """Sort key of one replica: fewer pieces first (an unknown count: nothing sent lately, so idle as far as
    this front knows), then the checkpoint holder, then a known count before an unknown one.

    >>> sorted([(1, True), (None, True), (0, False), (0, True), (None, False)], key=lambda r: replica_rank(*r))
    [(0, True), (None, True), (0, False), (None, False), (1, True)]
    """
    return (queued or 0, 0 if holds_model else 1, 1 if queued is None else 0)


class IdleFirstRouter(FIFOMixin, RequestRouter):
    """Ranks every replica on its own (one rank each): Serve tries them in this order and takes the first
    with room, backing off only when all are full.

    The count of a replica is the router's cache (pieces sent, minus those done) plus the pieces this router
    has just ranked it first for and not yet sent: a burst of requests is routed concurrently, and without
    those the whole burst saw the same idle replica and queued on it.
    """

    def initialize_state(self, **kwargs: Any) -> None:
        self._picked: dict[str, tuple[Any, float]] = {}  # request id -> (replica id ranked first, when)
        # replica id -> the checkpoint of the last piece this router sent it: a replica holds one model, and
        # this knows at once what the controller's broadcast of ``multiplexed_model_ids`` tells later
        self._sent_model: dict[Any, str] = {}

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        model_id = pending_request.metadata.multiplexed_model_id if pending_request is not None else ""
        request_id = pending_request.metadata.internal_request_id if pending_request is not None else ""
        if pending_request is not None:
            pending_request.routing_context.should_backoff = True  # every replica was offered: wait, then retry
        now = time.monotonic()
        picked: dict[Any, int] = {}
        for other, (replica_id, when) in list(self._picked.items()):
            if now - when > PICK_TTL_S:  # never sent (cancelled while routing)
                del self._picked[other]
            elif other != request_id:
                picked[replica_id] = picked.get(replica_id, 0) + 1
        cache = self.replica_queue_len_cache

        def rank(replica: RunningReplica) -> tuple[int, int, int]:
            sent = self._sent_model.get(replica.replica_id)
            holds = bool(model_id) and (
                sent == model_id if sent is not None else model_id in replica.multiplexed_model_ids
            )
            queued = cache.get(replica.replica_id)
            extra = picked.get(replica.replica_id, 0)
            return replica_rank(None if queued is None and not extra else (queued or 0) + extra, holds)

        ranked = sorted(candidate_replicas, key=rank)
        if ranked and request_id:
            self._picked[request_id] = (ranked[0].replica_id, now)
        return [[replica] for replica in ranked]

    def on_request_routed(self, pending_request: PendingRequest, replica_id: Any, result: Any) -> None:
        self._picked.pop(pending_request.metadata.internal_request_id, None)
        if pending_request.metadata.multiplexed_model_id:
            self._sent_model[replica_id] = pending_request.metadata.multiplexed_model_id
