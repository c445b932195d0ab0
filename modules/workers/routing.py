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

from ray.serve.request_router import FIFOMixin, PendingRequest, RequestRouter, RunningReplica


def replica_rank(queued: int | None, holds_model: bool) -> tuple[int, int, int]:
    """Sort key of one replica: fewer pieces first, an unknown count (nothing sent lately) just after the
    known idle ones, then the checkpoint holder first.

    >>> sorted([(1, True), (None, True), (0, False), (0, True)], key=lambda r: replica_rank(*r))
    [(0, True), (0, False), (None, True), (1, True)]
    """
    return (queued or 0, 1 if queued is None else 0, 0 if holds_model else 1)


class IdleFirstRouter(FIFOMixin, RequestRouter):
    """Ranks every replica on its own (one rank each): Serve tries them in this order and takes the first
    with room, backing off only when all are full."""

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        model_id = pending_request.metadata.multiplexed_model_id if pending_request is not None else ""
        if pending_request is not None:
            pending_request.routing_context.should_backoff = True  # every replica was offered: wait, then retry
        cache = self.replica_queue_len_cache

        def rank(replica: RunningReplica) -> tuple[int, int, int]:
            holds = bool(model_id) and model_id in replica.multiplexed_model_ids
            return replica_rank(cache.get(replica.replica_id), holds)

        return [[replica] for replica in sorted(candidate_replicas, key=rank)]
