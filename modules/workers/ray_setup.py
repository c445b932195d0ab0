"""How the front starts (or joins) Ray: the options that keep Ray's own processes off the replicas' cores.

On a small machine every CPU cycle Ray spends on itself is taken from a replica. Ray's defaults suit a
monitored cluster: metrics collected and exported every 100 ms, the Serve controller's loop every 100 ms.
Generation replicas need neither (the front shows progress and counts jobs), so a local Ray instance starts
without metrics and with slower background loops; a cluster given by ``--ray-address`` keeps its own
settings and only gets the job's environment below.
``benchmarks/scale_out.py`` starts Ray through ``start_local`` too, so it measures this configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROGRAM_DIR = Path(__file__).resolve().parents[2]
NAMESPACE = "sdwebui"

# Environment of every process of the job (replicas, the Serve controller, the control board)
QUIET_ENV = {
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "2000",  # request counters for dashboards (default 100 ms)
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",  # controller's reconcile loop (default 0.1 s): deploys, restarts
    # the replica's own methods on Serve's event loop, not a second loop in a thread of its own: they only
    # await (the compute runs in the replica's piece thread), and each extra loop thread wakes and competes
    # with the compute for the GIL
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
}
# Settings of a Ray instance this process starts (not applied to an existing cluster)
LOCAL_SYSTEM_CONFIG = {"enable_metrics_collection": False}


def runtime_env() -> dict[str, Any]:
    """The job's runtime environment: the program folder importable, Ray's background work quiet."""
    path = os.pathsep.join(filter(None, (str(PROGRAM_DIR), os.environ.get("PYTHONPATH"))))
    return {"env_vars": {"PYTHONPATH": path, **QUIET_ENV}}


def start_local(num_cpus: int) -> None:
    """Start a Ray instance on this machine for the front's replicas (no dashboard, no metrics)."""
    import ray

    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        namespace=NAMESPACE,
        runtime_env=runtime_env(),
        _system_config=LOCAL_SYSTEM_CONFIG,
    )


def join(address: str) -> None:
    """Connect to an existing Ray cluster (``--ray-address``)."""
    import ray

    ray.init(address=address, namespace=NAMESPACE, runtime_env=runtime_env())
